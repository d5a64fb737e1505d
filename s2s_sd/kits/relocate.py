"""Service kits across hosts, the admin side of `where`, `relocate` and `link`: who holds
a service (the active hosts of its groups) and what its state says there; a relocation
planned here, executed under the host group's admin lock (hosts/session.py) and
followed by the /service links of every other host concerned; a system path's symlink
placed on the other hosts of the group holding the service. The host side is
agent/kits_ops.py; the CLI prints."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_sd.engines.in_process import open_session
from s2s_sd.errors import OperationFailed
from s2s_sd.hosts.transport import Answer, Transport
from s2s_sd.kits.layout import LOCAL, Layout
from s2s_sd.kits.tree import Mounted, Relocation, execute, plan, service_links
from s2s_sd.model import Definitions
from s2s_sd.observation import GroupObservation

Log = Callable[[str], None]


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


@dataclass
class Changes:
    """What the other hosts changed (host -> lines) and where it failed (host -> why)."""

    done: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def of(answers: Mapping[str, Answer]) -> Changes:
        changes = Changes()
        for host, answer in answers.items():
            if answer.ok:
                changes.done[host] = list(answer.value().get("changed", []))
            else:
                changes.failed[host] = str(answer.error or OperationFailed("failed"))
        return changes


def push_links(transport: Transport, name: str, per_host: Mapping[str, Mapping[str, str | None]]
               ) -> Changes:
    """Set/remove the /service links of NAME on other hosts."""
    return Changes.of(transport.ask_many(sorted(per_host), "kits_links",
                                         lambda h: {"name": name, "links": dict(per_host[h])}))


def push_path(transport: Transport, hosts: Sequence[str], path: str, stable: str,
              undo: bool) -> Changes:
    return Changes.of(transport.ask_many(list(hosts), "kits_path",
                                         {"path": path, "stable": stable, "undo": undo}))


# -- where ------------------------------------------------------------------------------------

def add_holders(defs: Definitions, basedir: Path, host: str,
                entries: list[dict[str, Any]]) -> None:
    """Add who holds each service (the group's active hosts) and, where the service is
    not available here, what its state says on the holder."""
    groups = sorted({g for e in entries for g in e["groups"]})
    if not groups or host not in defs.hostgroup.host_names:
        add_local_holders(host, entries)
        return
    with open_session(defs, basedir, host) as session:
        active, unreachable = group_activity(session.transport, session.hosts, groups)
        for entry in entries:
            holders = {g: active.get(g, []) for g in entry["groups"]}
            entry["holder"] = {"groups": holders, "unreachable": unreachable,
                               "host": host if entry["local"] else None}
            on = sorted({h for hs in holders.values() for h in hs})
            entry["running_on"] = {}
            for other in on:
                if other == host and entry["available"]:
                    entry["running_on"][other] = entry["running"]
                    continue
                seen = remote_where(session.transport, other, entry["name"])
                entry["running_on"][other] = seen.get("running") if seen else None


def add_local_holders(host: str, entries: list[dict[str, Any]]) -> None:
    """Without the other hosts: the groups (holders unknown) and this host for local disks."""
    for entry in entries:
        entry["holder"] = {"groups": {g: None for g in entry["groups"]},
                           "host": host if entry["local"] else None}


# -- relocate ---------------------------------------------------------------------------------

def plan_across(layout: Layout, defs: Definitions | None, host: str, name: str, to: str,
                mounted: Mounted = os.path.ismount) -> Relocation:
    """The relocation of NAME to TO, with the other hosts whose links it sets (the target
    group's) and removes (those of the groups it leaves)."""
    relocation = plan(layout, defs, name, to, mounted)
    leaving = _leaving(relocation)
    hosts_set: set[str] = set()
    hosts_removed: set[str] = set()
    if defs is not None:
        target_group = defs.group(to) if to != LOCAL else None
        if target_group is not None:
            hosts_set = set(target_group.hosts) - {host}
        for group_name in leaving:
            group = defs.group(group_name)
            hosts_removed |= set(group.hosts if group else ()) - hosts_set - {host}
    relocation.hosts_set = sorted(hosts_set)
    relocation.hosts_removed = sorted(hosts_removed)
    return relocation


def _leaving(relocation: Relocation) -> set[str]:
    return {t.source_disk.group for t in relocation.transfers
            if t.source_disk is not None and t.source_disk.group}


def relocate(layout: Layout, defs: Definitions | None, basedir: Path, host: str, name: str,
             to: str, purge: bool, log: Log, progress: Log) -> tuple[Relocation, Changes]:
    """Execute the relocation of NAME to TO (LOG: its steps); when it concerns a group,
    under the host group's admin lock (planned again under it; PROGRESS: the lock's lines),
    and then the links of every other host concerned."""
    relocation = plan_across(layout, defs, host, name, to)
    if defs is None or host not in defs.hostgroup.host_names or \
            not (_leaving(relocation) or to != LOCAL):
        return execute(relocation, purge, log=log), Changes()
    hosts_set, hosts_removed = relocation.hosts_set, relocation.hosts_removed
    with open_session(defs, basedir, host, progress=progress) as session, \
            session.locked(f"relocate {name} --to {to}"):
        relocation = plan(layout, defs, name, to)  # again, under the lock
        relocation.hosts_set, relocation.hosts_removed = hosts_set, hosts_removed
        execute(relocation, purge, log=log)
        per_host: dict[str, dict[str, str | None]] = {}
        for other in relocation.hosts_set:
            per_host[other] = {t.link.split("/")[-2]: t.target for t in relocation.transfers}
        for other in relocation.hosts_removed:
            per_host[other] = {t.link.split("/")[-2]: None for t in relocation.transfers}
        return relocation, push_links(session.transport, name, per_host)


# -- link -------------------------------------------------------------------------------------

def link_elsewhere(defs: Definitions | None, basedir: Path, layout: Layout, host: str,
                   path: str, stable: str, name: str | None, undo: bool) -> Changes:
    """The same symlink on the other hosts of the group holding the service, so that its
    data follows it to whichever host runs it."""
    if defs is None or name is None or host not in defs.hostgroup.host_names:
        return Changes()
    links = service_links(layout, defs, name).get(name, [])
    groups = {link.disk.group for link in links if link.disk and link.disk.group}
    members = [defs.group(g) for g in groups]
    hosts = sorted({h for g in members if g is not None for h in g.hosts} - {host})
    if not hosts:
        return Changes()
    with open_session(defs, basedir, host) as session:
        return push_path(session.transport, hosts, path, stable, undo)
