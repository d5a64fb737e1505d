"""Operations of a host group run by Pacemaker (engine = "pacemaker"): move, start, stop,
status, maintenance, cleanup, freeze. Live apply is apply_live.py, migration between the
engines (and the engine switch in s2s.toml) migrate.py: both are functions of the
`ClusterAdmin` defined here.

The cluster is the authority on where groups run; s2s-sd asks it (crm_mon) and steers it
the way an administrator would (constraints, target-role, maintenance mode), and uses its
own transport only for what lives on the hosts: units, OCF agents, base dir, hook notes.

Moves: a `cli-prefer-GROUP` location constraint (the id `crm_resource --move` uses, so
`pcs`/`crm` users recognise it and `crm_resource --clear` removes it) is created with
`cibadmin --create`, which the CIB refuses when it exists: two concurrent moves of a group
cannot both proceed. s2s-sd then waits until every member runs on the target and removes
the constraint, so none is left behind; on a failure or timeout it says what is left and
removes it too, unless asked to keep it. With a lifetime the constraint stays, as a
temporary preference that expires by itself.

Hooks run in the group: its last member, ocf:s2s:hook (see s2s_sd/ocf/hook), runs the
pre-move hook when it stops and the post-move hook when it starts, so they also run when
the cluster moves the group on its own (failover, standby, crm_resource).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.agent.dispatch import dispatch
from s2s_sd.engines.pacemaker import crm_tools as crm
from s2s_sd.engines.pacemaker.crm_mon import (
    ClusterStatus,
    Failure,
    GroupState,
    Placement,
    fail_count_text,
    member_line,
)
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts.session import HostGroupSession
from s2s_sd.hosts.transport import Transport
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions, Group
from s2s_sd.naming import hooks_id, prefer_id
from s2s_sd.plan import check_move_target
from s2s_sd.render.pacemaker import PacemakerSettings
from s2s_sd.status import StatusReport, build_pacemaker, pacemaker_members
from s2s_sd.timings import Timings

Progress = Callable[[str], None]
DEFAULT_MOVE_TIMEOUT = 300.0
SETTLE_TIMEOUT = 300.0


def _quiet(_text: str) -> None:
    return None


# a failed action, as the cluster keeps it until a cleanup: an old one is no news
FailureKey = tuple[str, str, str, str]


def _failure_key(failure: Failure) -> FailureKey:
    return (failure.resource, failure.operation, failure.node, failure.last_change)


def _failure_keys(status: ClusterStatus) -> set[FailureKey]:
    return {_failure_key(f) for f in status.failures}


def _new_failures(status: ClusterStatus, before: set[FailureKey], members: list[str],
                  node: str | None = None) -> str:
    """The failed actions of `members` (on `node`) the status shows and `before` did not."""
    new = [f for f in status.failures
           if f.resource in members and node in (None, f.node)
           and _failure_key(f) not in before]
    return "; ".join(f.describe() for f in new)


def _refuse_frozen(name: str, state: GroupState) -> None:
    """The same refusal as the systemd engine's."""
    if state.frozen:
        raise Refused(f"{name} is frozen (is-managed=false): unfreeze it first "
                      f"(`s2s-sd unfreeze {name}`)")


class ClusterAdmin:
    """The administering host's side of the Pacemaker engine. apply_live.py and migrate.py
    are functions of it: they use its public part (definitions, transport, progress and
    warnings, `group`, `cluster`, `require_quorum`, `reload`, and the host-group
    `session`'s lock, views, generations, observe and sync)."""

    def __init__(self, defs: Definitions, basedir: Path, host: str,
                 progress: Progress = _quiet, settings: PacemakerSettings | None = None,
                 timings: Timings | None = None) -> None:
        self.defs = defs
        self.basedir = basedir
        self.host = host
        self.progress = progress
        self.settings = settings or PacemakerSettings(basedir=str(basedir.absolute()))
        self.context = AgentContext(basedir=basedir, host=host, _defs=defs)
        transport = Transport(defs, host, basedir,
                              lambda op, args: dispatch(self.context, op, args))
        self.session = HostGroupSession(defs, basedir, host, transport, progress=progress,
                                        timings=timings)
        self.timings = self.session.timings
        self.warnings = self.session.warnings

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> ClusterAdmin:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def transport(self) -> Transport:
        return self.session.transport

    @property
    def hostgroup(self) -> str:
        return self.defs.hostgroup.name

    @property
    def hosts(self) -> list[str]:
        return list(self.defs.hostgroup.host_names)

    def warn(self, text: str) -> None:
        self.session.warn(text)

    def reload(self) -> None:
        """The definitions as the base dir holds them now (after an engine switch)."""
        self.defs = load_definitions(self.basedir, self.host)
        self.context.forget()
        self.context._defs = self.defs
        self.session.defs = self.defs
        self.transport.defs = self.defs

    def group(self, name: str) -> Group:
        group = self.defs.group(name)
        if group is None:
            raise BadInput(f"group '{name}' is not defined in {self.basedir}")
        return group

    def _members(self, group: Group) -> list[str]:
        return pacemaker_members(group)

    # -- the cluster's state ---------------------------------------------------------------
    def cluster(self, full: bool = True) -> ClusterStatus:
        return crm.status(full=full)

    def require_quorum(self, status: ClusterStatus) -> None:
        if status.dc is None:
            raise Refused("the cluster has no DC (is Pacemaker starting, or this node cut "
                          "off?): try again in a moment")
        if not status.quorate:
            raise Refused(f"this node's partition ({self.host}) has no quorum: the cluster "
                          "would not act on it")

    def _group_state(self, status: ClusterStatus, name: str) -> GroupState:
        state = status.groups.get(name)
        if state is None:
            raise Refused(f"group {name} is not in the cluster's configuration: run "
                          "`s2s-sd apply pacemaker` first")
        return state

    def _usable(self, status: ClusterStatus, node: str, name: str) -> None:
        state = status.nodes.get(node)
        if state is None:
            raise Refused(f"{node} is not a node of the cluster")
        if not state.usable:
            raise Refused(f"{node} is {state.label}: the cluster cannot run {name} there")

    def _failcount_blocks(self, status: ClusterStatus, group: Group, node: str) -> list[str]:
        blocked = []
        for member in self._members(group):
            count = status.fail_counts.get((member, node), 0)
            threshold = status.migration_thresholds.get(member, self.settings.
                                                        migration_threshold)
            if count and (threshold and count >= threshold):
                blocked.append(f"{member} failed {count} time(s) on {node}")
        return blocked

    # -- move ----------------------------------------------------------------------------
    def move(self, name: str, to: str, timeout: float = DEFAULT_MOVE_TIMEOUT,
             lifetime: dt.timedelta | None = None, keep_constraint: bool = False,
             dry_run: bool = False) -> list[str]:
        group = self.group(name)
        check_move_target(self.defs, group, to)
        with self.timings.step("cluster status"):
            status = self.cluster()
        state = self._changeable(status, name, "moves")
        if state.unmanaged or state.maintenance:
            raise Refused(f"{name} is not managed by the cluster (is-managed=false or "
                          "maintenance): it would not move")
        if state.disabled:
            raise Refused(f"{name} is stopped (target-role=Stopped): `s2s-sd start {name}` "
                          "first")
        self._usable(status, to, name)
        active = state.active_nodes()
        if len(active) > 1:
            raise Refused(f"group {name} is active on {' and '.join(active)}: resolve that "
                          "first (see `s2s-sd status`)")
        blocked = self._failcount_blocks(status, group, to)
        if blocked:
            raise Refused(f"{'; '.join(blocked)}: the cluster will not run {name} there "
                          f"until `s2s-sd cleanup {name}`")
        with self.timings.step("constraints"):
            leftovers = crm.cli_constraints_of([name])
        if leftovers:
            raise Refused(f"{name} has the constraint(s) "
                          f"{', '.join(c.describe() for c in leftovers)}: a move in "
                          "progress, or one left behind (see `s2s-sd status`; "
                          f"`s2s-sd cleanup {name}` removes it)")
        source = state.fully_on() or (active[0] if active else None)
        expires = dt.datetime.now(dt.UTC) + lifetime if lifetime else None
        steps = self._move_steps(group, source, to, expires, keep_constraint)
        if dry_run:
            return steps
        if source == to and state.fully_on() == to and expires is None:
            self.progress(f"{name} already runs on {to}")
            return steps
        started = time.time()
        hooks = bool(group.pre_move or group.post_move)
        if hooks and source != to:
            with self.timings.step("note FROM/TO for the hooks"):
                notes = self.transport.ask_many(
                    [h for h in (source, to) if h],
                    "hook_intent", {"group": name, "source": source, "target": to})
            for host, answer in notes.items():
                if not answer.ok:
                    self.warn(f"{host}: the hooks will not know FROM/TO: {answer.error}")
        cid = prefer_id(name)
        with self.timings.step("create the location constraint"):
            created = crm.create_constraint(crm.prefer_constraint(name, to, expires))
        if not created:
            raise Refused(f"constraint {cid} exists: another move of {name} is in progress")
        self.progress(f"move {name}: {source or '(not running)'} -> {to} "
                      f"(location constraint {cid})")
        before = _failure_keys(status)
        try:
            with self.timings.step("wait for the transition", to):
                waited = self._wait_members(group, to, timeout, before)
        except KeyboardInterrupt:
            if not keep_constraint:
                crm.delete_constraint(cid)
            self.progress(f"interrupted: constraint {cid} "
                          + ("kept" if keep_constraint else "removed")
                          + "; the cluster goes on with what it started: `s2s-sd status`")
            raise
        if not waited.met:
            if hooks and source != to:  # the notes must not label a later failover
                self.transport.ask_many([h for h in (source, to) if h], "hook_intent",
                                        {"group": name, "target": to, "clear": True})
            self._move_failed(group, to, waited.last, waited.why_not, keep_constraint)
        if expires is None:
            with self.timings.step("clear the constraint"):
                crm.delete_constraint(cid)
        else:
            self.progress(f"{cid} stays until {expires.isoformat(timespec='seconds')} "
                          "(--lifetime), then expires by itself")
        self.progress(f"{name} runs on {to}")
        if hooks and source != to:
            self._hook_results(group, source, to, started)
        return steps

    def _move_steps(self, group: Group, source: str | None, to: str,
                    expires: dt.datetime | None, keep: bool) -> list[str]:
        cid = prefer_id(group.name)
        steps = [f"check: quorum, {to} online, {group.name} managed, no leftover constraint"]
        if group.pre_move or group.post_move:
            steps.append(f"[{source or '-'}, {to}] note FROM/TO for the hook member "
                         f"{hooks_id(group.name)}")
        steps.append(f"create location constraint {cid}: {group.name} prefers {to} "
                     "(INFINITY" + (f", until {expires.isoformat(timespec='seconds')})"
                                    if expires else ")"))
        if source and source != to:
            steps.append(f"[{source}] the cluster stops {group.name} in reverse order"
                         + (f" (pre-move hook {group.pre_move} first)" if group.pre_move
                            else ""))
        steps.append(f"[{to}] the cluster starts it in order"
                     + (f" (post-move hook {group.post_move} last)" if group.post_move
                        else ""))
        steps.append("wait until every member runs on the target (progress shown)")
        if expires:
            steps.append(f"keep {cid}: it expires by itself")
        else:
            steps.append(f"remove {cid}" + (" (on failure too, unless --keep-constraint)"
                                            if not keep else " (on failure: kept)"))
        return steps

    def _wait_members(self, group: Group, to: str, timeout: float,
                      failures_before: set[FailureKey]) -> crm.Waited[ClusterStatus]:
        """Until every member is Started on `to` only; shows each member's changes."""
        members = self._members(group)
        seen: dict[str, tuple[str, tuple[str, ...]]] | None = None
        began = time.monotonic()
        on_target: set[str] = set()

        def arrived(status: ClusterStatus) -> bool:
            nonlocal seen
            state = status.groups.get(group.name)
            if state is None:
                return False
            now = {m.id: (m.role, m.nodes) for m in state.members}
            for member in state.members:  # what changed since the last look
                if seen is not None and seen.get(member.id) != now[member.id]:
                    before = seen.get(member.id, ("", ()))[1]
                    where = ",".join(member.nodes or before) or "-"
                    self.progress(f"  [{where}] {member.id} {member.role.lower()}"
                                  + (" FAILED" if member.failed else ""))
            seen = now
            for member in state.members:  # when each member came up on the target
                if member.id not in on_target and member.role == "Started" \
                        and tuple(member.nodes) == (to,):
                    on_target.add(member.id)
                    self.timings.add(f"{member.id} started (since the constraint)", to,
                                     time.monotonic() - began, detail=True)
            return state.fully_on() == to

        return crm.wait_until(
            crm.resource_status, arrived, timeout,
            failed=lambda status: _new_failures(status, failures_before, members, to))

    def _move_failed(self, group: Group, to: str, status: ClusterStatus, reason: str,
                     keep: bool) -> None:
        cid = prefer_id(group.name)
        state = status.groups.get(group.name)
        members = member_line(state) if state else "not in the cluster status"
        if keep:
            left = f"constraint {cid} kept (--keep-constraint): remove it with " \
                   f"`s2s-sd cleanup {group.name}`"
        else:
            crm.delete_constraint(cid)
            left = f"constraint {cid} removed"
            # the cluster places the group anew without the preference: say where
            crm.wait_idle(60)
            after = crm.status(full=False).groups.get(group.name)
            if after is not None:
                members += f"; after removing it: {member_line(after)}"
        raise OperationFailed(f"{group.name} did not reach {to} ({reason}); members: "
                              f"{members}; {left}; see `s2s-sd status`")

    def _hook_results(self, group: Group, source: str | None, to: str, since: float) -> None:
        checks = [(to, "post_move")] + ([(source, "pre_move")] if source else [])
        failed = []
        for host, which in checks:
            if getattr(group, which) is None:
                continue
            answer = self.transport.ask(host, "hook_result", {"group": group.name})
            if not answer.ok:
                self.warn(f"{host}: cannot read the {which.replace('_', '-')} hook's result: "
                          f"{answer.error}")
                continue
            result = answer.value().get(which)
            if result is None or result["time"] < int(since) - 1:
                self.warn(f"{host}: the {which.replace('_', '-')} hook did not run")
            elif result["rc"] != 0:
                failed.append(f"{which.replace('_', '-')} hook {getattr(group, which)} "
                              f"failed on {host} (exit {result['rc']})")
            else:
                self.progress(f"[{host}] {which.replace('_', '-')} hook "
                              f"{getattr(group, which)}: ok")
        if failed:
            raise OperationFailed(f"{group.name} runs on {to}, but " + "; ".join(failed)
                                  + " (see the cluster log)")

    def _changeable(self, status: ClusterStatus, name: str, does: str) -> GroupState:
        """The group's state, when the cluster may change it now: quorum, no maintenance
        mode (`does`: what it then does nothing of), the group not frozen."""
        self.require_quorum(status)
        state = self._group_state(status, name)
        if status.maintenance_mode:
            raise Refused(f"the cluster is in maintenance mode: it {does} nothing "
                          "(`s2s-sd maintenance off` first)")
        _refuse_frozen(name, state)
        return state

    # -- start / stop ----------------------------------------------------------------------
    def _switchable(self, name: str) -> tuple[Group, ClusterStatus, GroupState]:
        group = self.group(name)
        status = self.cluster()
        state = self._changeable(status, name, "starts and stops")
        if state.unmanaged:
            raise Refused(f"{name} is not managed by the cluster (is-managed=false)")
        return group, status, state

    def start(self, name: str, timeout: float = DEFAULT_MOVE_TIMEOUT) -> str:
        group, status, state = self._switchable(name)
        members = self._members(group)
        stopped = [m for m, role in crm.member_target_roles(name).items()
                   if role.lower() == "stopped"]
        if stopped:
            raise Refused(f"member(s) {', '.join(stopped)} have their own target-role=Stopped"
                          f": clear it (crm_resource --resource M --meta --delete-parameter "
                          "target-role) first")
        running = state.fully_on()
        if running and not state.disabled:
            self.progress(f"{name} already runs on {running}")
            return running
        crm.set_target_role(name, "Started")
        self.progress(f"{name}: target-role=Started")
        before = _failure_keys(status)
        # a group taken out of the CIB meanwhile is a refusal, not a KeyError
        waited = crm.wait_until(
            crm.resource_status,
            lambda current: self._group_state(current, name).fully_on() is not None,
            timeout, failed=lambda current: _new_failures(current, before, members))
        last = self._group_state(waited.last, name)
        node = last.fully_on()
        if not waited.met or node is None:
            raise OperationFailed(f"{name} did not start ({waited.why_not}); members: "
                                  f"{member_line(last)}; see `s2s-sd status`")
        return node

    def stop(self, name: str, timeout: float = DEFAULT_MOVE_TIMEOUT) -> list[str]:
        _group, _status, state = self._switchable(name)
        where = state.active_nodes()
        crm.set_target_role(name, "Stopped")
        self.progress(f"{name}: target-role=Stopped")
        waited = crm.wait_until(
            crm.resource_status,
            lambda current: self._group_state(current, name).stopped_everywhere, timeout)
        if not waited.met:
            raise OperationFailed(f"{name} did not stop within {timeout:.0f} s; members: "
                                  f"{member_line(self._group_state(waited.last, name))}")
        return where

    # -- maintenance, cleanup ----------------------------------------------------------------
    def maintenance(self, on: bool, timeout: float = SETTLE_TIMEOUT) -> list[str]:
        status = self.cluster()
        self.require_quorum(status)
        if status.maintenance_mode == on:
            return [f"maintenance mode is already {'on' if on else 'off'}"]
        crm.set_maintenance(on)
        if on:
            return ["maintenance mode on: the cluster starts, stops, moves and monitors "
                    "nothing until `s2s-sd maintenance off`"]
        self.progress("maintenance mode off: the cluster probes and takes over again")
        settled = crm.wait_idle(timeout)
        after = Placement.of(self.cluster(), [g.name for g in self.defs.groups])
        lines = [f"{g}: {w or 'stopped'}" for g, w in sorted(after.where.items())]
        if not settled:
            lines.append(f"the cluster did not settle within {timeout:.0f} s")
        return lines

    def cleanup(self, name: str) -> list[str]:
        group = self.group(name)
        status = self.cluster()
        self._group_state(status, name)
        members = self._members(group)
        lines = [f"failed: {f.describe()}" for f in status.failures_of(members)]
        lines += [f"fail count {fail_count_text(count)}: {rsc} on {node}"
                  for (rsc, node), count
                  in sorted(status.fail_counts_of(members).items())]
        crm.cleanup(name)
        for constraint in crm.cli_constraints_of([name]):
            crm.delete_constraint(constraint.id)
            lines.append(f"removed constraint {constraint.describe()}")
        return lines or [f"{name}: nothing to clean up"]

    def freeze(self, name: str, frozen: bool) -> list[str]:
        """is-managed=false on the group (its members inherit it): the cluster starts,
        stops, moves and recovers nothing of it, and keeps monitoring; unfreeze deletes the
        attribute, so the default (managed) applies again."""
        self.group(name)
        status = self.cluster()
        state = self._group_state(status, name)
        if state.frozen == frozen:
            return [f"{name} is {'already' if frozen else 'not'} frozen"]
        crm.set_meta(name, "is-managed", "false" if frozen else None)
        if frozen:
            return [f"{name}: is-managed=false; the cluster leaves it alone until "
                    f"`s2s-sd unfreeze {name}`"]
        return [f"{name}: is-managed deleted; the cluster manages it again"]

    # -- status ----------------------------------------------------------------------------
    def status(self) -> StatusReport:
        status = self.cluster()
        try:
            constraints = crm.cli_constraints_of()
        except OperationFailed as exc:
            constraints = []
            self.warn(f"cannot read the constraints: {exc}")
        from s2s_sd.hosts.drill_run import read_drill_records

        return build_pacemaker(self.defs, self.host, status, constraints,
                               dt.datetime.now(dt.UTC), read_drill_records(self.hostgroup))
