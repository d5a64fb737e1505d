"""Files -> model. The only reader of definition files.

Reads `s2s.toml` and `groups/*.toml` from the base dir, checks the schema (unknown keys,
wrong types, missing keys) and builds the frozen model, remembering the line of every key.
Every problem is collected, none stops the reading of the rest: users fix all at once.
Referenced files (scripts, configs, hooks, secrets) are resolved to their host-specific
twin `NAME.HOST` when one exists.

The parts: load_files.py reads each file, bounded; load_reader.py is the position-keeping
reader every table is read through; load_services.py reads each service type's own keys;
this module reads the tables (host group, hosts, fencing, groups, services) and is the
entry point.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from s2s_sd.errors import InvalidDefinitions, Problem, printable
from s2s_sd.load_files import GROUPS_DIR, MAIN_FILE, os_error, read_toml
from s2s_sd.load_reader import Reader, Source, path_too_long
from s2s_sd.load_services import REQUIRED, SERVICE_READERS
from s2s_sd.model import (
    CONCURRENCY_REACTIONS,
    SERVICE_TYPES,
    Definitions,
    Engine,
    FenceDevice,
    Fencing,
    Group,
    Host,
    HostGroup,
    Origin,
    Service,
)

# Sane ranges of the numbers (documented in README.md): Pacemaker caps scores at
# INFINITY = 1000000.
SCORE_INFINITY = 1_000_000
MAX_FAILURE_TIMEOUT = 30 * 86400
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class _Loader:
    def __init__(self, basedir: Path, host: str, staged: Mapping[str, str]) -> None:
        self.basedir = basedir
        self.host = host
        self.staged = staged
        self.problems: list[Problem] = []
        self.resolved: dict[str, str] = {}

    # -- referenced files -------------------------------------------------------------
    def file_ref(self, reader: Reader, key: str, required: bool = False) -> str | None:
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
            reader.problem(key, f"cannot look up {twin}: {os_error(exc)}")
            return None
        self.resolved[normalized] = twin
        return normalized

    # -- host group ---------------------------------------------------------------------
    def hostgroup(self, top: Reader) -> HostGroup | None:
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

    def fencing(self, top: Reader) -> Fencing | None:
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
    def group(self, reader: Reader, name: str) -> Group | None:
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

    def service(self, reader: Reader, group: str, label: str) -> Service | None:
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
            specific = SERVICE_READERS[kind](self, reader)
        reader.finish()
        if kind is None or specific is None:
            return None
        incomplete = {k for k, v in specific.items() if k in REQUIRED[kind] and v is None}
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
            self.problems.append(Problem(where, 1, "(dir)", f"cannot read: {os_error(exc)}"))
            return []

    def load(self) -> Definitions:
        problems = self.problems
        parsed = read_toml(self.basedir, MAIN_FILE, problems, self.staged)
        hostgroup = None
        fencing = None
        groups: list[Group] = []
        if parsed is not None:
            source, data = parsed
            top = Reader(source, data, (), "", problems)
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
            parsed_group = read_toml(self.basedir, relpath, problems, self.staged)
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


def _group_file_reader(source: Source, data: dict[str, Any], name: str,
                       problems: list[Problem]) -> Reader | None:
    """groups/NAME.toml holds the group's keys at the top level, or one [groups.NAME]
    table as s2s.toml has it (so a group moves between the files by cut and paste)."""
    top = Reader(source, data, (), f"groups.{name}", problems)
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


