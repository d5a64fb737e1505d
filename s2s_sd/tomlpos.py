"""Line numbers for TOML keys.

tomllib gives values but no positions; users need FILE:LINE for every problem. This
scanner walks the same text and records the line of every table header and every
`key = value` statement, keyed by its full path (array-of-tables elements by index).
It only has to be right for text that tomllib already accepted. Lines end at '\n' only,
as in TOML (str.splitlines would also end them at U+2028, U+0085, ... in a comment).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace

PathPart = str | int
KeyPath = tuple[PathPart, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _unquote(quoted: str) -> str:
    """A quoted key as tomllib reads it (escapes such as \\n and \\u2028 included)."""
    try:
        keys = list(tomllib.loads(f"{quoted} = 0"))
    except (tomllib.TOMLDecodeError, ValueError):
        return quoted[1:-1]
    return keys[0] if keys else quoted[1:-1]


def _parse_key(text: str, pos: int, max_parts: int | None = None) -> tuple[list[str], int]:
    """Parse a (dotted, possibly quoted) key starting at pos; return parts and end pos
    (stops after max_parts parts, if given)."""
    parts: list[str] = []
    n = len(text)
    while max_parts is None or len(parts) < max_parts:
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] in "\"'":
            quote = text[pos]
            end = pos + 1
            while end < n and text[end] != quote:
                end += 2 if (quote == '"' and text[end] == "\\") else 1
            parts.append(_unquote(text[pos : end + 1]))
            pos = end + 1
        else:
            match = _BARE_KEY.match(text, pos)
            if not match:
                return parts, pos
            parts.append(match.group())
            pos = match.end()
        while pos < n and text[pos] in " \t":
            pos += 1
        if pos < n and text[pos] == ".":
            pos += 1
            continue
        return parts, pos
    return parts, pos


def _value_state(text: str, depth: int, in_multiline: str | None
                 ) -> tuple[int, str | None, int]:
    """Advance over a piece of a value: bracket depth, open multi-line string if any, and
    the deepest bracket depth on the way."""
    i = 0
    n = len(text)
    deepest = depth
    while i < n:
        if in_multiline:
            end = text.find(in_multiline, i)
            if end < 0:
                return depth, in_multiline, deepest
            i = end + 3
            in_multiline = None
            continue
        ch = text[i]
        if ch == "#":
            break
        if text.startswith('"""', i) or text.startswith("'''", i):
            in_multiline = text[i : i + 3]
            i += 3
            continue
        if ch in "\"'":
            i += 1
            while i < n and text[i] != ch:
                i += 2 if (ch == '"' and text[i] == "\\") else 1
            i += 1
            continue
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
        i += 1
    return depth, in_multiline, deepest


def nesting_line(text: str, limit: int) -> int | None:
    """The first line where arrays/inline tables nest deeper than limit, if any (before
    parsing: tomllib recurses per level and would hit Python's recursion limit), or where
    a dotted key or table header has more than limit parts (tomllib is quadratic in them)."""
    depth = 0
    multiline: str | None = None
    for number, line in enumerate(text.split("\n"), start=1):
        if depth <= 0 and not multiline:
            stripped = line.lstrip(" \t")
            start = 2 if stripped.startswith("[[") else 1 if stripped.startswith("[") else 0
            parts, _ = _parse_key(stripped, start, max_parts=limit + 1)
            if len(parts) > limit:
                return number
        depth, multiline, deepest = _value_state(line, max(depth, 0), multiline)
        if deepest > limit:
            return number
    return None


@dataclass(frozen=True)
class Statement:
    """One table header or `key = value` statement: its key as written (dotted parts) and
    the 0-based lines it spans (a multi-line array or string spans several)."""

    kind: str  # "table", "array_table" ([[...]]) or "key"
    parts: tuple[str, ...]
    first: int
    last: int


def statements(text: str) -> list[Statement]:
    """Every header and key statement of a TOML document, in order."""
    found: list[Statement] = []
    depth = 0
    multiline: str | None = None
    for index, line in enumerate(text.split("\n")):
        if depth > 0 or multiline:
            depth, multiline, _ = _value_state(line, depth, multiline)
            found[-1] = replace(found[-1], last=index)
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            parts, _ = _parse_key(stripped, 2)
            found.append(Statement("array_table", tuple(parts), index, index))
            continue
        if stripped.startswith("["):
            parts, _ = _parse_key(stripped, 1)
            found.append(Statement("table", tuple(parts), index, index))
            continue
        parts, pos = _parse_key(stripped, 0)
        if not parts:
            continue
        found.append(Statement("key", tuple(parts), index, index))
        rest = stripped[pos:]
        # most values are plain scalars on their line: only brackets and triple quotes
        # can carry a value over to the next lines
        if rest.startswith("=") and ("[" in rest or "{" in rest or '"""' in rest
                                     or "'''" in rest):
            depth, multiline, _ = _value_state(rest[1:], 0, None)
    return found


def key_lines(text: str) -> Mapping[KeyPath, int]:
    """Map every header and key path of a TOML document to its 1-based line."""
    lines: dict[KeyPath, int] = {}
    aot_counts: dict[KeyPath, int] = {}
    current: KeyPath = ()
    for statement in statements(text):
        number = statement.first + 1
        if statement.kind == "array_table":
            base = _resolve(statement.parts, aot_counts)
            index = aot_counts.get(base, -1) + 1
            aot_counts[base] = index
            current = (*base, index)
            lines.setdefault(base, number)
            lines[current] = number
        elif statement.kind == "table":
            current = _resolve(statement.parts, aot_counts)
            lines[current] = number
        else:
            for end in range(1, len(statement.parts) + 1):  # `a.b = 1` declares a, then a.b
                lines.setdefault((*current, *statement.parts[:end]), number)
    return lines


def _resolve(parts: tuple[str, ...], aot_counts: Mapping[KeyPath, int]) -> KeyPath:
    """Insert the current element index after every array-of-tables proper prefix."""
    resolved: list[PathPart] = []
    for position, part in enumerate(parts):
        resolved.append(part)
        index = aot_counts.get(tuple(resolved))
        if index is not None and position < len(parts) - 1:
            resolved.append(index)
    return tuple(resolved)


def line_for(lines: Mapping[KeyPath, int], path: KeyPath, default: int = 1) -> int:
    """Line of path, or of its nearest declared ancestor."""
    for end in range(len(path), 0, -1):
        found = lines.get(path[:end])
        if found is not None:
            return found
    return default


def toml_type(value: object) -> str:
    """A value's TOML type for a message: "must be a string, not an integer"."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"
