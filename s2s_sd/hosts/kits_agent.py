"""Service kits across hosts: the agent operations (set /service links, describe services
here) and the admin side of `where` and `relocate`.

/service links are host-local: every host that may run a group needs the links of the
services on the group's disks, so relocate sets them on all of the group's hosts (and
removes them from the hosts of the group a service leaves).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.hosts.agent import AgentContext
from s2s_sd.hosts.transport import Transport
from s2s_sd.layout import is_kit_name, parse_number
from s2s_sd.model import Definitions
from s2s_sd.observation import GroupObservation
from s2s_sd.servicetree import (
    layout_from_env,
    local_where,
    place_symlink,
    remove_symlink,
    set_links,
)


def _name(args: Mapping[str, Any]) -> str:
    name = args.get("name")
    if not isinstance(name, str) or not is_kit_name(name):
        raise BadInput(f"request: 'name' must be a service name, not {str(name)[:40]!r}")
    return name


def _defs(ctx: AgentContext) -> Definitions | None:
    try:
        return ctx.defs()
    except (OSError, BadInput):
        return None


def op_kits_links(ctx: AgentContext, args: Mapping[str, Any]) -> dict[str, Any]:
    name = _name(args)
    raw = args.get("links")
    if not isinstance(raw, dict):
        raise BadInput("request: 'links' must be an object NN -> target or null")
    targets: dict[int, str | None] = {}
    for key, target in raw.items():
        number = parse_number(str(key))
        if number is None or not (target is None or (isinstance(target, str)
                                                     and target.startswith("/"))):
            raise BadInput(f"request: bad link {key!r} -> {target!r}")
        targets[number] = target
    changed = set_links(layout_from_env(), name, targets)
    return {"host": ctx.host, "changed": changed}


def op_kits_where(ctx: AgentContext, args: Mapping[str, Any]) -> dict[str, Any]:
    name = _name(args) if args.get("name") is not None else None
    return {"host": ctx.host, "services": local_where(layout_from_env(), _defs(ctx), name)}


def op_kits_path(ctx: AgentContext, args: Mapping[str, Any]) -> dict[str, Any]:
    """`link` on the other hosts of a group: PATH -> /service/NN/NAME/PATH (or undo)."""
    path, stable = args.get("path"), args.get("stable")
    if not (isinstance(path, str) and path.startswith("/") and isinstance(stable, str)
            and stable.startswith(layout_from_env().service_root.rstrip("/") + "/")):
        raise BadInput("request: 'path' and 'stable' must be absolute, 'stable' in /service")
    undo = args.get("undo") is True
    change = remove_symlink(path, stable) if undo else place_symlink(path, stable)
    return {"host": ctx.host, "changed": [change]}


KITS_OPERATIONS = {"kits_links": op_kits_links, "kits_where": op_kits_where,
                   "kits_path": op_kits_path}


# -- admin side -----------------------------------------------------------------------------

def group_activity(transport: Transport, hosts: Sequence[str], groups: Sequence[str]
                   ) -> tuple[dict[str, list[str]], list[str]]:
    """group -> hosts where anything of it is active; and the unreachable hosts."""
    active: dict[str, list[str]] = {g: [] for g in groups}
    unreachable: list[str] = []
    if not groups:
        return active, unreachable
    answers = transport.ask_many(list(hosts), "observe", {"groups": list(groups),
                                                          "scripts": False}, timeout=60)
    for host, answer in answers.items():
        if not answer.ok:
            unreachable.append(host)
            continue
        for group, raw in answer.value()["groups"].items():
            if GroupObservation.from_dict(raw).active:
                active.setdefault(group, []).append(host)
    return active, sorted(unreachable)


def remote_where(transport: Transport, host: str, name: str) -> dict[str, Any] | None:
    answer = transport.ask(host, "kits_where", {"name": name}, timeout=90)
    if not answer.ok:
        return None
    services = answer.value().get("services") or []
    return services[0] if services else None


def push_links(transport: Transport, name: str, per_host: Mapping[str, Mapping[str, str | None]]
               ) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Set/remove links on other hosts: (host -> changes, host -> error)."""
    done: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    hosts = sorted(per_host)
    answers = transport.ask_many(hosts, "kits_links",
                                 lambda h: {"name": name, "links": dict(per_host[h])})
    for host, answer in answers.items():
        if answer.ok:
            done[host] = list(answer.value().get("changed", []))
        else:
            failed[host] = str(answer.error or OperationFailed("failed"))
    return done, failed


def push_path(transport: Transport, hosts: Sequence[str], path: str, stable: str,
              undo: bool) -> tuple[dict[str, list[str]], dict[str, str]]:
    done: dict[str, list[str]] = {}
    failed: dict[str, str] = {}
    answers = transport.ask_many(list(hosts), "kits_path",
                                 {"path": path, "stable": stable, "undo": undo})
    for host, answer in answers.items():
        if answer.ok:
            done[host] = list(answer.value().get("changed", []))
        else:
            failed[host] = str(answer.error or OperationFailed("failed"))
    return done, failed
