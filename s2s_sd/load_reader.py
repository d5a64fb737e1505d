"""The position-keeping reader of one TOML table of the definitions, and the checks of
single values (control characters, path lengths, durations) that it and the other readers
share.

Every typed access goes through Reader, which records the line of each key and collects
problems instead of raising, so that `FILE:LINE: KEY.PATH: message` works for every key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from s2s_sd.errors import Problem, printable
from s2s_sd.model import Origin
from s2s_sd.tomlpos import KeyPath, line_for, toml_type

# Linux limits of one path component and of a whole path (NAME_MAX, PATH_MAX - 1)
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095
# Sane ranges of the numbers (documented in README.md): systemd ignores absurd timeouts.
MAX_SECONDS = 86400  # timeouts and intervals: one day
# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators mean
# nothing in a name, path, address, command argument or description, and would need a
# different escape in every sink (unit line, CIB attribute, hosts line, shell): refused.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def control_character(value: str) -> str | None:
    """A message when value holds a control character, else None."""
    found = _CONTROL.search(value)
    if found is None:
        return None
    return (f"contains the control character {printable(found.group())} at position "
            f"{found.start() + 1}: not allowed in a definition value")


def path_too_long(relpath: str) -> str | None:
    """A message when relpath (or a NAME.HOST twin of it) cannot be a Linux path."""
    if len(relpath.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES - 256:
        return f"longer than {MAX_PATH_BYTES - 256} bytes: not a usable path"
    for part in relpath.split("/"):
        # room for the `.HOST` suffix of a twin
        if len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES - 64:
            return f"a path component is longer than {MAX_NAME_BYTES - 64} bytes"
    return None


def _show_int(value: int) -> str:
    # str() of an int beyond 4300 digits raises; nobody needs to see its digits anyway
    return str(value) if value.bit_length() <= 64 else "a huge number"


@dataclass
class Source:
    """One parsed definition file: its name for messages and the line of every key."""

    file: str
    lines: Mapping[KeyPath, int]

    def line(self, path: KeyPath) -> int:
        return line_for(self.lines, path)


@dataclass
class Reader:
    """Typed access to one TOML table; records problems instead of raising."""

    source: Source
    data: Mapping[str, Any]
    path: KeyPath  # position in the file, for line numbers
    display: str  # KEY.PATH prefix for messages, with names instead of indexes
    problems: list[Problem]
    seen: set[str] = field(default_factory=set)
    # required keys found missing; reported by finish(), unless a mistyped key stands for
    # one (then that key's error says "did you mean" and one error is enough)
    missing: list[str] = field(default_factory=list)

    def key_display(self, key: str) -> str:
        return f"{self.display}.{key}" if self.display else key

    def line(self, key: str | None = None) -> int:
        return self.source.line((*self.path, key) if key else self.path)

    def key_lines(self) -> Mapping[str, int]:
        return MappingProxyType({k: self.line(k) for k in self.data})

    def origin(self) -> Origin:
        return Origin(self.source.file, self.line())

    def problem(self, key: str | None, message: str) -> None:
        where = self.key_display(key) if key else (self.display or "(top level)")
        self.problems.append(Problem(self.source.file, self.line(key), where, message))

    def _get(self, key: str, kind: type | tuple[type, ...], kind_name: str,
             required: bool) -> Any:
        self.seen.add(key)
        if key not in self.data:
            if required and key not in self.missing:
                self.missing.append(key)
            return None
        value = self.data[key]
        # bool is an int in Python; TOML keeps them apart and so do we
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kind) or (int in kinds and bool not in kinds
                                           and isinstance(value, bool)):
            self.problem(key, f"must be {kind_name}, not {toml_type(value)}")
            return None
        return value

    def string(self, key: str, required: bool = False) -> str | None:
        value: str | None = self._get(key, str, "a string", required)
        if value is not None and not value.strip():
            self.problem(key, "must not be empty")
            return None
        if value is not None and (bad := control_character(value)):
            self.problem(key, bad)
            return None
        return value

    def boolean(self, key: str, required: bool = False) -> bool | None:
        value: bool | None = self._get(key, bool, "true or false", required)
        return value

    def _duration(self, key: str, required: bool) -> int | None:
        """Seconds, given as an integer or as a systemd-style duration string."""
        value: int | str | None = self._get(key, (int, str),
                                            "seconds (an integer or a duration like \"90s\")",
                                            required)
        if not isinstance(value, str):
            return value
        seconds = parse_duration(value)
        if isinstance(seconds, str):
            self.problem(key, seconds)
            return None
        return seconds

    def _in_range(self, key: str, value: int | None, minimum: int, maximum: int,
                  unit: str = "") -> int | None:
        """value when minimum <= value <= maximum; else a problem and None."""
        if value is None:
            return None
        if value < minimum:
            self.problem(key, ("must be a positive number of seconds" if minimum == 1 else
                               "must not be negative") + f", not {_show_int(value)}")
            return None
        if value > maximum:
            limit = f"{maximum}{unit}" + (" (one day)" if maximum == MAX_SECONDS else "")
            self.problem(key, f"must be at most {limit}, not {_show_int(value)}")
            return None
        return value

    def seconds(self, key: str, required: bool = False) -> int | None:
        """A timeout or interval: 1 .. MAX_SECONDS, as an integer or a duration string."""
        return self._in_range(key, self._duration(key, required), 1, MAX_SECONDS, " seconds")

    def duration_up_to(self, key: str, maximum: int) -> int | None:
        """A period that may be 0 (e.g. failure_timeout): 0 .. maximum seconds."""
        return self._in_range(key, self._duration(key, False), 0, maximum, " seconds")

    def bounded_int(self, key: str, maximum: int) -> int | None:
        """A count or score: 0 .. maximum."""
        value: int | None = self._get(key, int, "an integer", False)
        return self._in_range(key, value, 0, maximum)

    def string_list(self, key: str, required: bool = False) -> tuple[str, ...] | None:
        value: list[Any] | None = self._get(key, list, "a list of strings", required)
        if value is None:
            return None
        if not all(isinstance(item, str) for item in value):
            self.problem(key, "must be a list of strings")
            return None
        for position, item in enumerate(value, start=1):
            if bad := control_character(item):
                self.problem(key, f"element {position} {bad}")
                return None
        return tuple(value)

    def string_table(self, key: str) -> tuple[tuple[str, str], ...]:
        value: Mapping[str, Any] | None = self._get(key, dict, "a table of strings", False)
        if value is None:
            return ()
        good: list[tuple[str, str]] = []
        for name, item in sorted(value.items()):
            if not isinstance(item, str):
                self.problem(key, f"'{name}' must be a string, not {toml_type(item)}")
            elif bad := control_character(name) or control_character(item):
                self.problem(key, f"'{name}' {bad}")
            else:
                good.append((name, item))
        return tuple(good)

    def table(self, key: str, display: str | None = None) -> Reader | None:
        value: Mapping[str, Any] | None = self._get(key, dict, "a table", False)
        if value is None:
            return None
        return self.child(value, (*self.path, key), display or self.key_display(key))

    def child(self, data: Mapping[str, Any], path: KeyPath, display: str) -> Reader:
        return Reader(self.source, data, path, display, self.problems)

    def finish(self) -> None:
        """Unknown keys are errors: a typo must not pass silently. A key close to one
        valid here (read by now) gets a suggestion and stands for that key if missing."""
        missing = list(self.missing)
        for key in sorted(set(self.data) - self.seen):
            close = difflib.get_close_matches(key, sorted(self.seen), n=1, cutoff=0.7)
            if close:
                self.problem(key, f"unknown key '{key}': did you mean '{close[0]}'?")
                if close[0] in missing:
                    missing.remove(close[0])
            else:
                self.problem(key, f"unknown key '{key}'")
        for key in missing:
            self.problem(None, f"missing required key '{key}'")


# systemd.time(7)'s units of whole seconds and more; below a second (ms, us) is refused:
# every timeout and interval of s2s-sd counts whole seconds
_DURATION_UNITS: Mapping[str, int] = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
}
_SUBSECOND_UNITS = frozenset({"ms", "msec", "us", "usec", "µs", "ns", "nsec"})
_DURATION_PART = re.compile(r"\s*(\d{1,9})\s*([a-zµ]*)", re.IGNORECASE)


def parse_duration(text: str) -> int | str:
    """Whole seconds from "90", "90s", "2min", "1h 30min" (systemd.time(7), without
    fractions), or a message saying why not."""
    shown = printable(text)
    if not text.strip():
        return "must not be empty"
    total = 0
    position = 0
    while position < len(text.rstrip()):
        part = _DURATION_PART.match(text, position)
        if part is None or part.end() == position:
            return (f"'{shown}' is not a duration: give seconds (90) or a number with a "
                    "unit: s, min, h, d (\"90s\", \"2min\", \"1h 30min\")")
        number, unit = int(part.group(1)), part.group(2).lower()
        if unit in _SUBSECOND_UNITS:
            return f"'{shown}': below a second is not supported (s2s-sd counts whole seconds)"
        if unit and unit not in _DURATION_UNITS:
            return (f"'{shown}': unknown unit '{printable(unit)}' (known: s, min, h, d, w "
                    "and their long names)")
        total += number * _DURATION_UNITS.get(unit, 1)
        position = part.end()
    return total

