"""(definitions, observed state, request) -> decisions. Pure. (The plans of a move,
start and recover are in move_plan.py.)

This module decides; the engines act. Keeping the decisions pure makes the safety rules
("never two actives") testable without hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions, Engine, Group, IpService


def assigned_host(group: Group, assignments: Mapping[str, str]) -> str:
    """The host a group should run on: the recorded assignment while it is allowed,
    otherwise the group's first preferred host."""
    recorded = assignments.get(group.name)
    if recorded in group.hosts:
        return recorded
    return group.hosts[0]


def check_move_target(defs: Definitions, group: Group, to: str) -> None:
    """`move --to TO` on either engine: TO must be a host of the host group and one of the
    group's hosts (bad input, before anything is asked)."""
    if to not in defs.hostgroup.host_names:
        raise BadInput(f"--to {to}: not a host of host group {defs.hostgroup.name}")
    if to not in group.hosts:
        raise BadInput(f"--to {to}: not one of the hosts of group {group.name} "
                       f"({', '.join(group.hosts)})")


def boot_groups(defs: Definitions, host: str, assignments: Mapping[str, str]) -> tuple[str, ...]:
    """Groups this host starts at boot: with the systemd engine, those assigned to it."""
    if defs.hostgroup.engine is not Engine.SYSTEMD:
        return ()
    return tuple(sorted(g.name for g in defs.groups if assigned_host(g, assignments) == host))


@dataclass(frozen=True)
class GuardVerdict:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class MoveInProgress:
    group: str
    source: str
    target: str


def guard_verdict(
    defs: Definitions,
    group_name: str,
    host: str,
    assignments: Mapping[str, str],
    move: MoveInProgress | None = None,
    active_elsewhere: tuple[str, ...] = (),
) -> GuardVerdict:
    """May `group_name` start on `host`? The local rules; `active_elsewhere` carries what
    the other hosts answered (the runtime asks them)."""
    group = defs.group(group_name)
    if group is None:
        return GuardVerdict(False, f"group '{group_name}' is not defined")
    if defs.hostgroup.engine is not Engine.SYSTEMD:
        return GuardVerdict(False, f"host group {defs.hostgroup.name} uses the "
                            f"{defs.hostgroup.engine} engine: Pacemaker starts '{group_name}'")
    if host not in group.hosts:
        return GuardVerdict(False, f"host {host} is not in the hosts of group '{group_name}' "
                            f"({', '.join(group.hosts)})")
    if active_elsewhere:
        return GuardVerdict(False, f"group '{group_name}' is active on "
                            f"{', '.join(active_elsewhere)}")
    if move is not None and move.group == group_name:
        if move.target == host:
            return GuardVerdict(True, f"move of '{group_name}' {move.source} -> {host} "
                                "in progress")
        return GuardVerdict(False, f"group '{group_name}' is being moved "
                            f"{move.source} -> {move.target}")
    assigned = assigned_host(group, assignments)
    if assigned != host:
        return GuardVerdict(False, f"group '{group_name}' is assigned to {assigned}; use "
                            f"`s2s-sd move {group_name} --to {host}` to move it here")
    return GuardVerdict(True, f"group '{group_name}' is assigned to {host}")


def leading_vips(group: Group) -> list[IpService]:
    """The VIP members before the group's first member of another kind: started first,
    right after the guard, so a probe made when the start begins is still fresh for them
    (engines/net/probed_ahead.py)."""
    leading = []
    for service in group.services:
        if not isinstance(service, IpService):
            break
        leading.append(service)
    return leading


def vips_lead(group: Group) -> bool:
    """Whether every VIP member comes before every other member. Then each VIP's own
    duplicate check (`vip up` probes before it adds the address) runs after the source
    is proven down and before anything else of the group starts: it is the proof that
    nobody answers for the VIPs, and the admin need not probe the same addresses first."""
    return len(leading_vips(group)) == sum(isinstance(s, IpService) for s in group.services)


