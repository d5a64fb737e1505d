"""Property-based: any fstab text parses without an exception, and written entries read
back as they were (make fuzz runs many more examples)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.fstab import automatic_entries, parse_fstab

pytestmark = pytest.mark.unit

_WORD = st.text(st.characters(blacklist_characters=" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85"
                              "\u2028\u2029\xa0#\\", blacklist_categories=("Zs", "Cs")),
                min_size=1, max_size=12)


@given(st.text(max_size=400))
def test_any_text_parses(text: str) -> None:
    for entry in parse_fstab(text):
        assert entry.spec and entry.mountpoint and entry.options


@given(st.lists(st.tuples(_WORD, _WORD, _WORD, st.lists(_WORD.filter(lambda w: "," not in w),
                                                      min_size=1, max_size=3)),
                max_size=6))
def test_written_entries_read_back(rows: list[tuple[str, str, str, list[str]]]) -> None:
    text = "".join(f"{spec} {mnt}\t{kind} {','.join(opts)} 0 0\n"
                   for spec, mnt, kind, opts in rows)
    entries = parse_fstab(text)
    assert [(e.spec, e.mountpoint, e.fstype, list(e.options)) for e in entries] == \
        [(spec, mnt, kind, opts) for spec, mnt, kind, opts in rows]
    for entry in entries:
        found = automatic_entries(entries, {entry.spec}, "/no/such/mountpoint")
        assert (entry in found) == entry.automatic
