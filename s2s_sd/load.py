"""Files -> model. The only reader of definition files.

Reads `s2s.toml` and `groups/*.toml` from the base dir, checks the schema (unknown keys,
wrong types, missing keys) and builds the frozen model, remembering the line of every key.
Every problem is collected, none stops the reading of the rest: users fix all at once.
Referenced files (scripts, configs, hooks, secrets) are resolved to their host-specific
twin `NAME.HOST` when one exists.

Reading is bounded: only regular files are read (a FIFO would block, /dev/zero would never
end), opened without blocking and checked with fstat, at most MAX_DEFINITION_BYTES each
(the cap applies while reading). Every file-system error becomes a problem naming the file.
"""

# Size: about 800 lines: one reader per table of the definitions, all through the same
# position-keeping reader. It splits when it grows: the groups' and services' readers
# (the larger half) into load_groups.py beside the host group's.

from __future__ import annotations

import difflib
import errno
import ipaddress
import os
import re
import stat
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from s2s_sd import paths, service_settings
from s2s_sd.errors import BadInput, InvalidDefinitions, Problem, printable
from s2s_sd.model import (
    CONCURRENCY_REACTIONS,
    SERVICE_TYPES,
    Definitions,
    Engine,
    ExecService,
    FenceDevice,
    Fencing,
    Group,
    Host,
    HostGroup,
    IpService,
    KitsService,
    MountService,
    Origin,
    ReadyCheck,
    ScriptService,
    Service,
    SystemdService,
)
from s2s_sd.tomlpos import KeyPath, key_lines, line_for, nesting_line, toml_type

MAIN_FILE = "s2s.toml"
GROUPS_DIR = "groups"
DEFAULT_BASEDIR = paths.BASEDIR.default
BASEDIR_ENV = paths.BASEDIR.env
MAX_DEFINITION_BYTES = 16 * 1024 * 1024  # per definition file, enforced while reading
MAX_REFERENCED_BYTES = 1024 * 1024  # a file read for the runtime (a fencing secret)
# Linux limits of one path component and of a whole path (NAME_MAX, PATH_MAX - 1)
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095
# deeper nesting than any definition needs; tomllib itself recurses (RecursionError)
MAX_NESTING = 32
# Sane ranges of the numbers (documented in README.md): systemd ignores absurd timeouts,
# Pacemaker caps scores at INFINITY = 1000000.
MAX_SECONDS = 86400  # timeouts and intervals: one day
SCORE_INFINITY = 1_000_000
MAX_FAILURE_TIMEOUT = 30 * 86400
MAX_SETTLE = 3600  # an exec member's settle period: an hour at most
# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators mean
# nothing in a name, path, address, command argument or description, and would need a
# different escape in every sink (unit line, CIB attribute, hosts line, shell): refused.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_TOML_LINE = re.compile(r"at line (\d+)")
_LONG_NUMBER = re.compile(r"[0-9_]{4000,}")

T = TypeVar("T")


class UnusableFile(BadInput):
    """A file that must not be read as a definition: not regular, or too large."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise UnusableFile(f"{kind}, not a regular file")


def read_capped(path: Path, limit: int) -> bytes:
    """The content of the regular file `path` (symlinks followed), at most `limit` bytes.

    Raises UnusableFile for anything else (FIFO, device, directory, larger than limit)
    and OSError when it cannot be read. Never blocks: the type is checked before opening
    (opening some devices has effects), the file is opened with O_NONBLOCK, and fstat
    checks again what was really opened."""
    _require_regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _require_regular(os.fstat(fd).st_mode)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                size = (f"{limit >> 20} MiB" if limit % (1 << 20) == 0
                        else f"{limit} bytes")
                raise UnusableFile(f"larger than {size}: not what s2s-sd reads here")
    finally:
        os.close(fd)


def _os_error(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


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


def default_basedir() -> Path:
    return Path(os.environ.get(BASEDIR_ENV) or DEFAULT_BASEDIR)


@dataclass
class _Source:
    """One parsed definition file: its name for messages and the line of every key."""

    file: str
    lines: Mapping[KeyPath, int]

    def line(self, path: KeyPath) -> int:
        return line_for(self.lines, path)


@dataclass
class _Reader:
    """Typed access to one TOML table; records problems instead of raising."""

    source: _Source
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

    def table(self, key: str, display: str | None = None) -> _Reader | None:
        value: Mapping[str, Any] | None = self._get(key, dict, "a table", False)
        if value is None:
            return None
        return self.child(value, (*self.path, key), display or self.key_display(key))

    def child(self, data: Mapping[str, Any], path: KeyPath, display: str) -> _Reader:
        return _Reader(self.source, data, path, display, self.problems)

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


def _read_toml(basedir: Path, relpath: str, problems: list[Problem],
               staged: Mapping[str, str]) -> tuple[_Source, dict[str, Any]] | None:
    def fail(line: int, key: str, message: str) -> None:
        problems.append(Problem(relpath, line, key, message))

    try:
        raw = (staged[relpath].encode() if relpath in staged
               else read_capped(basedir / relpath, MAX_DEFINITION_BYTES))
    except FileNotFoundError:
        hint = ""
        if relpath == MAIN_FILE:  # no base dir at all, most likely: say how to get one
            hint = (f" (create one with 's2s-sd init --basedir {basedir}', or name the base "
                    f"dir with --basedir DIR or {BASEDIR_ENV}=DIR)")
        fail(1, "(file)", f"no such file in {basedir}{hint}")
        return None
    except UnusableFile as exc:
        fail(1, "(file)", str(exc))
        return None
    except OSError as exc:
        fail(1, "(file)", f"cannot read: {_os_error(exc)}")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(raw[: exc.start].count(b"\n") + 1, "(file)", "not UTF-8 text (binary file?)")
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        fail(line, "(file)", "contains NUL bytes (binary file?)")
        return None
    deep = nesting_line(text, MAX_NESTING)
    if deep is not None:
        fail(deep, "(syntax)", f"nested more than {MAX_NESTING} levels deep (arrays, inline "
             "tables or dotted keys)")
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LINE.search(message)
        fail(int(match.group(1)) if match else 1, "(syntax)", f"TOML syntax error: {message}")
        return None
    except ValueError:
        # tomllib converts decimal integers with int(), which refuses over 4300 digits
        match = _LONG_NUMBER.search(text)
        line = text[: match.start()].count("\n") + 1 if match else 1
        fail(line, "(syntax)", "an integer with thousands of digits: not a sane value")
        return None
    except RecursionError:  # nesting_line should have caught it: never a traceback
        fail(1, "(syntax)", "nested too deeply")
        return None
    if not data:
        fail(1, "(file)", "empty: no definitions in this file")
        return None
    return _Source(relpath, key_lines(text)), data


class _Loader:
    def __init__(self, basedir: Path, host: str, staged: Mapping[str, str]) -> None:
        self.basedir = basedir
        self.host = host
        self.staged = staged
        self.problems: list[Problem] = []
        self.resolved: dict[str, str] = {}

    # -- referenced files -------------------------------------------------------------
    def file_ref(self, reader: _Reader, key: str, required: bool = False) -> str | None:
        """A path relative to the base dir; its `.HOST` twin is used on that host."""
        value = reader.string(key, required)
        if value is None:
            return None
        normalized = os.path.normpath(value)
        if os.path.isabs(value) or normalized.startswith(".."):
            reader.problem(key, f"'{value}' must be a path inside the base dir")
            return None
        if too_long := path_too_long(normalized):
            reader.problem(key, too_long)
            return None
        twin = f"{normalized}.{self.host}"
        try:
            os.stat(self.basedir / twin)
        except (FileNotFoundError, NotADirectoryError):
            return normalized
        except OSError as exc:
            # an unreadable directory must not hide a twin: the wrong file would be used
            reader.problem(key, f"cannot look up {twin}: {_os_error(exc)}")
            return None
        self.resolved[normalized] = twin
        return normalized

    # -- host group ---------------------------------------------------------------------
    def hostgroup(self, top: _Reader) -> HostGroup | None:
        table = top.table("hostgroup")
        if table is None:
            if "hostgroup" not in top.data:
                top.problem(None, "missing required table [hostgroup]")
            return None
        name = table.string("name", required=True)
        engine_text = table.string("engine") or Engine.SYSTEMD.value
        hosts = table.string_list("hosts", required=True)
        notify = self.file_ref(table, "notify")
        on_concurrency = table.string("on_concurrency") or CONCURRENCY_REACTIONS[0]
        table.finish()
        try:
            engine = Engine(engine_text)
        except ValueError:
            table.problem("engine", f"must be 'systemd' or 'pacemaker', not '{engine_text}'")
            engine = Engine.SYSTEMD
        if on_concurrency not in CONCURRENCY_REACTIONS:
            table.problem("on_concurrency", "must be 'alarm' or 'stop', not "
                          f"'{on_concurrency}'")
        settings = top.table("hosts")
        host_objs: list[Host] = []
        for host in hosts or ():
            address = host_key = None
            lines: Mapping[str, int] = MappingProxyType({})
            origin = Origin(table.source.file, table.line("hosts"))
            if settings is not None and host in settings.data:
                host_table = settings.table(host)
                if host_table is not None:
                    address = host_table.string("address")
                    host_key = host_table.string("host_key")
                    lines = host_table.key_lines()
                    origin = host_table.origin()
                    host_table.finish()
            host_objs.append(Host(name=host, address=address, host_key=host_key, origin=origin,
                                  key_lines=lines))
        if settings is not None:
            for extra in sorted(set(settings.data) - set(hosts or ())):
                settings.seen.add(extra)
                settings.problem(extra, f"host '{extra}' is not in hostgroup.hosts")
            settings.finish()
        if name is None or hosts is None:
            return None
        return HostGroup(name=name, engine=engine, hosts=tuple(host_objs), notify=notify,
                         on_concurrency=on_concurrency, origin=table.origin(),
                         key_lines=table.key_lines())

    def fencing(self, top: _Reader) -> Fencing | None:
        table = top.table("fencing")
        if table is None:
            return None
        enabled = table.boolean("enabled", required=True)
        devices: list[FenceDevice] = []
        raw_devices = table._get("devices", list, "an array of tables", False) or []
        for index, raw in enumerate(raw_devices):
            path = (*table.path, "devices", index)
            if not isinstance(raw, dict):
                table.problem("devices", f"element {index + 1} must be a table")
                continue
            label = raw.get("name") if isinstance(raw.get("name"), str) else f"[{index}]"
            dev = table.child(raw, path, f"fencing.devices.{label}")
            dev_name = dev.string("name", required=True)
            agent = dev.string("agent", required=True)
            dev_hosts = dev.string_list("hosts", required=True)
            params = dev.string_table("params")
            secrets = dev.string_table("secret_params")
            dev.finish()
            for param, ref in secrets:
                normalized = os.path.normpath(ref)
                if os.path.isabs(ref) or normalized.startswith(".."):
                    dev.problem("secret_params", f"'{param}': '{ref}' must be inside the base dir")
                elif too_long := path_too_long(normalized):
                    dev.problem("secret_params", f"'{param}': {too_long}")
            if dev_name and agent and dev_hosts is not None:
                devices.append(FenceDevice(name=dev_name, agent=agent, hosts=dev_hosts,
                                           params=params, secret_params=secrets,
                                           origin=dev.origin(), key_lines=dev.key_lines()))
        table.finish()
        if enabled is None:
            return None
        return Fencing(enabled=enabled, devices=tuple(devices), origin=table.origin(),
                       key_lines=table.key_lines())

    # -- groups -------------------------------------------------------------------------
    def group(self, reader: _Reader, name: str) -> Group | None:
        description = reader.string("description") or ""
        hosts = reader.string_list("hosts")
        if hosts == ():
            # an empty list would mean "all hosts" below: say how to write that
            reader.problem("hosts", "must name at least one host; omit the key for all hosts")
            hosts = None
        pre_move = self.file_ref(reader, "pre_move")
        post_move = self.file_ref(reader, "post_move")
        stickiness = reader.bounded_int("stickiness", SCORE_INFINITY)
        migration_threshold = reader.bounded_int("migration_threshold",
                                                  SCORE_INFINITY)
        failure_timeout = reader.duration_up_to("failure_timeout", MAX_FAILURE_TIMEOUT)
        services: list[Service] = []
        raw_services = reader._get("services", list, "an array of tables", False)
        if raw_services is None and "services" not in reader.data:
            reader.problem(None, f"group '{name}' has no [[services]]")
        elif raw_services == []:
            reader.problem("services", f"group '{name}' has no services")
        for index, raw in enumerate(raw_services or []):
            if not isinstance(raw, dict):
                reader.problem("services", f"element {index + 1} must be a table")
                continue
            raw_name = raw.get("name")
            label = raw_name if isinstance(raw_name, str) and raw_name else f"[{index}]"
            child = reader.child(raw, (*reader.path, "services", index),
                                 f"{reader.display}.services.{label}")
            service = self.service(child, name, label)
            if service is not None:
                services.append(service)
        reader.finish()
        return Group(
            name=name, description=description, hosts=hosts or (), pre_move=pre_move,
            post_move=post_move, services=tuple(services), stickiness=stickiness,
            migration_threshold=migration_threshold, failure_timeout=failure_timeout,
            origin=reader.origin(), key_lines=reader.key_lines(),
        )

    def service(self, reader: _Reader, group: str, label: str) -> Service | None:
        """The service; with placeholders for missing required keys (see
        Service.incomplete), None only when its type is unknown."""
        name = reader.string("name", required=True)
        kind = reader.string("type", required=True)
        common: dict[str, Any] = {
            "start_timeout": reader.seconds("start_timeout"),
            "stop_timeout": reader.seconds("stop_timeout"),
            "monitor_interval": reader.seconds("monitor_interval"),
        }
        if kind is not None and kind not in SERVICE_TYPES:
            known = ", ".join(sorted(SERVICE_TYPES))
            reader.problem("type", f"unknown service type '{kind}' (known: {known})")
            kind = None
        if kind is None:  # which keys the service may have depends on its type
            reader.seen.update(reader.data)
        specific: dict[str, Any] | None = None
        if kind is not None:
            specific = _SERVICE_READERS[kind](self, reader)
        reader.finish()
        if kind is None or specific is None:
            return None
        incomplete = {k for k, v in specific.items() if k in _REQUIRED[kind] and v is None}
        specific.update({k: _PLACEHOLDERS.get(k, "") for k in incomplete})
        if name is None:
            incomplete.add("name")
        cls = SERVICE_TYPES[kind]
        return cls(name=label if name is None else name, group=group, origin=reader.origin(),
                   key_lines=reader.key_lines(), incomplete=frozenset(incomplete),
                   **common, **specific)

    def group_files(self) -> list[str]:
        """The names of groups/*.toml; an unreadable groups/ is a problem, never skipped
        (the groups in it would silently vanish from generate and apply)."""
        path = self.basedir / GROUPS_DIR
        where = f"{GROUPS_DIR}/"
        try:
            if not stat.S_ISDIR(os.stat(path).st_mode):
                self.problems.append(Problem(where, 1, "(dir)", "not a directory"))
                return []
            with os.scandir(path) as entries:
                # dot files are editors' (.x.toml.swp) and never definitions
                return sorted(e.name for e in entries
                              if e.name.endswith(".toml") and not e.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.problems.append(Problem(where, 1, "(dir)", f"cannot read: {_os_error(exc)}"))
            return []

    def load(self) -> Definitions:
        problems = self.problems
        parsed = _read_toml(self.basedir, MAIN_FILE, problems, self.staged)
        hostgroup = None
        fencing = None
        groups: list[Group] = []
        if parsed is not None:
            source, data = parsed
            top = _Reader(source, data, (), "", problems)
            hostgroup = self.hostgroup(top)
            fencing = self.fencing(top)
            group_tables = top.table("groups")
            if group_tables is not None:
                for name in group_tables.data:
                    group_reader = group_tables.table(name, f"groups.{name}")
                    if group_reader is not None:
                        group = self.group(group_reader, name)
                        if group is not None:
                            groups.append(group)
                group_tables.finish()
            top.finish()
        group_files = {f"{GROUPS_DIR}/{name}" for name in self.group_files()}
        group_files |= {f for f in self.staged if f.startswith(f"{GROUPS_DIR}/")}
        for relpath in sorted(group_files):
            parsed_group = _read_toml(self.basedir, relpath, problems, self.staged)
            if parsed_group is not None:
                source, data = parsed_group
                name = Path(relpath).name.removesuffix(".toml")
                reader = _group_file_reader(source, data, name, problems)
                group = self.group(reader, name) if reader is not None else None
                if group is not None:
                    groups.append(group)
        if hostgroup is None:
            raise InvalidDefinitions(problems)
        all_hosts = hostgroup.host_names
        groups = [g if g.hosts else _with_hosts(g, all_hosts) for g in groups]
        definitions = Definitions(
            hostgroup=hostgroup, groups=tuple(groups), fencing=fencing, host=self.host,
            resolved_files=MappingProxyType(dict(sorted(self.resolved.items()))),
        )
        return definitions


def _group_file_reader(source: _Source, data: dict[str, Any], name: str,
                       problems: list[Problem]) -> _Reader | None:
    """groups/NAME.toml holds the group's keys at the top level, or one [groups.NAME]
    table as s2s.toml has it (so a group moves between the files by cut and paste)."""
    top = _Reader(source, data, (), f"groups.{name}", problems)
    if "groups" not in data:
        return top
    tables = top.table("groups", "groups")
    if tables is None:
        return None
    others = sorted(set(data) - {"groups"})
    if others:
        top.problem(others[0], f"'{others[0]}' outside [groups.{name}]: give the group "
                    f"either as top-level keys or as one [groups.{name}] table, not both")
        return None
    names = list(tables.data)
    if names != [name]:
        wrong = next((n for n in names if n != name), name)
        tables.problem(wrong, f"[groups.{printable(wrong)}] in {source.file}: the file "
                       f"of group '{name}' holds only [groups.{name}] (the name is the "
                       "file's)")
        return None
    return tables.table(name, f"groups.{name}")


def _with_hosts(group: Group, hosts: tuple[str, ...]) -> Group:
    from dataclasses import replace

    return replace(group, hosts=hosts)


def _mount(loader: _Loader, r: _Reader) -> dict[str, Any]:
    return {"device": r.string("device", True), "mountpoint": r.string("mountpoint", True),
            "fstype": r.string("fstype", True), "options": r.string("options")}


def _ip(loader: _Loader, r: _Reader) -> dict[str, Any]:
    return {"address": r.string("address", True), "interface": r.string("interface"),
            "alias": r.string("alias")}


def _script(loader: _Loader, r: _Reader) -> dict[str, Any]:
    return {"script": loader.file_ref(r, "script", True), "config": loader.file_ref(r, "config")}


def _systemd(loader: _Loader, r: _Reader) -> dict[str, Any]:
    return {"unit": r.string("unit", True)}


def _exec(loader: _Loader, r: _Reader) -> dict[str, Any]:
    command = r.string_list("command", True)
    if command is not None and not command:
        r.problem("command", "must name a program")
        command = None
    ready = _ready(r)
    notify = r.boolean("notify") or False
    settle = r.duration_up_to("settle", MAX_SETTLE)
    if notify and ready is not None:
        r.problem("notify", "a member that sends READY=1 itself needs no 'ready' check: "
                  "give one of the two")
    if settle is not None and (notify or ready is not None):
        r.problem("settle", "only for a member without 'ready' or 'notify' (those say "
                  "themselves when it is up)")
    return {"command": command, "user": r.string("user"),
            "service_settings": _service_settings(r), "ready": ready, "notify": notify,
            "settle": settle}


def _ready(r: _Reader) -> ReadyCheck | None:
    """`ready = { tcp = "HOST:PORT" }` or `ready = { command = [...] }`."""
    table = r.table("ready")
    if table is None:
        return None
    tcp_text = table.string("tcp")
    command = table.string_list("command")
    table.finish()
    tcp = None
    if tcp_text is not None:
        parsed = parse_host_port(tcp_text)
        if isinstance(parsed, str):
            table.problem("tcp", parsed)
            return None
        tcp = parsed
    if command is not None and not command:
        table.problem("command", "must name a program")
        return None
    if (tcp is None) == (command is None):
        if "tcp" in table.data or "command" in table.data:  # a bad value: reported above
            if tcp is not None and command is not None:
                table.problem(None, "give either 'tcp' or 'command', not both")
        else:
            table.problem(None, "needs 'tcp = \"HOST:PORT\"' or 'command = [...]'")
        return None
    return ReadyCheck(tcp=tcp, command=command, origin=table.origin(),
                      key_lines=table.key_lines())


_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):"
                        r"(?P<port>[0-9]{1,5})\Z")


def parse_host_port(text: str) -> tuple[str, int] | str:
    """("127.0.0.1", 5432) from "127.0.0.1:5432" (an IPv6 address in brackets), or what
    is wrong with it."""
    found = _HOST_PORT.match(text)
    if found is None:
        return (f"'{text}' must be HOST:PORT, e.g. \"127.0.0.1:5432\" or "
                "\"[::1]:5432\"")
    port = int(found["port"])
    if not 1 <= port <= 65535:
        return f"port {port} must be 1..65535"
    host = found["v6"] or found["host"]
    if found["v6"]:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"'{host}' is not an IPv6 address"
    return host, port


def _service_settings(r: _Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The [Service] settings of an exec member: each allow-listed, each value checked,
    every problem at the setting's own line."""
    table = r.table("service_settings")
    if table is None:
        return ()
    found: list[tuple[str, tuple[str, ...]]] = []
    for name, value in sorted(table.data.items()):
        table.seen.add(name)
        if name not in service_settings.ALLOWED:
            close = difflib.get_close_matches(name, sorted(service_settings.ALLOWED), n=1)
            hint = (f": did you mean '{close[0]}'?" if close else
                    " (see s2s-sd.toml(5) for the list)")
            table.problem(name, f"'{name}' is not a [Service] setting s2s-sd passes "
                          f"through{hint}")
            continue
        words = service_settings.convert(name, value)
        if isinstance(words, str):
            table.problem(name, words)
        elif bad := next(filter(None, map(control_character, words)), None):
            table.problem(name, bad)
        else:
            found.append((name, words))
    return tuple(found)


def _kits(loader: _Loader, r: _Reader) -> dict[str, Any]:
    return {"disks": r.string_list("disks") or (), "kit_timeout": r.seconds("kit_timeout")}


_SERVICE_READERS: Mapping[str, Callable[[_Loader, _Reader], dict[str, Any]]] = {
    MountService.TYPE: _mount,
    IpService.TYPE: _ip,
    ScriptService.TYPE: _script,
    SystemdService.TYPE: _systemd,
    ExecService.TYPE: _exec,
    KitsService.TYPE: _kits,
}
_REQUIRED: Mapping[str, frozenset[str]] = {
    MountService.TYPE: frozenset({"device", "mountpoint", "fstype"}),
    IpService.TYPE: frozenset({"address"}),
    ScriptService.TYPE: frozenset({"script"}),
    SystemdService.TYPE: frozenset({"unit"}),
    ExecService.TYPE: frozenset({"command"}),
    KitsService.TYPE: frozenset(),
    "": frozenset(),
}
# what stands in for a missing required key that is not a string
_PLACEHOLDERS: Mapping[str, object] = {"command": ("",)}


def load_raw(basedir: Path, host: str, staged: Mapping[str, str] | None = None
             ) -> tuple[Definitions | None, list[Problem]]:
    """Load without raising: the definitions (None when unusable) and the schema problems.
    staged: definition files not written yet ({relative path: text}), read instead of
    (or besides) the files on disk, so an edit is validated before it is written."""
    loader = _Loader(basedir, host, staged or {})
    try:
        definitions = loader.load()
    except InvalidDefinitions:
        return None, loader.problems
    return definitions, loader.problems


def load_definitions(basedir: Path, host: str) -> Definitions:
    """Load the base dir for `host`; raise InvalidDefinitions on any schema problem."""
    definitions, problems = load_raw(basedir, host)
    errors = [p for p in problems if not p.warning]
    if definitions is None or errors:
        raise InvalidDefinitions(problems)
    return definitions


def read_referenced(basedir: Path, relpath: str) -> bytes:
    """Read a file the definitions reference (e.g. a fencing secret), for the runtime.
    Raises BadInput for a file that is not regular or too large, OSError otherwise."""
    try:
        return read_capped(basedir / relpath, MAX_REFERENCED_BYTES)
    except UnusableFile as exc:
        raise UnusableFile(f"{basedir / relpath}: {exc}") from None
