"""Minimal edits of the definition files, computed purely from their text.

s2s.toml and groups/*.toml are the administrator's files: their comments, order, spacing
and quoting are theirs. Every function here takes a file's text and returns the text with
exactly one change, every other byte as it was. Each result is checked before it is
returned: parsed, it must equal the parsed original with just that change applied, so a
layout these edits do not understand (a dotted key instead of a table, an inline table)
is refused with "edit it by hand" instead of being written wrong.

Tables are named by their key parts as the parser sees them: ("hostgroup",),
("hosts", "n3"), ("groups", "db"); the top level of a file is ().
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from s2s_sd.errors import BadInput
from s2s_sd.tomlpos import Statement, statements

TablePath = tuple[str, ...]
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def toml_key(part: str) -> str:
    return part if _BARE_KEY.match(part) else toml_string(part)


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def header(table: TablePath, array: bool = False) -> str:
    name = ".".join(toml_key(part) for part in table)
    return f"[[{name}]]" if array else f"[{name}]"


# -- where things are -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Table:
    """A table as written: its header statement (None: the top level) and its keys."""

    path: TablePath
    header: Statement | None
    keys: tuple[Statement, ...]

    @property
    def last_line(self) -> int:
        """The last line holding its header or one of its keys (trailing comments and
        blank lines belong to whatever follows)."""
        if self.keys:
            return self.keys[-1].last
        return self.header.last if self.header else -1


def _tables(text: str) -> list[_Table]:
    tables: list[_Table] = []
    path: TablePath = ()
    head: Statement | None = None
    keys: list[Statement] = []
    for statement in statements(text):
        if statement.kind == "key":
            keys.append(statement)
            continue
        tables.append(_Table(path, head, tuple(keys)))
        path, head, keys = statement.parts, statement, []
    tables.append(_Table(path, head, tuple(keys)))
    return tables


def _table(text: str, table: TablePath) -> _Table | None:
    """The table declared by a [header] (or the top level); None when it has none."""
    return next((t for t in _tables(text) if t.path == table and
                 (t.header is None or t.header.kind == "table")), None)


def _key(text: str, table: TablePath, key: str) -> Statement | None:
    found = _table(text, table)
    if found is None:
        return None
    return next((s for s in found.keys if s.parts == (key,)), None)


def _lines(text: str) -> list[str]:
    # only "\n" ends a line, as in tomlpos.statements (TOML's own rule): splitlines would
    # also split at U+2028 or U+0085 in a comment and shift every index after it
    lines = [line + "\n" for line in text.split("\n")]
    if text.endswith("\n") or not text:
        lines.pop()
    return lines


def _offset(lines: Sequence[str], index: int) -> int:
    return sum(len(line) for line in lines[:index])


# -- checking a result --------------------------------------------------------------------

def _parse(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"not valid TOML ({exc}): fix it first") from exc


def _checked(old: str, new: str, change: Callable[[dict[str, Any]], None], what: str) -> str:
    """new, when it parses to old's data with `change` applied; else refuse."""
    expected = copy.deepcopy(_parse(old))
    change(expected)
    try:
        actual = tomllib.loads(new)
    except tomllib.TOMLDecodeError:
        actual = None
    if actual != expected:
        raise BadInput(f"cannot {what} in this file's layout automatically: edit it by hand")
    return new


def _at(data: dict[str, Any], table: TablePath) -> dict[str, Any]:
    for part in table:
        data = data.setdefault(part, {})
    return data


# -- arrays of strings ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Array:
    """Offsets (into the text) of an array value: its brackets and its elements."""

    open: int
    close: int
    elements: tuple[tuple[int, int], ...]  # start, end of each element


def _array(text: str, start: int, end: int) -> _Array | None:
    """The array value of the key statement in text[start:end], if it is one."""
    pos = text.find("=", start, end)
    if pos < 0:
        return None
    pos += 1
    while pos < end and text[pos] in " \t":
        pos += 1
    if pos >= end or text[pos] != "[":
        return None
    opened = pos
    depth = 0
    elements: list[tuple[int, int]] = []
    element_start: int | None = None
    element_end = pos  # after the element's last character that is not blank or comment
    i = pos
    while i < end:
        ch = text[i]
        if ch == "#":
            i = text.find("\n", i, end)
            if i < 0:
                return None
            continue
        if ch in "\"'":
            if element_start is None and depth == 1:
                element_start = i
            triple = text.startswith(ch * 3, i)
            closing = ch * 3 if triple else ch
            j = i + len(closing)
            while j < end and not text.startswith(closing, j):
                j += 2 if (ch == '"' and text[j] == "\\") else 1
            i = element_end = j + len(closing)
            continue
        if ch in "]}" and depth == 1:
            if element_start is not None:
                elements.append((element_start, element_end))
            return _Array(opened, i, tuple(elements))
        if ch == "," and depth == 1:
            if element_start is not None:
                elements.append((element_start, element_end))
            element_start = None
        elif not ch.isspace():
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            if depth >= 1 and element_start is None and not (ch == "[" and depth == 1):
                element_start = i
            element_end = i + 1
        i += 1
    return None


def _list_value(text: str, table: TablePath, key: str) -> tuple[str, _Array]:
    _parse(text)
    statement = _key(text, table, key)
    if statement is None:
        raise BadInput(f"no {key} in {header(table) if table else 'the top level'}")
    lines = _lines(text)
    full = "".join(lines)
    start = _offset(lines, statement.first)
    array = _array(full, start, _offset(lines, statement.last + 1))
    if array is None:
        raise BadInput(f"{'.'.join((*table, key))} is not a list")
    return full, array


def add_to_list(text: str, table: TablePath, key: str, item: str) -> str:
    """text with item appended to the string list `key` of `table`, in its layout."""
    full, array = _list_value(text, table, key)
    literal = toml_string(item)
    if not array.elements:
        new = full[: array.open + 1] + literal + full[array.open + 1:]
    else:
        last_start, last_end = array.elements[-1]
        line_start = full.rfind("\n", 0, last_start) + 1
        own_line = not full[line_start:last_start].strip() and \
            "\n" in full[last_end:array.close]
        after = full[last_end:array.close]
        comma = after.lstrip(" \t").startswith(",")
        if own_line:
            # one element per line: a new line like the last one
            indent = full[line_start:last_start]
            line_end = full.index("\n", last_end) + 1
            if comma:
                new = full[:line_end] + f"{indent}{literal},\n" + full[line_end:]
            else:
                new = (full[:last_end] + "," + full[last_end:line_end] + f"{indent}{literal}\n"
                       + full[line_end:])
        elif comma:
            position = last_end + after.index(",") + 1
            new = full[:position] + f" {literal}," + full[position:]
        else:
            new = full[:last_end] + f", {literal}" + full[last_end:]
    return _checked(full, new, lambda d: _at(d, table)[key].append(item),
                    f"add {item!r} to {'.'.join((*table, key))}")


def remove_from_list(text: str, table: TablePath, key: str, item: str) -> str:
    """text without item in the string list `key` of `table` (one element; its own line
    goes when it stood alone on it)."""
    full, array = _list_value(text, table, key)
    index = next((n for n, (start, end) in enumerate(array.elements)
                  if _literal(full[start:end]) == item), None)
    if index is None:
        raise BadInput(f"{item!r} is not in {'.'.join((*table, key))}")
    start, end = array.elements[index]
    line_start = full.rfind("\n", 0, start) + 1
    line_end = full.find("\n", end)
    rest = full[end:line_end] if line_end >= 0 else ""
    alone = not full[line_start:start].strip() and \
        re.fullmatch(r"\s*,?\s*(#.*)?", rest) is not None and line_start > array.open
    if alone and line_end >= 0 and line_end < array.close:
        new = full[:line_start] + full[line_end + 1:]
    else:
        following = re.match(r"\s*,[ \t]*", full[end:array.close])
        if following:
            new = full[:start] + full[end + following.end():]
        elif index > 0:
            previous_end = array.elements[index - 1][1]
            new = full[:previous_end] + full[end:]
        else:
            new = full[:start] + full[end:]
    return _checked(full, new, lambda d: _at(d, table)[key].remove(item),
                    f"remove {item!r} from {'.'.join((*table, key))}")


def _literal(element: str) -> object:
    try:
        return tomllib.loads(f"v = {element}")["v"]
    except tomllib.TOMLDecodeError:
        return None


# -- tables ------------------------------------------------------------------------------------

def add_table(text: str, table: TablePath, values: Sequence[tuple[str, str]],
              after: Sequence[TablePath] = ()) -> str:
    """text with a new [table] of string values, placed after the last table whose path
    starts with the first prefix in `after` that has one (else at the end)."""
    tables = _tables(text)
    lines = _lines(text)
    position = len(lines)
    for prefix in after:
        family = [t for t in tables if t.header is not None and t.path[: len(prefix)] == prefix]
        if family:
            position = family[-1].last_line + 1
            break
    block = [f"{header(table)}\n", *(f"{toml_key(k)} = {toml_string(v)}\n" for k, v in values)]
    before = lines[:position]
    if before and before[-1].strip():
        block.insert(0, "\n")
    following = lines[position:]
    if following and following[0].strip():
        block.append("\n")
    new = "".join([*before, *block, *following])

    def change(data: dict[str, Any]) -> None:
        parent = _at(data, table[:-1])
        if table[-1] in parent:
            raise BadInput(f"{header(table)} exists already")
        parent[table[-1]] = dict(values)

    return _checked(text, new, change, f"add {header(table)}")


def remove_table(text: str, table: TablePath, missing_ok: bool = False) -> str:
    """text without [table] (its header and keys; comments around it stay)."""
    found = _table(text, table)
    if found is None or found.header is None:
        if missing_ok and table[-1] not in _at(copy.deepcopy(_parse(text)), table[:-1]):
            return text
        raise BadInput(f"no {header(table)} to remove")
    lines = _lines(text)
    first, last = found.header.first, found.last_line
    # one blank line around the table goes with it, so no double gap stays behind
    if first > 0 and not lines[first - 1].strip() and \
            (last + 1 >= len(lines) or not lines[last + 1].strip()):
        first -= 1
    new = "".join(lines[:first] + lines[last + 1:])

    def change(data: dict[str, Any]) -> None:
        parent = _at(data, table[:-1])
        del parent[table[-1]]
        # a parent only [table] made ([hosts] of [hosts.n3]) goes with its last child
        if not parent and table[:-1] and _table(new, table[:-1]) is None:
            del _at(data, table[:-2])[table[-2]]

    return _checked(text, new, change, f"remove {header(table)}")


def insert_block(text: str, block: str, family: TablePath) -> str:
    """text with block (whole lines: tables, comments) after the last table whose path
    starts with `family`, or at the end; the block must not change what the file says
    about anything else (checked by the caller's validation, not here)."""
    lines = _lines(text)
    position = len(lines)
    members = [t for t in _tables(text) if t.header is not None and t.path[: len(family)] == family]
    if family and members:
        position = members[-1].last_line + 1
    before, following = lines[:position], lines[position:]
    parts = [*before]
    if before and before[-1].strip():
        parts.append("\n")
    parts.append(block if block.endswith("\n") else block + "\n")
    if following and following[0].strip():
        parts.append("\n")
    new = "".join([*parts, *following])
    _parse(new)
    return new


# -- scalar values -----------------------------------------------------------------------------

_QUOTED = re.compile(r'\s*(["\'])((?:\\.|(?!\1).)*)\1')


def set_string(text: str, table: TablePath, key: str, value: str) -> str:
    """text with `key` of [table] set to the string value: changed in place (its quotes
    and trailing comment kept), or added right after the table's header."""
    found = _table(text, table)
    if found is None or found.header is None:
        raise BadInput(f"no {header(table)} table")
    lines = _lines(text)
    statement = next((s for s in found.keys if s.parts == (key,)), None)
    if statement is None:
        index = found.header.last + 1
        lines.insert(index, f"{toml_key(key)} = {toml_string(value)}\n")
    else:
        line = lines[statement.first]
        match = _QUOTED.match(line, line.find("=") + 1)
        if match is None or statement.first != statement.last:
            raise BadInput(f"cannot set {key} in this file's layout automatically: "
                           "edit it by hand")
        quote = match.group(1)
        literal = (f"{quote}{value}{quote}" if quote not in value and "\\" not in value
                   and value.isprintable() else toml_string(value))
        lines[statement.first] = line[: match.start(1)] + literal + line[match.end():]
    new = "".join(lines)

    def change(data: dict[str, Any]) -> None:
        _at(data, table)[key] = value

    return _checked(text, new, change, f"set {key} in {header(table)}")
