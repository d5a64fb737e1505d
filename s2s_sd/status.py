"""What runs where, for both engines (pure): one report model with typed alarms, built
from either engine's observations; status_print.py prints it as text and as JSON.

    build_systemd(...)    the answers of the hosts' `observe` requests
                          (engines/systemd/runtime.py gathers them) -> StatusReport
    build_pacemaker(...)  the crm_mon parse and the `cli-` constraints
                          (engines/pacemaker/crm_mon.py) -> StatusReport

The exit code follows from the alarms alone: 1 whenever what runs differs from what should
run, or a host could not be asked; 0 otherwise.
"""

# Size: about 520 lines: the model with the alarms both builders share (about 250) and
# its two builders (systemd about 150, Pacemaker about 120), which fill the same fields,
# so a field of the model is one change here; the printers are in status_print.py. A
# builder that grows moves out first (the Pacemaker one, into status_pacemaker.py).

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from s2s_sd.engines.pacemaker.crm_mon import CliConstraint, ClusterStatus, fail_count_text
from s2s_sd.model import FENCING_DISABLED, Definitions, Group
from s2s_sd.naming import GUARD_PREFIX, hooks_id, member_unit, primitive_id
from s2s_sd.observation import GroupObservation, UnitHealth
from s2s_sd.plan import assigned_host


class Engine(StrEnum):
    SYSTEMD = "systemd"
    PACEMAKER = "pacemaker"


class HostCondition(StrEnum):
    OK = "ok"
    UNREACHABLE = "unreachable"  # ssh could not reach it (the reason says why)
    FAILED = "failed"  # it answered, but could not observe itself (the reason says why)
    OFFLINE = "offline"  # Pacemaker: not a member of the cluster right now


class CellState(StrEnum):
    """A group on one host."""

    UP = "up"
    PARTIAL = "partial"
    FAILED = "failed"
    DOWN = "down"
    UNREACHABLE = "unreachable"
    UNKNOWN = "unknown"  # the host answered but could not observe (HostCondition.FAILED)
    OFFLINE = "offline"


class AlarmKind(StrEnum):
    ACTIVE_TWICE = "active_twice"
    ACTIVE_NOT_ASSIGNED = "active_not_assigned"
    ACTIVE_NOT_ALLOWED = "active_not_allowed"
    PARTLY_UP = "partly_up"
    DOWN_WHERE_ASSIGNED = "down_where_assigned"
    NOT_CONFIGURED = "not_configured"
    UNMANAGED = "unmanaged"
    FAILED_ACTION = "failed_action"
    LEFTOVER_CONSTRAINT = "leftover_constraint"
    INTERRUPTED_MOVE = "interrupted_move"
    HOST_UNREACHABLE = "host_unreachable"
    HOST_FAILED = "host_failed"
    HOST_OFFLINE = "host_offline"
    NO_DC = "no_dc"
    NO_QUORUM = "no_quorum"
    MAINTENANCE = "maintenance"
    CONCURRENCY = "concurrency"  # a host's watcher: its group active elsewhere too


HOST_ALARMS = frozenset({AlarmKind.HOST_UNREACHABLE, AlarmKind.HOST_FAILED,
                         AlarmKind.HOST_OFFLINE})


@dataclass(frozen=True)
class Alarm:
    kind: AlarmKind
    message: str  # one line, what the operator reads after "ALARM: "
    group: str | None = None
    host: str | None = None
    member: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "group": self.group, "host": self.host,
                "member": self.member, "message": self.message}


@dataclass(frozen=True)
class LockHeld:
    """An admin lock a host holds (systemd engine)."""

    holder: str
    pid: int
    operation: str

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.holder, "pid": self.pid, "operation": self.operation}


@dataclass(frozen=True)
class HostReport:
    name: str
    condition: HostCondition
    reason: str | None = None  # why it is not OK: ssh's own words, the host's error
    generation: int | None = None  # systemd engine: its synced generation
    lock: LockHeld | None = None
    node_state: str | None = None  # Pacemaker: online, standby, offline, ...
    dc: bool = False

    @property
    def ok(self) -> bool:
        return self.condition is HostCondition.OK


@dataclass(frozen=True)
class Cell:
    """A group on one host."""

    state: CellState
    active: tuple[str, ...] = ()  # what of it is active there
    failed: tuple[str, ...] = ()  # members (units) failed there
    refused_start: bool = False  # systemd engine: its guard refused a start there


@dataclass(frozen=True)
class MemberReport:
    name: str
    states: Mapping[str, str]  # host -> the member's state there (engine's own words)
    fail_counts: Mapping[str, int] = field(default_factory=dict)  # Pacemaker, host -> n
    # the newest failure, described: Pacemaker's failed action; systemd: the unit's
    # Result on the host it is assigned to (or any host that has one)
    last_failure: str | None = None
    # host -> restarts in place: systemd NRestarts; Pacemaker the fail count (the cluster
    # restarts a failed resource in place once per failure, up to migration-threshold)
    restarts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Frozen:
    """A frozen group: s2s-sd (systemd engine) or the cluster (is-managed=false) leaves it
    alone. since/by: the freeze mark's (systemd engine), None with Pacemaker."""

    since: float | None = None
    by: str | None = None

    def describe(self) -> str:
        if self.since is None:
            return "is-managed=false"
        when = dt.datetime.fromtimestamp(self.since, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"since {when}, by {self.by}"

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since, "by": self.by}


@dataclass(frozen=True)
class GroupReport:
    name: str
    assigned: str | None  # systemd: the assigned host; Pacemaker: where it runs
    cells: Mapping[str, Cell]
    members: tuple[MemberReport, ...] = ()
    alarms: tuple[Alarm, ...] = ()
    running: str | None = None  # the one host it runs on fully, if any
    target_role: str | None = None  # Pacemaker: Started or Stopped
    managed: bool | None = None  # Pacemaker
    constraints: tuple[CliConstraint, ...] = ()  # Pacemaker: its `cli-` constraints
    frozen: Frozen | None = None


@dataclass(frozen=True)
class ClusterSummary:
    dc: str | None
    quorate: bool
    maintenance_mode: bool
    stonith_enabled: bool


@dataclass(frozen=True)
class StatusReport:
    engine: Engine
    hostgroup: str
    admin: str  # the host that asked
    hosts: tuple[HostReport, ...]  # in host-group order
    groups: tuple[GroupReport, ...]
    alarms: tuple[Alarm, ...] = ()  # of the host group as a whole and of its hosts
    notes: tuple[str, ...] = ()
    cluster: ClusterSummary | None = None
    drills: Mapping[str, Any] = field(default_factory=dict)  # drill.json's records

    @property
    def all_alarms(self) -> tuple[Alarm, ...]:
        return self.alarms + tuple(a for g in self.groups for a in g.alarms)

    @property
    def exit_code(self) -> int:
        return 1 if self.all_alarms else 0

    @property
    def host_names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def only(self, names: Sequence[str]) -> StatusReport:
        """The report of the named groups (`status GROUP...`): the alarms of the hosts and
        of the host group as a whole stay, those of other groups go."""
        return replace(self, groups=tuple(g for g in self.groups if g.name in names),
                       alarms=tuple(a for a in self.alarms
                                    if a.group is None or a.group in names))


def host_alarm(host: HostReport, admin: str) -> Alarm | None:
    if host.condition is HostCondition.UNREACHABLE:
        return Alarm(AlarmKind.HOST_UNREACHABLE, f"{host.name} is unreachable: {host.reason}",
                     host=host.name)
    if host.condition is HostCondition.FAILED:
        who = f"{host.name} (this host)" if host.name == admin else host.name
        return Alarm(AlarmKind.HOST_FAILED, f"{who} could not observe its groups: "
                     f"{host.reason}", host=host.name)
    if host.condition is HostCondition.OFFLINE:
        return Alarm(AlarmKind.HOST_OFFLINE, f"{host.name} is offline", host=host.name)
    return None


def _host_alarms(hosts: Sequence[HostReport], admin: str) -> tuple[Alarm, ...]:
    return tuple(a for a in (host_alarm(h, admin) for h in hosts) if a is not None)


def _placement_alarms(name: str, active: Sequence[str], cells: Mapping[str, Cell],
                      misplaced: Sequence[tuple[str, str]]) -> list[Alarm]:
    """What both engines say about where a group is active: twice, where it should not
    be (host, message), partly."""
    alarms = []
    if len(active) > 1:
        alarms.append(Alarm(AlarmKind.ACTIVE_TWICE, f"{name} is ACTIVE ON {len(active)} "
                            f"HOSTS: {', '.join(active)}", group=name))
    wrong = dict(misplaced)
    for host in active:
        if host in wrong:
            kind = (AlarmKind.ACTIVE_NOT_ALLOWED if "not one of its hosts" in wrong[host]
                    else AlarmKind.ACTIVE_NOT_ASSIGNED)
            alarms.append(Alarm(kind, wrong[host], group=name, host=host))
        if cells[host].state is CellState.PARTIAL:
            alarms.append(Alarm(AlarmKind.PARTLY_UP, f"{name} is only partly up on {host}: "
                                f"{', '.join(cells[host].active)}", group=name, host=host))
    return alarms


# -- systemd engine ------------------------------------------------------------------------

@dataclass(frozen=True)
class HostAnswer:
    """One host's answer to `observe` with its state (systemd engine), or why there is
    none: unreachable (ssh's reason) or failed (the host's own error)."""

    observations: Mapping[str, GroupObservation] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)  # the `state` answer
    health: Mapping[str, UnitHealth] = field(default_factory=dict)  # member unit -> it
    unreachable: str | None = None
    failed: str | None = None


def _systemd_host(name: str, answer: HostAnswer) -> HostReport:
    if answer.unreachable is not None:
        return HostReport(name, HostCondition.UNREACHABLE, answer.unreachable)
    if answer.failed is not None:
        return HostReport(name, HostCondition.FAILED, answer.failed)
    held = answer.state.get("lock")
    lock = LockHeld(str(held["host"]), int(held["pid"]), str(held["operation"])) \
        if held else None
    return HostReport(name, HostCondition.OK, generation=int(answer.state["generation"]),
                      lock=lock)


def _systemd_cell(seen: GroupObservation) -> Cell:
    # a guard that refused a start (at boot, or a bare systemctl start) failed on
    # purpose: the group is down there, the refusal is shown apart
    failed = tuple(u for u in seen.failed if not u.startswith(GUARD_PREFIX))
    state = (CellState.UP if seen.fully_up else
             CellState.FAILED if failed and not seen.active else
             CellState.PARTIAL if seen.active else CellState.DOWN)
    return Cell(state, tuple(seen.active_parts), failed, len(failed) < len(seen.failed))


def _systemd_members(group: Group, seen: Mapping[str, GroupObservation],
                     health: Mapping[str, Mapping[str, UnitHealth]],
                     assigned: str) -> tuple[MemberReport, ...]:
    members = []
    for service in group.services:
        unit = member_unit(group.name, service.name)
        of_unit = {h: found[unit] for h, found in health.items() if unit in found}
        # the assigned host's failure first: it is the one that matters
        hosts = sorted(of_unit, key=lambda h: h != assigned)
        failure = next(((h, of_unit[h].last_failure) for h in hosts
                        if of_unit[h].last_failure), None)
        members.append(MemberReport(
            service.name, {h: o.units.get(unit, "inactive") for h, o in seen.items()},
            last_failure=f"{failure[1]} on {failure[0]}" if failure else None,
            restarts={h: of_unit[h].restarts for h in health if h in of_unit}))
    return tuple(members)


def _down_where_assigned(group: Group, assigned: str, cell: Cell,
                         members: Sequence[MemberReport], wanted: bool) -> Alarm | None:
    """A group failed on its assigned host, or down there although it was started there
    and not stopped on purpose since: the member that failed and why, where known."""
    if cell.state is CellState.FAILED or (cell.state is CellState.DOWN and wanted):
        failed = [m for m in members if m.states.get(assigned) == "failed"]
        culprit = failed[0] if failed else next((m for m in members if m.last_failure),
                                                None)
        detail = ""
        if culprit is not None:
            detail = f": member {culprit.name} " + (
                f"failed ({culprit.last_failure})" if culprit.last_failure else "failed")
        return Alarm(AlarmKind.DOWN_WHERE_ASSIGNED,
                     f"{group.name} is {cell.state.value} on {assigned}, where it is "
                     f"assigned{detail}", group=group.name, host=assigned,
                     member=culprit.name if culprit else None)
    return None


def _with_missing_member(alarm: Alarm, assigned: str, members: Sequence[MemberReport]
                         ) -> Alarm:
    """A group partly up where it is assigned: which member is not up there, and why."""
    if alarm.kind is not AlarmKind.PARTLY_UP or alarm.host != assigned:
        return alarm
    missing = next((m for m in members if m.states.get(assigned) != "active"), None)
    if missing is None:
        return alarm
    why = f", last failure {missing.last_failure}" if missing.last_failure else ""
    return replace(alarm, member=missing.name, message=f"{alarm.message}; member "
                   f"{missing.name} is {missing.states.get(assigned)}{why}")


def _frozen_alarms(alarms: Sequence[Alarm], frozen: Frozen | None) -> list[Alarm]:
    """A frozen group's alarms say so: the operator may be working on it."""
    if frozen is None:
        return list(alarms)
    return [replace(a, message=f"{a.message} (frozen)") for a in alarms]


def _violation_alarms(host: str, raw: Sequence[Mapping[str, Any]]) -> list[Alarm]:
    return [Alarm(AlarmKind.CONCURRENCY, f"{host} sees: {v['message']}", group=str(v["group"]),
                  host=host) for v in raw]


def build_systemd(defs: Definitions, admin: str, answers: Mapping[str, HostAnswer],
                  drills: Mapping[str, Any] | None = None) -> StatusReport:
    """The report from every host's answer (in host-group order)."""
    names = list(defs.hostgroup.host_names)
    hosts = tuple(_systemd_host(h, answers[h]) for h in names)
    # the newest assignment map wins (a host that was down may hold an older one)
    epoch, assignments = -1, {}
    for host in hosts:
        if host.ok and int(answers[host.name].state["epoch"]) > epoch:
            epoch = int(answers[host.name].state["epoch"])
            assignments = dict(answers[host.name].state["assignments"])
    groups = []
    for group in defs.groups:
        assigned = assigned_host(group, assignments)
        seen = {h.name: answers[h.name].observations[group.name] for h in hosts if h.ok}
        cells = {h.name: (_systemd_cell(seen[h.name]) if h.ok else
                          Cell(CellState.UNREACHABLE if h.condition is
                               HostCondition.UNREACHABLE else CellState.UNKNOWN))
                 for h in hosts}
        active = [h for h in names if h in seen and seen[h].active]
        misplaced = [(h, f"{group.name} is active on {h} but assigned to {assigned}")
                     for h in active if h != assigned]
        alarms = _placement_alarms(group.name, active, cells, misplaced)
        members = _systemd_members(group, seen, {h: answers[h].health for h in seen},
                                   assigned)
        if assigned in seen:
            wanted = group.name in answers[assigned].state.get("wanted", ())
            down = _down_where_assigned(group, assigned, cells[assigned], members, wanted)
            alarms += [down] if down else []
            alarms = [_with_missing_member(a, assigned, members) for a in alarms]
        marks = [answers[h].state.get("frozen", {}).get(group.name) for h in seen]
        mark = next((m for m in marks if m), None)
        frozen = Frozen(float(mark["since"]), str(mark["by"])) if mark else None
        for seer in seen:
            alarms += _violation_alarms(seer, [v for v in answers[seer].state.get(
                "violations", ()) if v["group"] == group.name])
        up = [h for h in names if cells[h].state is CellState.UP]
        groups.append(GroupReport(group.name, assigned, cells, members,
                                  tuple(_frozen_alarms(alarms, frozen)),
                                  running=up[0] if len(up) == 1 else None, frozen=frozen))
    alarms = list(_host_alarms(hosts, admin))
    for host in hosts:
        for raw in answers[host.name].state.get("journals", []) if host.ok else []:
            alarms.append(Alarm(
                AlarmKind.INTERRUPTED_MOVE,
                f"interrupted move of {raw['group']} ({raw.get('source') or '-'} -> "
                f"{raw['target']}, step {raw['step']}) journaled on {host.name}: "
                f"`s2s-sd recover {raw['group']}`", group=str(raw["group"]), host=host.name))
    return StatusReport(Engine.SYSTEMD, defs.hostgroup.name, admin, hosts, tuple(groups),
                        tuple(alarms), drills=dict(drills or {}))


# -- Pacemaker engine ------------------------------------------------------------------------

def pacemaker_members(group: Group) -> list[str]:
    """The primitives of a group in the CIB (render/pacemaker.py's ids), hooks last."""
    ids = [primitive_id(group.name, s.name) for s in group.services]
    if group.pre_move or group.post_move:
        ids.append(hooks_id(group.name))
    return ids


def _pacemaker_host(name: str, status: ClusterStatus) -> HostReport:
    node = status.nodes.get(name)
    if node is None or not node.online:
        label = node.label if node else "not a cluster node"
        return HostReport(name, HostCondition.OFFLINE, label, node_state=label)
    return HostReport(name, HostCondition.OK, node_state=node.label, dc=node.is_dc)


def _pacemaker_group(group: Group, members: Sequence[str], status: ClusterStatus,
                     constraints: Sequence[CliConstraint], now: dt.datetime,
                     hosts: Sequence[HostReport]) -> GroupReport:
    name = group.name
    state = status.groups.get(name)
    offline = {h.name for h in hosts if not h.ok}
    if state is None:
        cells = {h.name: Cell(CellState.OFFLINE if h.name in offline else CellState.DOWN)
                 for h in hosts}
        return GroupReport(name, None, cells, alarms=(Alarm(
            AlarmKind.NOT_CONFIGURED, f"{name} is not in the cluster's configuration "
            "(`s2s-sd apply pacemaker`)", group=name),))
    failures = status.failures_of(members)
    counts = status.fail_counts_of(members)
    cells = {}
    for host in (h.name for h in hosts):
        on_host = state.members_on(host)
        failed_here = [m.id for m in state.members if m.failed and host in m.nodes]
        failed_here += [f.resource for f in failures if f.node == host
                        and f.resource not in failed_here]
        if host in offline:
            label = CellState.OFFLINE
        elif on_host and len(on_host) == len(state.members) and not any(
                m.role != "Started" for m in state.members if host in m.nodes):
            label = CellState.UP
        elif on_host:
            label = CellState.PARTIAL
        elif failed_here:
            label = CellState.FAILED
        else:
            label = CellState.DOWN
        cells[host] = Cell(label, tuple(on_host), tuple(failed_here))
    active = state.active_nodes()
    misplaced = [(h, f"{name} is active on {h}, which is not one of its hosts")
                 for h in active if h not in group.hosts]
    alarms = _placement_alarms(name, active, cells, misplaced)
    if not active and not state.disabled and not status.maintenance_mode and \
            status.quorate:  # without quorum this node cannot know where it runs
        alarms.append(Alarm(AlarmKind.DOWN_WHERE_ASSIGNED, f"{name} is not running anywhere "
                            "although it should (see its failures, `s2s-sd cleanup`)",
                            group=name))
    # frozen (`s2s-sd freeze`: is-managed=false on the group) is shown, not an alarm;
    # a member unmanaged on its own or in maintenance is
    frozen = Frozen() if state.frozen else None
    if (frozen is None and (state.unmanaged or state.maintenance)
            and not status.maintenance_mode):
        alarms.append(Alarm(AlarmKind.UNMANAGED, f"{name} is not managed by the cluster "
                            "(is-managed=false or maintenance): nothing protects it",
                            group=name))
    for failure in failures:
        count = counts.get((failure.resource, failure.node))
        alarms.append(Alarm(AlarmKind.FAILED_ACTION, f"{name}: {failure.describe()}"
                            + (f", fail count {fail_count_text(count)}" if count else "")
                            + f" (`s2s-sd cleanup {name}`)", group=name, host=failure.node,
                            member=failure.resource))
    mine = tuple(c for c in constraints if c.rsc == name)
    for constraint in mine:
        if constraint.expires is not None and not constraint.expired(now):
            continue  # a temporary preference, asked for with --lifetime
        alarms.append(Alarm(AlarmKind.LEFTOVER_CONSTRAINT, f"{name}: leftover constraint "
                            f"{constraint.describe(now)} (`s2s-sd cleanup {name}` removes "
                            "it)", group=name, host=constraint.node))
    member_reports = []
    for member in state.members:
        last = [f for f in failures if f.resource == member.id]
        member_reports.append(MemberReport(
            member.id,
            {h.name: (member.role if h.name in member.nodes else "Stopped") for h in hosts},
            {n: c for (r, n), c in counts.items() if r == member.id},
            max(last, key=lambda f: f.last_change).describe() if last else None,
            restarts={n: c for (r, n), c in counts.items() if r == member.id}))
    running = state.fully_on()
    return GroupReport(name, running or (active[0] if len(active) == 1 else None), cells,
                       tuple(member_reports), tuple(_frozen_alarms(alarms, frozen)),
                       running=running, target_role="Stopped" if state.disabled else "Started",
                       managed=not state.unmanaged, constraints=mine, frozen=frozen)


def build_pacemaker(defs: Definitions, admin: str, status: ClusterStatus,
                    constraints: Sequence[CliConstraint], now: dt.datetime,
                    drills: Mapping[str, Any] | None = None) -> StatusReport:
    """The report from crm_mon's view and the CIB's `cli-` constraints."""
    hosts = tuple(_pacemaker_host(h, status) for h in defs.hostgroup.host_names)
    groups = tuple(_pacemaker_group(g, pacemaker_members(g), status, constraints, now, hosts)
                   for g in defs.groups)
    alarms = list(_host_alarms(hosts, admin))
    if status.dc is None:
        alarms.append(Alarm(AlarmKind.NO_DC, "the cluster has no DC: nothing is being "
                            "managed right now"))
    elif not status.quorate:
        alarms.append(Alarm(AlarmKind.NO_QUORUM, f"this node's partition ({admin}) has NO "
                            "QUORUM: its view may be stale and it runs nothing "
                            f"(no-quorum-policy={status.no_quorum_policy})", host=admin))
    if status.maintenance_mode:
        alarms.append(Alarm(AlarmKind.MAINTENANCE, "MAINTENANCE MODE is on: the cluster "
                            "starts, stops, moves and monitors nothing (`s2s-sd maintenance "
                            "off`)"))
    notes = () if status.stonith_enabled else (FENCING_DISABLED,)
    summary = ClusterSummary(status.dc, status.quorate, status.maintenance_mode,
                             status.stonith_enabled)
    return StatusReport(Engine.PACEMAKER, defs.hostgroup.name, admin, hosts, groups,
                        tuple(alarms), notes, summary, dict(drills or {}))
