"""The agent protocol's requests, decoded in one place before any handler runs.

A request is one JSON object `{"version": 1, "op": NAME, "args": {...}}`. Every
operation declares its arguments as a frozen dataclass whose fields name their check
(`arg(...)`); `decode` turns the wire's `args` into that dataclass or raises BadInput.
So a handler only ever sees values of the declared type and range: ints that are ints
(not bools), finite floats in range, bounded strings without control characters,
normalised absolute paths without `..`. Unknown and missing arguments are refused too.

The JSON itself is parsed with NaN/Infinity refused, integer literals bounded and the
nesting depth bounded, so no request can make the agent recurse, loop or store a value
it cannot read back.
"""

from __future__ import annotations

import dataclasses
import json
import math
import posixpath
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from typing import Any, Generic, TypeVar

from s2s_sd.errors import BadInput

PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 128 * 1024 * 1024  # a sync archive (base64) is the largest argument
MAX_DEPTH = 8  # requests nest three deep (request, args, lock/journal/links)
MAX_INT_DIGITS = 20  # every integer of the protocol fits in 64 bits
MAX_TEXT = 4096  # PATH_MAX: names, tokens, paths
MAX_ITEMS = 10_000  # groups, assignments, links
PID_MAX = 4_194_304  # the kernel's largest pid_max (2**22)
MAX_COUNTER = 2**53  # generations and epochs: exact in every JSON reader
MAX_TIME = 2.0**40  # seconds since the epoch (year 36000): a timestamp, not garbage
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,254}\Z")
BASE64 = re.compile(r"[A-Za-z0-9+/=]*\Z")

R = TypeVar("R")


def _show(value: Any) -> str:
    """A value for a message: short, one line (repr escapes control characters)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- checks of single values --------------------------------------------------------------
# Each check is called with the argument's name (for the message) and the wire value and
# returns the checked value. `kind` says what the wire carries (tests pick bad values by it).

@dataclass(frozen=True)
class Integer:
    low: int
    high: int
    kind: str = "int"

    def __call__(self, name: str, value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadInput(f"request: argument '{name}' must be an integer, not {_show(value)}")
        if not self.low <= value <= self.high:
            raise BadInput(f"request: argument '{name}' must be in {self.low}..{self.high}, "
                           f"not {_show(value)}")
        return value


@dataclass(frozen=True)
class Number:
    low: float
    high: float
    kind: str = "float"

    def __call__(self, name: str, value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise BadInput(f"request: argument '{name}' must be a number, not {_show(value)}")
        number = float(value)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            raise BadInput(f"request: argument '{name}' must be a finite number in "
                           f"{self.low:g}..{self.high:g}, not {_show(value)}")
        return number


@dataclass(frozen=True)
class Flag:
    kind: str = "bool"

    def __call__(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise BadInput(f"request: argument '{name}' must be true or false, "
                           f"not {_show(value)}")
        return value


@dataclass(frozen=True)
class Text:
    """A string: bounded, printable (no NUL, control or separator characters, no lone
    surrogates that could not be written back), optionally of a given form."""

    max_length: int = MAX_TEXT
    pattern: re.Pattern[str] | None = None
    form: str = ""  # what the pattern means, for the message
    allow_empty: bool = True
    kind: str = "str"

    def __call__(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise BadInput(f"request: argument '{name}' must be a string, not {_show(value)}")
        if len(value) > self.max_length:
            raise BadInput(f"request: argument '{name}' is longer than {self.max_length} "
                           "characters")
        if not value.isprintable():
            raise BadInput(f"request: argument '{name}' contains control characters: "
                           f"{_show(value)}")
        if not value and not self.allow_empty:
            raise BadInput(f"request: argument '{name}' must not be empty")
        if self.pattern is not None and value and not self.pattern.match(value):
            raise BadInput(f"request: argument '{name}' is not {self.form}: {_show(value)}")
        return value


@dataclass(frozen=True)
class Choice:
    choices: tuple[str, ...]
    kind: str = "choice"

    def __call__(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise BadInput(f"request: argument '{name}' must be one of "
                           f"{', '.join(self.choices)}, not {_show(value)}")
        return value


@dataclass(frozen=True)
class AbsolutePath:
    """An absolute path without `.`/`..` components, returned normalised."""

    kind: str = "path"

    def __call__(self, name: str, value: Any) -> str:
        text = Text()(name, value)
        if not text.startswith("/"):
            raise BadInput(f"request: argument '{name}' must be an absolute path, "
                           f"not {_show(value)}")
        if any(part in (".", "..") for part in text.split("/")):
            raise BadInput(f"request: argument '{name}' must not contain '.' or '..': "
                           f"{_show(value)}")
        return posixpath.normpath(text)


Check = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Nullable:
    """None (or absent) is allowed; anything else must pass the inner check."""

    inner: Check

    @property
    def kind(self) -> str:
        return str(getattr(self.inner, "kind", ""))

    def __call__(self, name: str, value: Any) -> Any:
        return None if value is None else self.inner(name, value)


@dataclass(frozen=True)
class ListOf:
    item: Check
    max_items: int = MAX_ITEMS
    kind: str = "list"

    def __call__(self, name: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise BadInput(f"request: argument '{name}' must be a list, not {_show(value)}")
        if len(value) > self.max_items:
            raise BadInput(f"request: argument '{name}' has more than {self.max_items} items")
        return tuple(self.item(f"{name}[{index}]", v) for index, v in enumerate(value))


@dataclass(frozen=True)
class MapOf:
    key: Check
    value: Check
    max_items: int = MAX_ITEMS
    kind: str = "object"

    def __call__(self, name: str, value: Any) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise BadInput(f"request: argument '{name}' must be an object, not {_show(value)}")
        if len(value) > self.max_items:
            raise BadInput(f"request: argument '{name}' has more than {self.max_items} items")
        return {self.key(f"{name} key", k): self.value(f"{name}.{k}", v)
                for k, v in value.items()}


@dataclass(frozen=True)
class Record:
    """An object whose fields are those of a dataclass (a lock, a journal entry), each
    checked by its annotated type; returned as a checked dict for the class's from_dict.
    Fields of the class that are not in FIELD_CHECKS are checked by type alone."""

    cls: type[Any]
    kind: str = "record"

    def __call__(self, name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise BadInput(f"request: argument '{name}' must be an object, not {_show(value)}")
        fields = {f.name: f for f in dataclasses.fields(self.cls)}
        _refuse_unknown(name, value, fields)
        hints = typing.get_type_hints(self.cls)
        checked: dict[str, Any] = {}
        for field_name, field in fields.items():
            where = f"{name}.{field_name}"
            if value.get(field_name) is None:
                if field.default is MISSING and not _optional(hints[field_name]):
                    raise BadInput(f"request: '{name}' lacks '{field_name}'")
                continue
            checked[field_name] = _check_for(field_name, hints[field_name])(
                where, value[field_name])
        return checked


def _optional(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


TIME = Number(0, MAX_TIME)
PID = Integer(0, PID_MAX)
COUNTER = Integer(0, MAX_COUNTER)
NAME = Text(pattern=IDENTIFIER, form="an identifier", allow_empty=False)
HOST = Text(max_length=253, pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z"),
            form="a host name", allow_empty=False)
# The fields of records, by name: the range that makes sense beyond the type.
FIELD_CHECKS: Mapping[str, Check] = {
    "pid": PID, "since": TIME, "started": TIME,
    "host": HOST, "admin": HOST, "source": HOST, "target": HOST, "group": NAME,
}
# every integer of a record is a pid, a process start (clock ticks) or a count: never
# negative (a journal's pid_started of -1 was accepted and written)
_BY_TYPE: Mapping[Any, Check] = {int: Integer(0, 2**63 - 1), bool: Flag(),
                                 float: Number(-MAX_TIME, MAX_TIME), str: Text()}


def _check_for(field_name: str, hint: Any) -> Check:
    types = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    named = FIELD_CHECKS.get(field_name)
    # a name means the same only for the same type: a journal's `started` is a time, a
    # lock's `started` is its holder's process start (clock ticks, an int)
    if named is not None and getattr(named, "kind", None) == getattr(types[0], "__name__", None):
        return named
    check = _BY_TYPE.get(types[0])
    if check is None:
        raise TypeError(f"no protocol check for {field_name}: {hint}")  # a bug of ours
    return check


def _refuse_unknown(name: str, given: Mapping[Any, Any], known: Mapping[str, Any]) -> None:
    unknown = sorted(str(k) for k in given if k not in known)
    if unknown:
        raise BadInput(f"request: unknown argument {_show(unknown[0])} in '{name}'")


# -- requests -------------------------------------------------------------------------------

def arg(check: Check, required: bool = True) -> Any:
    """A request field checked by CHECK; optional ones default to None."""
    if required:
        return dataclasses.field(metadata={"check": check})
    return dataclasses.field(default=None, metadata={"check": Nullable(check)})


@dataclass(frozen=True)
class NoArguments:
    """The request of an operation that takes no arguments."""


def field_checks(cls: type[Any]) -> dict[str, Check]:
    """The check of every field of a request class (tests generate bad values from them)."""
    return {f.name: f.metadata["check"] for f in dataclasses.fields(cls)}


def decode(cls: type[R], args: Any) -> R:
    """The request of type CLS from the wire's args; BadInput when anything is off."""
    if not isinstance(args, Mapping):
        raise BadInput("request: 'args' must be an object")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    _refuse_unknown("args", args, fields)
    values: dict[str, Any] = {}
    for name, field in fields.items():
        value = args.get(name)
        if value is None and field.default is MISSING:
            raise BadInput(f"request: missing argument '{name}'")
        values[name] = field.metadata["check"](name, value)
    return cls(**values)


@dataclass(frozen=True)
class Operation(Generic[R]):
    """An operation of the agent: its request type and its handler."""

    request: type[R]
    handler: Callable[[Any, R], dict[str, Any]]


# -- the request line -----------------------------------------------------------------------

def _refuse_constant(text: str) -> Any:
    raise BadInput(f"request: {text} is not a number the protocol accepts")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadInput(f"request: {text[:40]} is out of range")
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadInput(f"request: an integer of {len(text)} digits is out of range")
    return int(text)


def _depth(value: Any) -> int:
    """How deeply VALUE nests (iteratively: no recursion on hostile input)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return deepest


def parse_request(raw: bytes) -> tuple[str, Any]:
    """One request line -> (operation, args); BadInput for anything but a well-formed
    request of this protocol version."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise BadInput(f"request larger than {MAX_REQUEST_BYTES} bytes")
    try:
        request = json.loads(raw, parse_constant=_refuse_constant, parse_float=_parse_float,
                             parse_int=_parse_int)
    except RecursionError as exc:
        raise BadInput(f"request: nested deeper than {MAX_DEPTH} levels") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadInput(f"request is not JSON: {str(exc)[:200]}") from exc
    if _depth(request) > MAX_DEPTH:
        raise BadInput(f"request: nested deeper than {MAX_DEPTH} levels")
    if not isinstance(request, dict):
        raise BadInput(f"request: expected an object with version {PROTOCOL_VERSION}")
    version = request.get("version")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise BadInput(f"request: version must be {PROTOCOL_VERSION}, not {_show(version)}")
    _refuse_unknown("request", request, {"version": 1, "op": 1, "args": 1})
    op = request.get("op")
    if not isinstance(op, str):
        raise BadInput("request: 'op' must be a string")
    args = request.get("args")
    return op, {} if args is None else args


def read_line(stream: typing.BinaryIO) -> bytes | None:
    """The next line of STREAM (None at the end), holding at most the request limit + 1
    bytes: a longer line is skipped to its end and refused (BadInput), memory stays bounded."""
    limit = MAX_REQUEST_BYTES
    line = stream.readline(limit + 1)
    if not line:
        return None
    if len(line) <= limit or line.endswith(b"\n"):
        return line
    while True:  # drop the rest of the oversized line, a bounded chunk at a time
        rest = stream.readline(1024 * 1024)
        if not rest or rest.endswith(b"\n"):
            break
    raise BadInput(f"request larger than {limit} bytes")
