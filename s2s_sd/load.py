"""Files -> model. The only reader of definition files.

Reads `s2s.toml` and `groups/*.toml` from the base dir, checks the schema (unknown keys,
wrong types, missing keys) and builds the frozen model, remembering the line of every key.
Every problem is collected, none stops the reading of the rest: users fix all at once.
Referenced files (scripts, configs, hooks, secrets) are resolved to their host-specific
twin `NAME.HOST` when one exists.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from s2s_sd import paths
from s2s_sd.errors import InvalidDefinitions, Problem
from s2s_sd.model import (
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
    ScriptService,
    Service,
    SystemdService,
)
from s2s_sd.tomlpos import KeyPath, key_lines, line_for

MAIN_FILE = "s2s.toml"
GROUPS_DIR = "groups"
DEFAULT_BASEDIR = paths.BASEDIR.default
BASEDIR_ENV = paths.BASEDIR.env
MAX_DEFINITION_BYTES = 16 * 1024 * 1024

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_TOML_LINE = re.compile(r"at line (\d+)")

T = TypeVar("T")


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
            if required:
                self.problem(None, f"missing required key '{key}'")
            return None
        value = self.data[key]
        # bool is an int in Python; TOML keeps them apart and so do we
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problem(key, f"must be {kind_name}, not {_toml_type(value)}")
            return None
        return value

    def string(self, key: str, required: bool = False) -> str | None:
        value: str | None = self._get(key, str, "a string", required)
        if value is not None and not value.strip():
            self.problem(key, "must not be empty")
            return None
        return value

    def boolean(self, key: str, required: bool = False) -> bool | None:
        value: bool | None = self._get(key, bool, "true or false", required)
        return value

    def positive_int(self, key: str, required: bool = False) -> int | None:
        value: int | None = self._get(key, int, "an integer", required)
        if value is not None and value <= 0:
            self.problem(key, f"must be a positive number of seconds, not {value}")
            return None
        return value

    def non_negative_int(self, key: str) -> int | None:
        value: int | None = self._get(key, int, "an integer", False)
        if value is not None and value < 0:
            self.problem(key, f"must not be negative, not {value}")
            return None
        return value

    def string_list(self, key: str, required: bool = False) -> tuple[str, ...] | None:
        value: list[Any] | None = self._get(key, list, "a list of strings", required)
        if value is None:
            return None
        if not all(isinstance(item, str) for item in value):
            self.problem(key, "must be a list of strings")
            return None
        return tuple(value)

    def string_table(self, key: str) -> tuple[tuple[str, str], ...]:
        value: Mapping[str, Any] | None = self._get(key, dict, "a table of strings", False)
        if value is None:
            return ()
        bad = sorted(k for k, v in value.items() if not isinstance(v, str))
        for name in bad:
            self.problem(key, f"'{name}' must be a string, not {_toml_type(value[name])}")
        return tuple(sorted((k, v) for k, v in value.items() if isinstance(v, str)))

    def table(self, key: str, display: str | None = None) -> _Reader | None:
        value: Mapping[str, Any] | None = self._get(key, dict, "a table", False)
        if value is None:
            return None
        return self.child(value, (*self.path, key), display or self.key_display(key))

    def child(self, data: Mapping[str, Any], path: KeyPath, display: str) -> _Reader:
        return _Reader(self.source, data, path, display, self.problems)

    def finish(self) -> None:
        """Unknown keys are errors: a typo must not pass silently."""
        for key in sorted(set(self.data) - self.seen):
            self.problem(key, f"unknown key '{key}'")


def _toml_type(value: object) -> str:
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


def _read_toml(basedir: Path, relpath: str, problems: list[Problem]
               ) -> tuple[_Source, dict[str, Any]] | None:
    path = basedir / relpath
    try:
        raw = path.read_bytes()[: MAX_DEFINITION_BYTES + 1]
    except FileNotFoundError:
        problems.append(Problem(relpath, 1, "(file)", f"no such file in {basedir}"))
        return None
    except OSError as exc:
        problems.append(Problem(relpath, 1, "(file)", f"cannot read: {exc.strerror}"))
        return None
    if len(raw) > MAX_DEFINITION_BYTES:
        problems.append(Problem(relpath, 1, "(file)", "larger than 16 MiB: not a definition"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(relpath, line, "(file)", "not UTF-8 text (binary file?)"))
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        problems.append(Problem(relpath, line, "(file)", "contains NUL bytes (binary file?)"))
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LINE.search(message)
        line = int(match.group(1)) if match else 1
        problems.append(Problem(relpath, line, "(syntax)", f"TOML syntax error: {message}"))
        return None
    if not data:
        problems.append(Problem(relpath, 1, "(file)", "empty: no definitions in this file"))
        return None
    return _Source(relpath, key_lines(text)), data


class _Loader:
    def __init__(self, basedir: Path, host: str) -> None:
        self.basedir = basedir
        self.host = host
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
        twin = f"{normalized}.{self.host}"
        if (self.basedir / twin).exists():
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
        table.finish()
        try:
            engine = Engine(engine_text)
        except ValueError:
            table.problem("engine", f"must be 'systemd' or 'pacemaker', not '{engine_text}'")
            engine = Engine.SYSTEMD
        settings = top.table("hosts")
        host_objs: list[Host] = []
        for host in hosts or ():
            address = None
            lines: Mapping[str, int] = MappingProxyType({})
            origin = Origin(table.source.file, table.line("hosts"))
            if settings is not None and host in settings.data:
                host_table = settings.table(host)
                if host_table is not None:
                    address = host_table.string("address")
                    lines = host_table.key_lines()
                    origin = host_table.origin()
                    host_table.finish()
            host_objs.append(Host(name=host, address=address, origin=origin, key_lines=lines))
        if settings is not None:
            for extra in sorted(set(settings.data) - set(hosts or ())):
                settings.seen.add(extra)
                settings.problem(extra, f"host '{extra}' is not in hostgroup.hosts")
            settings.finish()
        if name is None or hosts is None:
            return None
        return HostGroup(name=name, engine=engine, hosts=tuple(host_objs),
                         origin=table.origin(), key_lines=table.key_lines())

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
        pre_move = self.file_ref(reader, "pre_move")
        post_move = self.file_ref(reader, "post_move")
        stickiness = reader.non_negative_int("stickiness")
        migration_threshold = reader.non_negative_int("migration_threshold")
        failure_timeout = reader.non_negative_int("failure_timeout")
        services: list[Service] = []
        raw_services = reader._get("services", list, "an array of tables", False)
        if raw_services is None and "services" not in reader.data:
            reader.problem(None, f"group '{name}' has no [[services]]")
        for index, raw in enumerate(raw_services or []):
            if not isinstance(raw, dict):
                reader.problem("services", f"element {index + 1} must be a table")
                continue
            raw_name = raw.get("name")
            label = raw_name if isinstance(raw_name, str) and raw_name else f"[{index}]"
            child = reader.child(raw, (*reader.path, "services", index),
                                 f"{reader.display}.services.{label}")
            service = self.service(child, name)
            if service is not None:
                services.append(service)
        reader.finish()
        return Group(
            name=name, description=description, hosts=hosts or (), pre_move=pre_move,
            post_move=post_move, services=tuple(services), stickiness=stickiness,
            migration_threshold=migration_threshold, failure_timeout=failure_timeout,
            origin=reader.origin(), key_lines=reader.key_lines(),
        )

    def service(self, reader: _Reader, group: str) -> Service | None:
        name = reader.string("name", required=True)
        kind = reader.string("type", required=True)
        common: dict[str, Any] = {
            "start_timeout": reader.positive_int("start_timeout"),
            "stop_timeout": reader.positive_int("stop_timeout"),
            "monitor_interval": reader.positive_int("monitor_interval"),
        }
        if kind is not None and kind not in SERVICE_TYPES:
            known = ", ".join(sorted(SERVICE_TYPES))
            reader.problem("type", f"unknown service type '{kind}' (known: {known})")
            kind = None
        specific: dict[str, Any] | None = None
        if kind is not None:
            specific = _SERVICE_READERS[kind](self, reader)
        reader.finish()
        if name is None or specific is None or any(
            v is None for k, v in specific.items() if k in _REQUIRED[kind or ""]
        ):
            return None
        cls = SERVICE_TYPES[kind or ""]
        return cls(name=name, group=group, origin=reader.origin(),
                   key_lines=reader.key_lines(), **common, **specific)

    def load(self) -> Definitions:
        problems = self.problems
        parsed = _read_toml(self.basedir, MAIN_FILE, problems)
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
        groups_dir = self.basedir / GROUPS_DIR
        if groups_dir.is_dir():
            for path in sorted(groups_dir.glob("*.toml")):
                relpath = f"{GROUPS_DIR}/{path.name}"
                parsed_group = _read_toml(self.basedir, relpath, problems)
                if parsed_group is None:
                    continue
                source, data = parsed_group
                name = path.stem
                reader = _Reader(source, data, (), f"groups.{name}", problems)
                group = self.group(reader, name)
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
    return {"command": command, "user": r.string("user")}


def _kits(loader: _Loader, r: _Reader) -> dict[str, Any]:
    return {"disks": r.string_list("disks") or (), "kit_timeout": r.positive_int("kit_timeout")}


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


def load_raw(basedir: Path, host: str) -> tuple[Definitions | None, list[Problem]]:
    """Load without raising: the definitions (None when unusable) and the schema problems."""
    loader = _Loader(basedir, host)
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
    """Read a file the definitions reference (e.g. a fencing secret), for the runtime."""
    return (basedir / relpath).read_bytes()
