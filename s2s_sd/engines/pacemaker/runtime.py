"""Operations of a host group run by Pacemaker (engine = "pacemaker"): live apply, move,
start, stop, status, maintenance, cleanup, and migration between the engines.

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

Migration adopts running groups without stopping any: see migrate_to_pacemaker and
migrate_to_systemd.
"""

# Size: about 880 lines, kept whole in this round (issue 12) so that the parallel branches'
# edits merge by rename. It splits next: migration both ways and the engine switch in
# s2s.toml into migrate.py; live apply into apply_live.py; the waits into crm_tools.py's one
# wait helper; durations into a pure module; move/start/stop stay here on the host-group
# session (hosts/session.py) instead of a borrowed systemd-engine Admin.

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.agent.dispatch import dispatch
from s2s_sd.edit import set_string
from s2s_sd.engines.pacemaker import cib as cib_apply
from s2s_sd.engines.pacemaker import crm_tools as crm
from s2s_sd.engines.pacemaker.crm_mon import ClusterStatus, GroupState, fail_count_text
from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts.transport import Transport
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions, Engine, Group
from s2s_sd.naming import hooks_id, prefer_id, target_name
from s2s_sd.plan import assigned_host, check_move_target
from s2s_sd.render.pacemaker import PacemakerSettings
from s2s_sd.status import StatusReport, build_pacemaker, pacemaker_members
from s2s_sd.timings import Timings
from s2s_sd.writer import write_file_atomic

Progress = Callable[[str], None]
DEFAULT_MOVE_TIMEOUT = 300.0
SETTLE_TIMEOUT = 300.0
POLL_INTERVAL = 0.1
CONFIG_FILE = "s2s.toml"


def _quiet(_text: str) -> None:
    return None


# -- durations -----------------------------------------------------------------------------

_SIMPLE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_ISO = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", re.IGNORECASE)


def parse_lifetime(text: str) -> dt.timedelta:
    """"90s", "30m", "2h", "1d", a bare number of seconds, or ISO 8601 ("PT1H", "P1D")."""
    simple = _SIMPLE.match(text)
    if simple:
        number, unit = int(simple.group(1)), (simple.group(2) or "s").lower()
        seconds = number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    else:
        iso = _ISO.match(text.strip())
        if not iso or not any(iso.groups()):
            raise BadInput(f"--lifetime {text!r}: expected e.g. 30m, 2h, 1d or PT1H")
        days, hours, minutes, secs = (int(x or 0) for x in iso.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds <= 0:
        raise BadInput(f"--lifetime {text!r}: must be longer than 0 s")
    return dt.timedelta(seconds=seconds)


# -- the engine switch in s2s.toml -------------------------------------------------------

def set_engine_text(text: str, engine: Engine) -> str:
    """s2s.toml's text with [hostgroup] engine set (the line changed in place, or added
    after the table header); everything else stays as the operator wrote it."""
    return set_string(text, ("hostgroup",), "engine", engine.value)


def write_engine(basedir: Path, engine: Engine) -> str:
    """Switch the engine in BASEDIR/s2s.toml; returns the previous text (for a rollback)."""
    path = basedir / CONFIG_FILE
    old = path.read_text(encoding="utf-8")
    new = set_engine_text(old, engine)
    if tomllib.loads(new).get("hostgroup", {}).get("engine") != engine.value:
        raise OperationFailed(f"could not set engine = \"{engine.value}\" in {path}")
    write_file_atomic(path, new, path.stat().st_mode & 0o777)
    return old


# -- reports ---------------------------------------------------------------------------------

@dataclass
class Placement:
    """Where each group runs: node, None (stopped everywhere) or "?" (partly, twice)."""

    where: dict[str, str | None] = field(default_factory=dict)

    @staticmethod
    def of(status: ClusterStatus, groups: Sequence[str]) -> Placement:
        placement = Placement()
        for name in groups:
            state = status.groups.get(name)
            if state is None or state.stopped_everywhere:
                placement.where[name] = None
            else:
                placement.where[name] = state.fully_on() or "?"
        return placement

    def changes(self, after: Placement) -> list[str]:
        lines = []
        for name in sorted(set(self.where) | set(after.where)):
            old, new = self.where.get(name), after.where.get(name)
            if old == new:
                continue
            if old is None:
                lines.append(f"{name}: started on {new}")
            elif new is None:
                lines.append(f"{name}: stopped (was on {old})")
            else:
                lines.append(f"{name}: moved {old} -> {new}")
        return lines


def _member_line(state: GroupState) -> str:
    parts = []
    for member in state.members:
        where = ",".join(member.nodes) or "-"
        flag = " FAILED" if member.failed else ""
        parts.append(f"{member.id} {member.role}@{where}{flag}")
    return "; ".join(parts)


def _refuse_frozen(name: str, state: GroupState) -> None:
    """The same refusal as the systemd engine's."""
    if state.frozen:
        raise Refused(f"{name} is frozen (is-managed=false): unfreeze it first "
                      f"(`s2s-sd unfreeze {name}`)")


class ClusterAdmin:
    """The administering host's side of the Pacemaker engine."""

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
        self.admin = Admin(defs, basedir, host, progress=progress, transport=transport,
                           timings=timings)
        self.timings = self.admin.timings
        self.warnings = self.admin.warnings

    def close(self) -> None:
        self.admin.close()

    def __enter__(self) -> ClusterAdmin:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def transport(self) -> Transport:
        return self.admin.transport

    @property
    def hostgroup(self) -> str:
        return self.defs.hostgroup.name

    @property
    def hosts(self) -> list[str]:
        return list(self.defs.hostgroup.host_names)

    def warn(self, text: str) -> None:
        self.admin.warn(text)

    def _reload(self) -> None:
        """The definitions as the base dir holds them now (after an engine switch)."""
        self.defs = load_definitions(self.basedir, self.host)
        self.context.forget()
        self.context._defs = self.defs
        self.admin.defs = self.defs
        self.transport.defs = self.defs

    def _group(self, name: str) -> Group:
        group = self.defs.group(name)
        if group is None:
            raise BadInput(f"group '{name}' is not defined in {self.basedir}")
        return group

    def _members(self, group: Group) -> list[str]:
        return pacemaker_members(group)

    # -- the cluster's state ---------------------------------------------------------------
    def cluster(self, full: bool = True) -> ClusterStatus:
        return crm.status(full=full)

    def _require_quorum(self, status: ClusterStatus) -> None:
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
        group = self._group(name)
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
        before = {(f.resource, f.operation, f.node, f.last_change) for f in status.failures}
        try:
            with self.timings.step("wait for the transition", to):
                ok, last, reason = self._wait_members(group, to, timeout, before)
        except KeyboardInterrupt:
            if not keep_constraint:
                crm.delete_constraint(cid)
            self.progress(f"interrupted: constraint {cid} "
                          + ("kept" if keep_constraint else "removed")
                          + "; the cluster goes on with what it started: `s2s-sd status`")
            raise
        if not ok:
            if hooks and source != to:  # the notes must not label a later failover
                self.transport.ask_many([h for h in (source, to) if h], "hook_intent",
                                        {"group": name, "target": to, "clear": True})
            self._move_failed(group, to, last, reason, keep_constraint)
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
                      failures_before: set[tuple[str, str, str, str]]
                      ) -> tuple[bool, ClusterStatus, str]:
        """Until every member is Started on `to` only; shows each member's changes."""
        members = self._members(group)
        seen: dict[str, tuple[str, tuple[str, ...]]] | None = None
        began = time.monotonic()
        deadline = began + timeout
        on_target: set[str] = set()
        while True:
            status = crm.status(full=False)
            state = status.groups.get(group.name)
            if state is not None:
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
                if state.fully_on() == to:
                    return True, status, ""
            new = [f for f in status.failures
                   if f.resource in members and f.node == to
                   and (f.resource, f.operation, f.node, f.last_change) not in failures_before]
            if new:
                return False, status, "; ".join(f.describe() for f in new)
            if time.monotonic() >= deadline:
                return False, status, f"timeout after {timeout:.0f} s"
            time.sleep(POLL_INTERVAL)

    def _move_failed(self, group: Group, to: str, status: ClusterStatus, reason: str,
                     keep: bool) -> None:
        cid = prefer_id(group.name)
        state = status.groups.get(group.name)
        members = _member_line(state) if state else "not in the cluster status"
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
                members += f"; after removing it: {_member_line(after)}"
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
        self._require_quorum(status)
        state = self._group_state(status, name)
        if status.maintenance_mode:
            raise Refused(f"the cluster is in maintenance mode: it {does} nothing "
                          "(`s2s-sd maintenance off` first)")
        _refuse_frozen(name, state)
        return state

    # -- start / stop ----------------------------------------------------------------------
    def _switchable(self, name: str) -> tuple[Group, ClusterStatus, GroupState]:
        group = self._group(name)
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
        before = {(f.resource, f.operation, f.node, f.last_change) for f in status.failures}
        deadline = time.monotonic() + timeout
        while True:
            current = crm.status(full=False)
            state = current.groups[name]
            node = state.fully_on()
            if node:
                return node
            new = [f for f in current.failures if f.resource in members and
                   (f.resource, f.operation, f.node, f.last_change) not in before]
            if new or time.monotonic() >= deadline:
                why = "; ".join(f.describe() for f in new) or f"timeout after {timeout:.0f} s"
                raise OperationFailed(f"{name} did not start ({why}); members: "
                                      f"{_member_line(state)}; see `s2s-sd status`")
            time.sleep(POLL_INTERVAL)

    def stop(self, name: str, timeout: float = DEFAULT_MOVE_TIMEOUT) -> list[str]:
        _group, _status, state = self._switchable(name)
        where = state.active_nodes()
        crm.set_target_role(name, "Stopped")
        self.progress(f"{name}: target-role=Stopped")
        ok, current = crm.poll(lambda s: s.groups[name].stopped_everywhere, timeout,
                               POLL_INTERVAL)
        if not ok:
            raise OperationFailed(f"{name} did not stop within {timeout:.0f} s; members: "
                                  f"{_member_line(current.groups[name])}")
        return where

    # -- maintenance, cleanup ----------------------------------------------------------------
    def maintenance(self, on: bool, timeout: float = SETTLE_TIMEOUT) -> list[str]:
        status = self.cluster()
        self._require_quorum(status)
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
        group = self._group(name)
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
        self._group(name)
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

    # -- live apply --------------------------------------------------------------------------
    def apply_live(self, dry_run: bool = False, timeout: float = SETTLE_TIMEOUT
                   ) -> dict[str, Any]:
        """Install units and OCF agents on every host, push the CIB change, wait for the
        cluster to settle, and say what it started, stopped or moved."""
        if dry_run:
            result = cib_apply.apply(self.defs, self.basedir, self.settings, dry_run=True)
            return {"result": result, "installed": {}, "changes": [], "settled": True}
        status = self.cluster()
        self._require_quorum(status)
        with self.admin.locked("apply pacemaker"):
            view = self.admin.view()
            number = self.admin.check_generations(view)
            if number == 0:
                raise Refused(f"{self.basedir} was never synced to the hosts: run "
                              "`s2s-sd sync` first (the cluster runs the scripts, hooks and "
                              "units of the synced base dir)")
            installed = self._install_everywhere()
            before = Placement.of(status, [g.name for g in self.defs.groups])
            result = cib_apply.apply(self.defs, self.basedir, self.settings)
            changes: list[str] = []
            settled = True
            if result.pushed:
                self.progress(f"pushed {len(result.changes)} change(s); waiting for the "
                              "cluster to settle")
                settled = crm.wait_idle(timeout)
                after = Placement.of(self.cluster(), [g.name for g in self.defs.groups])
                changes = before.changes(after)
            return {"result": result, "installed": installed, "changes": changes,
                    "settled": settled}

    def _install_everywhere(self) -> dict[str, Any]:
        answers = self.transport.ask_many(self.hosts, "install_local", {}, timeout=300)
        installed: dict[str, Any] = {}
        for host, answer in answers.items():
            if answer.ok:
                value = answer.value()
                installed[host] = value
                if value.get("written") or value.get("removed"):
                    self.progress(f"[{host}] units and agents: {len(value['written'])} "
                                  f"written, {len(value['removed'])} removed")
            elif answer.unreachable:
                self.warn(f"{host} unreachable: its units and OCF agents are not updated; "
                          "the cluster may fail to run groups there until it is synced")
            else:
                raise answer.error or OperationFailed(f"{host}: install failed")
        return installed

    # -- migration ---------------------------------------------------------------------------
    def _require_all_hosts(self) -> None:
        view = self.admin.view()
        if view.unreachable:
            raise Refused(f"{', '.join(view.unreachable)} unreachable: a migration needs "
                          "every host")
        self.admin.check_generations(view)
        if view.journals():
            journal = next(iter(view.journals().values()))
            raise Refused(f"an interrupted move of {journal.group} is journaled: "
                          f"`s2s-sd recover {journal.group}` first")

    def _require_cluster_nodes(self, status: ClusterStatus) -> None:
        self._require_quorum(status)
        missing = [h for h in self.hosts if h not in status.nodes or
                   not status.nodes[h].online]
        if missing:
            raise Refused(f"{', '.join(missing)} not online in the cluster: a migration "
                          "needs every host as a cluster node")

    def migrate_to_pacemaker(self, dry_run: bool = False, timeout: float = SETTLE_TIMEOUT
                             ) -> list[str]:
        """Adopt a host group that runs under the systemd engine, stopping nothing:

        maintenance mode on -> mark the hook members running where their groups run ->
        tombstones for the systemd-engine units that are active (they take over from the
        real unit files, so retiring them later stops nothing) -> engine = "pacemaker" in
        s2s.toml, sync (units and agents of the Pacemaker engine; no boot links, no
        guards) -> push the CIB (groups that were down: target-role=Stopped) -> the
        cluster probes and must find every group exactly where it runs -> retire the
        tombstoned units -> maintenance mode off; the groups stay where they were."""
        if self.defs.hostgroup.engine is Engine.PACEMAKER:
            raise BadInput(f"host group {self.hostgroup} already uses the pacemaker engine")
        status = self.cluster()
        self._require_cluster_nodes(status)
        if status.maintenance_mode:
            raise Refused("the cluster is in maintenance mode already (someone else's "
                          "maintenance?): end it first")
        present = [g.name for g in self.defs.groups if g.name in status.groups]
        if present:
            raise Refused(f"the cluster already has resources named {', '.join(present)}: "
                          "remove them first")
        with self.admin.locked("migrate --to pacemaker"):
            self._require_all_hosts()
            where = self._systemd_placement()
            steps = [
                "maintenance mode on (the cluster starts, stops and monitors nothing)",
                *[f"[{h}] {g}: hook member marked running" for g, h in where.items()
                  if h and (self._group(g).pre_move or self._group(g).post_move)],
                "tombstones for the active systemd-engine units (stopping them later stops "
                "nothing)",
                f"engine = \"pacemaker\" in {self.basedir / CONFIG_FILE}; sync (Pacemaker "
                "engine units and OCF agents; boot links and guards removed)",
                "push the CIB; groups that are down get target-role=Stopped",
                "the cluster probes: every group must be found exactly where it runs: "
                + ", ".join(f"{g} on {h or '(down)'}" for g, h in where.items()),
                "retire the tombstoned units",
                "maintenance mode off; the groups stay where they are",
            ]
            if dry_run:
                return steps
            self._adopt_by_pacemaker(where, timeout)
            return [f"{g}: {h or 'stopped'} (run by Pacemaker)" for g, h in where.items()]

    def _systemd_placement(self) -> dict[str, str | None]:
        """Every group up on exactly one host, or down everywhere; else refused."""
        problems: list[str] = []
        where: dict[str, str | None] = {}
        view = self.admin.view()
        for group in self.defs.groups:
            seen, unreachable = self.admin.observe(group.name)
            if unreachable:
                problems.append(f"{group.name}: {', '.join(unreachable)} unreachable")
                continue
            active = [h for h, o in seen.items() if o.active]
            failed = [f"{h}: {', '.join(o.failed)}" for h, o in seen.items() if o.failed]
            if len(active) > 1:
                problems.append(f"{group.name} is active on {' and '.join(active)}")
            elif active and not seen[active[0]].fully_up:
                problems.append(f"{group.name} is only partly up on {active[0]}: "
                                f"{', '.join(seen[active[0]].active_parts)}")
            elif failed:
                problems.append(f"{group.name} has failed units ({'; '.join(failed)})")
            elif active and active[0] != assigned_host(group, view.assignments):
                problems.append(f"{group.name} runs on {active[0]} but is assigned to "
                                f"{assigned_host(group, view.assignments)}")
            else:
                where[group.name] = active[0] if active else None
        if problems:
            raise Refused("the host group is not in a clean state, nothing was changed: "
                          + "; ".join(problems))
        return where

    def _adopt_by_pacemaker(self, where: dict[str, str | None], timeout: float) -> None:
        running = {g: h for g, h in where.items() if h}
        old_text: str | None = None
        pushed = False
        crm.set_maintenance(True)
        self.progress("maintenance mode on")
        try:
            for name, host in running.items():
                group = self._group(name)
                if group.pre_move or group.post_move:
                    self.transport.call(host, "hook_state", {"group": name, "active": True})
            by_host: dict[str, list[str]] = {}
            for name, host in running.items():
                by_host.setdefault(host, []).append(name)
            for host, names in by_host.items():
                tombs = self.transport.call(host, "legacy_units",
                                            {"action": "tombstone", "groups": names})
                self.progress(f"[{host}] tombstones: {', '.join(tombs['tombstones'])}")
            old_text = write_engine(self.basedir, Engine.PACEMAKER)
            self._reload()
            number, _synced, missed = self.admin.sync_locked()
            if missed:
                raise OperationFailed(f"sync missed {', '.join(missed)}")
            self.progress(f"engine = \"pacemaker\", generation {number} synced")
            result = cib_apply.apply(self.defs, self.basedir, self.settings)
            pushed = True
            self.progress(f"CIB: {len(result.changes)} change(s) pushed")
            for name in where:
                if where[name] is None:
                    crm.set_target_role(name, "Stopped")
            self._wait_adopted(where, timeout)
            for host in self.hosts:
                retired = self.transport.call(host, "legacy_units", {"action": "retire"})
                if retired["retired"]:
                    self.progress(f"[{host}] retired {', '.join(retired['retired'])}")
        except Exception:
            self._undo_adoption(old_text, pushed)
            raise
        crm.set_maintenance(False)
        self.progress("maintenance mode off")
        settled = crm.wait_idle(timeout)
        after = Placement.of(self.cluster(), list(where))
        moved = [f"{g}: {where[g] or 'stopped'} -> {after.where[g] or 'stopped'}"
                 for g in where if after.where[g] != where[g]]
        if moved or not settled:
            raise OperationFailed("after maintenance mode the cluster changed placements: "
                                  + ("; ".join(moved) or "it did not settle"))

    def _wait_adopted(self, where: dict[str, str | None], timeout: float) -> None:
        crm.wait_idle(timeout)
        deadline = time.monotonic() + timeout
        while True:
            status = self.cluster(full=False)
            wrong = []
            for name, host in where.items():
                state = status.groups.get(name)
                if state is None:
                    wrong.append(f"{name}: not in the status")
                elif host is None and not state.stopped_everywhere:
                    wrong.append(f"{name}: found on {', '.join(state.active_nodes())}")
                elif host is not None and state.fully_on() != host:
                    wrong.append(f"{name}: {_member_line(state)}")
            if not wrong:
                self.progress("the cluster found every group where it runs")
                return
            if time.monotonic() >= deadline:
                raise OperationFailed("the cluster's probes do not find the groups where "
                                      "they run: " + "; ".join(wrong))
            time.sleep(0.5)

    def _undo_adoption(self, old_text: str | None, pushed: bool) -> None:
        """Back to the systemd engine after a failed adoption (maintenance mode on)."""
        self.progress("migration failed: rolling back to the systemd engine")
        try:
            if pushed:
                self._remove_groups_from_cib()
            if old_text is not None:
                write_file_atomic(self.basedir / CONFIG_FILE, old_text, 0o644)
                self._reload()
                self.admin.sync_locked()
            for host in self.hosts:
                self.transport.ask(host, "legacy_units", {"action": "retire"})
            crm.set_maintenance(False)
        except Exception as exc:  # report both: the cause matters more
            self.warn(f"rollback incomplete ({exc}); the cluster stays in maintenance "
                      "mode: check `s2s-sd status` and `crm_mon`")

    def _remove_groups_from_cib(self) -> None:
        """Remove this host group's groups (and their constraints) from the CIB; their
        history too, so that nothing is stopped as an orphan afterwards."""
        without = dataclasses.replace(self.defs, groups=())
        cib_apply.apply(without, self.basedir, self.settings)
        for constraint in crm.cli_constraints_of([g.name for g in self.defs.groups]):
            crm.delete_constraint(constraint.id)
        crm.refresh()
        crm.wait_idle(120)

    def migrate_to_systemd(self, dry_run: bool = False, timeout: float = SETTLE_TIMEOUT
                           ) -> list[str]:
        """Hand the groups from Pacemaker back to the systemd engine, stopping nothing:

        maintenance mode on -> record the assignments where the groups run -> engine =
        "systemd" in s2s.toml, sync without units -> stage the systemd engine's units
        (without the bindings that would stop running services) -> start each running
        group's target where it runs (every start is idempotent: it adopts) -> install the
        full units and boot links -> remove the groups from the CIB and their history ->
        maintenance mode off."""
        if self.defs.hostgroup.engine is not Engine.PACEMAKER:
            raise BadInput(f"host group {self.hostgroup} uses the "
                           f"{self.defs.hostgroup.engine} engine already")
        status = self.cluster()
        self._require_cluster_nodes(status)
        if status.maintenance_mode:
            raise Refused("the cluster is in maintenance mode (someone else's "
                          "maintenance?): end it first")
        with self.admin.locked("migrate --to systemd"):
            self._require_all_hosts()
            where = self._cluster_placement(status)
            steps = [
                "maintenance mode on (the cluster starts, stops and monitors nothing)",
                "record the assignments: " + ", ".join(f"{g} -> {h or '(down)'}"
                                                       for g, h in where.items()),
                f"engine = \"systemd\" in {self.basedir / CONFIG_FILE}; sync (no units yet)",
                "stage the systemd engine's units (running services not bound yet)",
                *[f"[{h}] start {target_name(g)}: adopts what runs" for g, h in where.items()
                  if h],
                "install the full units and boot links on every host",
                "remove the groups from the CIB, and their history",
                "maintenance mode off",
            ]
            if dry_run:
                return steps
            self._adopt_by_systemd(where, timeout)
            return [f"{g}: {h or 'stopped'} (systemd engine)" for g, h in where.items()]

    def _cluster_placement(self, status: ClusterStatus) -> dict[str, str | None]:
        problems: list[str] = []
        where: dict[str, str | None] = {}
        for group in self.defs.groups:
            state = status.groups.get(group.name)
            if state is None:
                problems.append(f"{group.name} is not in the cluster")
                continue
            members = self._members(group)
            failures = status.failures_of(members)
            active = state.active_nodes()
            if failures:
                problems.append(f"{group.name}: " + "; ".join(f.describe() for f in failures))
            elif len(active) > 1:
                problems.append(f"{group.name} is active on {' and '.join(active)}")
            elif active and state.fully_on() is None:
                problems.append(f"{group.name} is only partly up: {_member_line(state)}")
            elif state.unmanaged:
                problems.append(f"{group.name} is not managed by the cluster")
            else:
                where[group.name] = state.fully_on()
        if problems:
            raise Refused("the cluster is not in a clean state, nothing was changed: "
                          + "; ".join(problems))
        return where

    def _adopt_by_systemd(self, where: dict[str, str | None], timeout: float) -> None:
        crm.set_maintenance(True)
        self.progress("maintenance mode on")
        view = self.admin.view()
        assignments = dict(view.assignments)
        for name, host in where.items():
            if host:
                assignments[name] = host
        epoch = view.epoch + 1
        answers = self.transport.ask_many(self.hosts, "set_assignments",
                                          {"epoch": epoch, "assignments": assignments})
        for host, answer in answers.items():
            if not answer.ok:
                raise answer.error or OperationFailed(f"{host}: assignments not recorded")
        self.progress("assignments recorded: " + ", ".join(
            f"{g} -> {h}" for g, h in sorted(assignments.items())))
        write_engine(self.basedir, Engine.SYSTEMD)
        self._reload()
        number, _synced, missed = self.admin.sync_locked(units=False)
        if missed:
            raise OperationFailed(f"sync missed {', '.join(missed)}; the cluster stays in "
                                  "maintenance mode")
        self.progress(f"engine = \"systemd\", generation {number} synced")
        for host, answer in self.transport.ask_many(self.hosts, "stage_systemd_units",
                                                    {}).items():
            if not answer.ok:
                raise answer.error or OperationFailed(f"{host}: staging units failed")
        for name, host in where.items():
            if host is None:
                continue
            result = self.transport.call(host, "start_group",
                                         {"group": name, "generation": number}, timeout=600)
            if not result["ok"]:
                raise OperationFailed(f"{name}: its target did not start on {host} "
                                      f"({result['message']}); the cluster stays in "
                                      "maintenance mode: check, then finish by hand")
            self.progress(f"[{host}] {target_name(name)} active: {name} adopted")
        self._install_everywhere()
        for name in where:
            group = self._group(name)
            if group.pre_move or group.post_move:
                self.transport.ask_many(self.hosts, "hook_state",
                                        {"group": name, "active": False})
        self._remove_groups_from_cib()
        self.progress("groups removed from the CIB")
        crm.set_maintenance(False)
        self.progress("maintenance mode off")
        for name, host in where.items():
            seen, _ = self.admin.observe(name)
            active = [h for h, o in seen.items() if o.active]
            if host and (active != [host] or not seen[host].fully_up):
                raise OperationFailed(f"{name} is not fully up on {host} only after the "
                                      f"migration: active on {', '.join(active) or 'none'}")

