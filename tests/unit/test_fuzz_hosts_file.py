"""The hosts-file alias rule as a property (issue 11 item 21): a line that maps the alias
together with any other name, whatever its bytes, is the administrator's: s2s-sd refuses
and the file stays byte for byte; a line mapping only the alias (any ASCII case) is its."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.engines.net import hosts_file
from s2s_sd.errors import Refused

pytestmark = pytest.mark.unit

ALIAS = "oracle_c07"
# a name field: any bytes but the separators and the comment sign, never the alias itself
OTHER_NAME = st.binary(min_size=1, max_size=30).map(
    lambda b: bytes(c for c in b if c not in b" \t\n\r\x0b\x0c#")).filter(
    lambda b: bool(b) and b.lower() != ALIAS.encode())
CASED_ALIAS = st.sampled_from([ALIAS, ALIAS.upper(), "Oracle_C07"])


@given(other=OTHER_NAME, alias=CASED_ALIAS, before=st.booleans())
def test_fuzz_shared_alias_line_is_refused_and_nothing_changes(
        other: bytes, alias: str, before: bool) -> None:
    names = [other, alias.encode()] if before else [alias.encode(), other]
    data = b"127.0.0.1 localhost\n10.1.2.9 " + b" ".join(names) + b"  # theirs\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hosts"
        path.write_bytes(data)
        with pytest.raises(Refused, match=f"{path}:2"):
            hosts_file.set_alias(path, ALIAS, "10.1.2.3")
        assert path.read_bytes() == data
        assert hosts_file.remove_alias(path, ALIAS).foreign_lines[0].number == 2
        assert path.read_bytes() == data


@given(alias=CASED_ALIAS, tail=st.sampled_from([b"", b"  # s2s-sd vip", b"\t#x"]))
def test_fuzz_single_name_line_is_replaced_in_place(alias: str, tail: bytes) -> None:
    data = b"127.0.0.1 localhost\n10.1.2.9\t" + alias.encode() + tail + b"\n::1 lo6\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hosts"
        path.write_bytes(data)
        assert hosts_file.set_alias(path, ALIAS, "10.1.2.3").changed
        assert path.read_bytes() == (b"127.0.0.1 localhost\n10.1.2.3\t" + ALIAS.encode()
                                     + b"\t# s2s-sd vip\n::1 lo6\n")
