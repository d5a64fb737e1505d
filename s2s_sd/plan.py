"""(definitions, observed state, request) -> decisions and ordered steps. Pure.

This module decides; the engines act. Keeping the decisions pure makes the safety rules
("never two actives") testable without hosts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions, Engine, Group, IpService
from s2s_sd.naming import target_name


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


@dataclass(frozen=True)
class Step:
    """One step of a cross-host operation: what happens where."""

    action: str
    host: str | None
    text: str

    def __str__(self) -> str:
        where = f"[{self.host}] " if self.host else ""
        return f"{where}{self.text}"


def move_steps(group: Group, source: str | None, target: str, source_reachable: bool,
               forced: bool = False) -> list[Step]:
    """The ordered steps of moving `group` from `source` to `target` (systemd engine).
    source None: the group runs nowhere, it is only started on the target."""
    steps = [Step("lock", None, "take the admin lock on every reachable host"),
             Step("preflight", None, "check configuration generations and journals")]
    active_source = source is not None and source != target
    if active_source and source_reachable:
        if group.pre_move:
            steps.append(Step("pre_move", source, f"run pre-move hook {group.pre_move}"))
        steps.append(Step("stop", source, f"stop {target_name(group.name)} (busy mounts: "
                          "holders get TERM, then KILL)"))
        steps.append(Step("verify_down", source, "verify units inactive, VIPs gone, "
                          "mounts gone"))
    elif active_source:
        steps.append(Step("skip_source", source, "unreachable: cannot stop the group there"
                          + (" (--force: proceeding on ARP silence)" if forced else "")))
    if vips_lead(group) and source_reachable:
        steps.append(Step("verify_nowhere", None, "verify no host runs the group (nobody "
                          "answering ARP/ND for its VIPs: each VIP member's own probe, "
                          "before anything else of the group starts)"))
    else:
        steps.append(Step("verify_nowhere", None, "verify no host runs the group and "
                          "nobody answers ARP/ND for its VIPs"))
    steps.append(Step("start", target, f"start {target_name(group.name)} "
                      "(on failure: stop it there and start it again on the source)"))
    if group.post_move:
        steps.append(Step("post_move", target, f"run post-move hook {group.post_move}"))
    steps.append(Step("record", None, f"record {group.name} -> {target} on every host "
                      "(boot links follow)"))
    steps.append(Step("unlock", None, "release the admin lock"))
    return steps


def vips_lead(group: Group) -> bool:
    """Whether every VIP member comes before every other member. Then each VIP's own
    duplicate check (`vip up` probes before it adds the address) runs after the source
    is proven down and before anything else of the group starts: it is the proof that
    nobody answers for the VIPs, and the admin need not probe the same addresses first."""
    kinds = [isinstance(s, IpService) for s in group.services]
    return not any(kinds[kinds.index(False):]) if False in kinds else True


# The steps a move journals (engines/systemd/runtime.py), and nothing else: until the target is
# started the move goes back to its source, from then on forward to its target (a rollback
# journal names the original source as its target).
BACKWARD_STEPS = ("stopping",)
FORWARD_STEPS = ("starting", "post_move", "rollback")
RECOVERY_STEPS = BACKWARD_STEPS + FORWARD_STEPS


def recovery_host(journal_step: str, source: str | None, target: str) -> str:
    """Where an interrupted move is finished: once the target was being started the
    move goes forward; before that it goes back to the source."""
    if journal_step in FORWARD_STEPS or source is None:
        return target
    return source
