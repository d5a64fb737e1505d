"""Durations an operator types (pure): `move --lifetime` ("90s", "30m", "2h", "1d", a bare
number of seconds, or ISO 8601 as crm_resource takes it: "PT1H", "P1D")."""

from __future__ import annotations

import datetime as dt
import re

from s2s_sd.errors import BadInput

_SIMPLE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# a lifetime ends at now + lifetime, a date the cluster must be able to write; a century
# is far beyond any preference an operator means, and a longer one is a typo
MAX_LIFETIME = dt.timedelta(days=36500)


def parse_lifetime(text: str) -> dt.timedelta:
    """"90s", "30m", "2h", "1d", a bare number of seconds, or ISO 8601 ("PT1H", "P1D")."""
    simple = _SIMPLE.match(text)
    if simple:
        number, unit = int(simple.group(1)), (simple.group(2) or "s").lower()
        seconds = number * _UNIT_SECONDS[unit]
    else:
        iso = _ISO.match(text.strip())
        if not iso or not any(iso.groups()):
            raise BadInput(f"--lifetime {text!r}: expected e.g. 30m, 2h, 1d or PT1H")
        days, hours, minutes, secs = (int(x or 0) for x in iso.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds <= 0:
        raise BadInput(f"--lifetime {text!r}: must be longer than 0 s")
    if seconds > MAX_LIFETIME.total_seconds():
        raise BadInput(f"--lifetime {text!r}: at most {MAX_LIFETIME.days} days")
    return dt.timedelta(seconds=seconds)
