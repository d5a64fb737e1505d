"""Durations an operator types (s2s_sd/durations.py): `move --lifetime`."""

from __future__ import annotations

import datetime as dt

import pytest

from s2s_sd.durations import MAX_LIFETIME, parse_lifetime
from s2s_sd.errors import BadInput

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
    ("PT1H", 3600), ("PT1H30M", 5400), ("P1D", 86400), ("pt45s", 45), (" 5 M ", 300),
    ("36500d", 36500 * 86400),
])
def test_lifetimes(text: str, seconds: int) -> None:
    assert parse_lifetime(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(("text", "why"), [
    ("", "expected e.g."), ("soon", "expected e.g."), ("P", "expected e.g."),
    ("PT", "expected e.g."), ("1w", "expected e.g."), ("-5m", "expected e.g."),
    ("0", "longer than 0 s"), ("PT0S", "longer than 0 s"),
    ("36501d", "at most 36500 days"), ("9" * 30 + "d", "at most 36500 days"),
])
def test_bad_lifetimes_are_bad_input_naming_the_option(text: str, why: str) -> None:
    with pytest.raises(BadInput) as caught:
        parse_lifetime(text)
    assert str(caught.value).startswith(f"--lifetime {text!r}: ")
    assert why in str(caught.value)


def test_the_longest_lifetime_ends_at_a_date_python_can_write() -> None:
    # the move adds it to now; far beyond the limit that raised OverflowError (a traceback)
    assert dt.datetime(2200, 1, 1, tzinfo=dt.UTC) + MAX_LIFETIME < dt.datetime.max.replace(
        tzinfo=dt.UTC)
