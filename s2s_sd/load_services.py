"""The readers of the keys each type of service has of its own (mount, ip, script,
systemd, exec, kits), with the exec member's readiness check and [Service] settings."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from s2s_sd import service_settings
from s2s_sd.load_reader import Reader, control_character
from s2s_sd.model import (
    ExecService,
    IpService,
    KitsService,
    MountService,
    ReadyCheck,
    ScriptService,
    SystemdService,
)

MAX_SETTLE = 3600  # an exec member's settle period: an hour at most


class FileRefs(Protocol):
    """What a service reader needs of the loader: referenced files, resolved to their
    host's twin."""

    def file_ref(self, reader: Reader, key: str, required: bool = False) -> str | None: ...


def _mount(loader: FileRefs, r: Reader) -> dict[str, Any]:
    return {"device": r.string("device", True), "mountpoint": r.string("mountpoint", True),
            "fstype": r.string("fstype", True), "options": r.string("options")}


def _ip(loader: FileRefs, r: Reader) -> dict[str, Any]:
    return {"address": r.string("address", True), "interface": r.string("interface"),
            "alias": r.string("alias")}


def _script(loader: FileRefs, r: Reader) -> dict[str, Any]:
    return {"script": loader.file_ref(r, "script", True), "config": loader.file_ref(r, "config")}


def _systemd(loader: FileRefs, r: Reader) -> dict[str, Any]:
    return {"unit": r.string("unit", True)}


def _exec(loader: FileRefs, r: Reader) -> dict[str, Any]:
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


def _ready(r: Reader) -> ReadyCheck | None:
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


def _service_settings(r: Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
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


def _kits(loader: FileRefs, r: Reader) -> dict[str, Any]:
    return {"disks": r.string_list("disks") or (), "kit_timeout": r.seconds("kit_timeout")}


SERVICE_READERS: Mapping[str, Callable[[FileRefs, Reader], dict[str, Any]]] = {
    MountService.TYPE: _mount,
    IpService.TYPE: _ip,
    ScriptService.TYPE: _script,
    SystemdService.TYPE: _systemd,
    ExecService.TYPE: _exec,
    KitsService.TYPE: _kits,
}
REQUIRED: Mapping[str, frozenset[str]] = {
    MountService.TYPE: frozenset({"device", "mountpoint", "fstype"}),
    IpService.TYPE: frozenset({"address"}),
    ScriptService.TYPE: frozenset({"script"}),
    SystemdService.TYPE: frozenset({"unit"}),
    ExecService.TYPE: frozenset({"command"}),
    KitsService.TYPE: frozenset(),
    "": frozenset(),
}
