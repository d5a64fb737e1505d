"""Property-based: any text typed as a lifetime gives a positive duration within the limit,
or BadInput naming the option, never another exception (make fuzz runs many more)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.durations import MAX_LIFETIME, parse_lifetime
from s2s_sd.errors import BadInput

pytestmark = pytest.mark.unit

_NEAR_MISSES = st.from_regex(r"\A\s*[Pp]?[Tt]?\d{0,25}[smhdSMHDwW]?\d{0,3}[smhSMH]?\s*\Z")


@given(st.one_of(st.text(max_size=40), _NEAR_MISSES))
def test_any_text_is_a_duration_or_bad_input(text: str) -> None:
    try:
        lifetime = parse_lifetime(text)
    except BadInput as exc:
        assert str(exc).startswith(f"--lifetime {text!r}: ")
    else:
        assert dt.timedelta(0) < lifetime <= MAX_LIFETIME


@given(st.integers(min_value=1, max_value=36500), st.sampled_from(["d", "D", "", "s"]))
def test_written_amounts_read_back(number: int, unit: str) -> None:
    seconds = number * (86400 if unit in ("d", "D") else 1)
    assert parse_lifetime(f"{number}{unit}") == dt.timedelta(seconds=seconds)
