"""Operations across the hosts of a host group (systemd engine): sync, move, start,
stop, status, recover, and the guard's question to the other hosts.

The one rule above all: a group is never started where it might still run elsewhere.
Every start is preceded by proof that no reachable host runs it and that nobody answers
for its VIPs; an unreachable host that might run it makes s2s-sd refuse (exit 3) unless
the operator forces it, and even then only on ARP/ND silence.
"""

# Size: about 800 lines, kept whole in this round (issue 12) so that the move, start, stop
# and status changes of parallel branches merge by rename. It splits next: the host-group
# session (lock, views, generations, catch-up, journal and assignment records) into
# hosts/session.py, shared with the Pacemaker engine and kits relocation; the move state
# machine (move, rollback, recover) into move.py behind the typed move plan; the guard
# into guard.py.

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s2s_sd.engines.in_process import in_process_transport, open_session
from s2s_sd.engines.systemd.units import system_booting
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts import events, freeze, state
from s2s_sd.hosts import lock as locks
from s2s_sd.hosts.session import ClusterView
from s2s_sd.hosts.start_watch import member_progress
from s2s_sd.hosts.transport import Answer, HostUnreachable, Transport
from s2s_sd.model import Definitions, Engine, Group
from s2s_sd.observation import GroupObservation, UnitHealth
from s2s_sd.plan import (
    FORWARD_STEPS,
    MoveInProgress,
    Step,
    assigned_host,
    check_move_target,
    guard_verdict,
    move_steps,
    recovery_host,
    vips_lead,
)
from s2s_sd.timings import Timings

if TYPE_CHECKING:  # imported where used: the guard of a move starts without them
    from s2s_sd.status import HostAnswer, StatusReport

Progress = Callable[[str], None]
Clock = Callable[[], float]
JOURNAL_TRUST_SECONDS = 600
# journal steps in which the journal's target may start the group: the admin has just
# proven it down everywhere else
STARTING_STEPS = frozenset(FORWARD_STEPS)


def _quiet(_text: str) -> None:
    return None


class Admin:
    """The administering host's side of cross-host operations."""

    def __init__(self, defs: Definitions, basedir: Path, host: str,
                 progress: Progress = _quiet, transport: Transport | None = None,
                 clock: Clock = time.time, on_warning: Progress = _quiet,
                 watch_starts: bool = False, timings: Timings | None = None) -> None:
        self.defs = defs
        self.basedir = basedir
        self.host = host
        self.hostgroup = defs.hostgroup.name
        self.hosts = list(defs.hostgroup.host_names)
        self.progress = progress
        self.session = open_session(defs, basedir, host, transport=transport,
                                    progress=progress, clock=clock, on_warning=on_warning,
                                    timings=timings)
        # watch_starts: a second transport polls the member states while a start runs
        # (hosts/start_watch.py), for a line per member as it comes up
        self.watcher = in_process_transport(defs, basedir, host) if watch_starts else None

    @property
    def transport(self) -> Transport:
        return self.session.transport

    @property
    def timings(self) -> Timings:
        return self.session.timings

    @property
    def warnings(self) -> list[str]:
        return self.session.warnings

    def warn(self, text: str) -> None:
        self.session.warn(text)

    def why(self, hosts: Sequence[str | None]) -> str:
        return self.session.why(hosts)

    # the Pacemaker engine's ClusterAdmin borrows these until it holds its own session
    def locked(self, operation: str, break_lock: bool = False) -> ContextManager[list[str]]:
        return self.session.locked(operation, break_lock)

    def view(self) -> ClusterView:
        return self.session.view()

    def check_generations(self, view: ClusterView) -> int:
        return self.session.check_generations(view)

    def observe(self, group: str) -> tuple[dict[str, GroupObservation], list[str]]:
        return self.session.observe(group)

    def sync_locked(self, units: bool = True) -> tuple[int, list[str], list[str]]:
        return self.session.sync_locked(units)

    def close(self) -> None:
        self.session.close()
        if self.watcher is not None:
            self.watcher.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _require_systemd_engine(self, what: str) -> None:
        if self.defs.hostgroup.engine is not Engine.SYSTEMD:
            raise BadInput(f"{what}: host group {self.hostgroup} uses the "
                           f"{self.defs.hostgroup.engine} engine")

    def _group(self, name: str) -> Group:
        group = self.defs.group(name)
        if group is None:
            raise BadInput(f"group '{name}' is not defined in {self.basedir}")
        return group

    def _start(self, group: Group, host: str, generation: int) -> dict[str, Any]:
        if self.watcher is None:
            return self._group_op("start", group, host, generation)
        with member_progress(self.watcher, group, host, self.progress) as seen_by_start:
            result = self._group_op("start", group, host, generation)
            seen_by_start(result.get("observation"))
            return result

    def _stop(self, group: Group, host: str, generation: int) -> dict[str, Any]:
        return self._group_op("stop", group, host, generation)

    def _group_op(self, verb: str, group: Group, host: str, generation: int
                  ) -> dict[str, Any]:
        """start_group or stop_group on host, timed: the request as the admin saw it,
        then what the host measured (its phases, each unit's own start or stop)."""
        with self.timings.step(f"{verb} {group.name}", host):
            result = self.transport.call(host, f"{verb}_group",
                                         {"group": group.name, "generation": generation},
                                         timeout=3600)
        for phase, seconds in dict(result.get("phases") or {}).items():
            self.timings.add(phase, host, float(seconds), detail=True)
        self.timings.add_members(host, dict(result.get("seconds") or {}),
                                 "started" if verb == "start" else "stopped")
        return result

    def _hook(self, group: Group, which: str, host: str, source: str | None,
              target: str) -> None:
        if getattr(group, which) is None:
            return
        self.progress(f"[{host}] {which.replace('_', '-')} hook {getattr(group, which)}")
        with self.timings.step(f"{which.replace('_', '-')} hook", host):
            self.transport.call(host, "run_hook", {"group": group.name, "which": which,
                                                   "source": source, "target": target})

    def _probe(self, group: Group, host: str) -> dict[str, str | None]:
        answers: dict[str, str | None] = self.transport.call(
            host, "probe_vips", {"group": group.name})["answers"]
        return answers

    def _verify_nowhere(self, group: Group, target: str, skip: Sequence[str] = (),
                        vips_probe_themselves: bool = False) -> None:
        """Nothing of the group runs on any host asked, and nobody answers ARP/ND for its
        VIPs. vips_probe_themselves: a move whose source is proven down, of a group whose
        VIP members all come first: their own probes are that proof (plan.vips_lead)."""
        seen, _ = self.session.observe(group.name, [h for h in self.hosts if h not in skip],
                               scripts=True)
        still = {h: o.active_parts for h, o in seen.items() if o.active}
        if still:
            raise Refused("the group is still active: " + "; ".join(
                f"{h}: {', '.join(parts)}" for h, parts in still.items()))
        if vips_probe_themselves and vips_lead(group):
            return  # each VIP's own probe proves it, before anything of the group starts
        answering = {a: mac for a, mac in self._probe(group, target).items() if mac}
        if answering:
            raise Refused("somebody still answers for the VIPs: " + ", ".join(
                f"{a} by MAC {mac}" for a, mac in answering.items()))

    # -- move ---------------------------------------------------------------------------
    def move(self, name: str, to: str, dry_run: bool = False, force: bool = False,
             break_lock: bool = False) -> list[Step]:
        self._require_systemd_engine("move")
        group = self._group(name)
        check_move_target(self.defs, group, to)
        if dry_run:
            return self._move_plan(group, to, force)
        with self.timings.step("interrupted moves (views)"):
            self.session.refuse_interrupted(name)
        with self.session.locked(f"move {name} --to {to}", break_lock):
            try:
                steps = self._move_locked(group, to, force)
            except OperationFailed as exc:
                self._event("move-failed", group, str(exc))
                raise
            self._event("moved", group, f"{group.name} runs on {to}")
            return steps

    def _event(self, kind: str, group: Group, reason: str) -> None:
        """An event of the group on the admin host: actions.log and the notify hook."""
        events.emit(self.hostgroup, events.Event(kind, group.name, None, self.host, reason),
                    events.notify_hook(self.defs, self.basedir), self.basedir)

    def _locate(self, group: Group, view: ClusterView) -> tuple[str | None, bool,
                                                                dict[str, GroupObservation],
                                                                list[str]]:
        """Where the group runs now: (source host or None, source reachable, obs, unreachable)."""
        seen, unreachable = self.session.observe(group.name, view.reachable)
        unreachable = sorted(set(unreachable) | set(view.unreachable))
        active = [h for h, o in seen.items() if o.active]
        if len(active) > 1:
            raise Refused(f"group {group.name} is active on {' and '.join(active)}: "
                          "resolve that first (see `s2s-sd status`)")
        assigned = assigned_host(group, view.assignments)
        if active:
            return active[0], True, seen, unreachable
        if assigned in unreachable:
            return assigned, False, seen, unreachable
        return None, True, seen, unreachable

    def _move_plan(self, group: Group, to: str, force: bool) -> list[Step]:
        view = self.session.view()
        source, reachable, _, _ = self._locate(group, view)
        return move_steps(group, source, to, reachable, force)

    def _move_locked(self, group: Group, to: str, force: bool) -> list[Step]:
        with self.timings.step("views"):
            view = self.session.view()
        with self.timings.step("generations"):
            generation = self.session.preflight(view, group.name)
        with self.timings.step("observe (where it runs)"):
            source, source_reachable, seen, unreachable = self._locate(group, view)
        steps = move_steps(group, source, to, source_reachable, force)
        if to in unreachable:
            raise Refused(f"{to} is unreachable{self.why([to])}: nothing was changed")
        if source == to and seen.get(to) and seen[to].fully_up:
            self.progress(f"{group.name} already runs on {to}")
            if assigned_host(group, view.assignments) != to:
                self.session.record(view, group, to)
            return steps
        if not source_reachable:
            if not force:
                raise Refused(f"{group.name} is assigned to {source}, which is unreachable"
                              f"{self.why([source])}: "
                              "the group cannot be proven stopped there; if that host is "
                              "really down, use --force")
            self.warn(f"--force: {source} unreachable{self.why([source])}, relying on "
                      "ARP/ND silence")
        others = [h for h in unreachable if h != source and h in group.hosts]
        if others:
            self.warn(f"{', '.join(others)} unreachable: checked by ARP/ND only"
                      f"{self.why(others)}")
        self.progress(f"move {group.name}: {source or '(not running)'} -> {to}")
        involved = [h for h in (source, to) if h and h not in unreachable]
        try:
            self.session.journal(involved, group, source, to, "stopping", force)
        except OperationFailed:
            self.session.clear_journal(group)  # nothing changed yet: leave nothing to recover
            raise
        moving_source = source if source and source != to and source_reachable else None
        if moving_source:
            try:
                self._hook(group, "pre_move", moving_source, source, to)
            except OperationFailed:
                self.session.clear_journal(group)  # nothing changed yet: no recovery needed
                raise
            self.progress(f"[{moving_source}] stop {group.name}")
            stopped = self._stop(group, moving_source, generation)
            if not stopped["ok"]:
                parts = GroupObservation.from_dict(stopped["observation"]).active_parts
                raise OperationFailed(f"{group.name} did not stop on {moving_source}: "
                                      f"{stopped['message'] or ', '.join(parts)}; the move "
                                      "stays journaled: see `s2s-sd status`, then "
                                      f"`s2s-sd recover {group.name}`")
        elif source == to:
            # partly up on the target itself: stop it cleanly before a fresh start
            self._stop(group, to, generation)
        self.progress("verify: no host runs it, nobody answers for its VIPs")
        try:
            with self.timings.step("verify nowhere"):
                # a forced move (source unreachable) is refused on the admin's own probe
                self._verify_nowhere(group, to, skip=unreachable,
                                     vips_probe_themselves=source_reachable)
        except (Refused, OperationFailed):
            if moving_source:
                self._rollback(view, group, moving_source, to, generation)
            else:
                self.session.clear_journal(group)
            raise
        self.session.journal(involved, group, source, to, "starting", force)
        self.progress(f"[{to}] start {group.name}")
        try:
            started = self._start(group, to, generation)
        except OperationFailed as exc:  # the target went away while starting
            started = {"ok": False, "message": str(exc), "observation": None}
        if not started["ok"]:
            self.progress(f"[{to}] start failed: {started['message']}")
            self._stop_or_keep_journal(group, to, generation)
            reason = started["message"] or ", ".join(
                GroupObservation.from_dict(started["observation"]).failed)
            if moving_source:
                self._rollback(view, group, moving_source, to, generation)
                raise OperationFailed(f"{group.name} failed to start on {to} ({reason}); it "
                                      f"runs on {moving_source} again")
            self.session.clear_journal(group)
            raise OperationFailed(f"{group.name} failed to start on {to} ({reason})")
        self.session.journal(involved, group, source, to, "post_move", force)
        hook_error = None
        try:
            self._hook(group, "post_move", to, source, to)
        except OperationFailed as exc:
            hook_error = exc
        with self.timings.step("record the assignment"):
            self.session.record(view, group, to)
        self.session.clear_journal(group)
        if hook_error:
            raise OperationFailed(f"{group.name} runs on {to}, but {hook_error}")
        self.progress(f"{group.name} runs on {to}")
        return steps

    def _stop_or_keep_journal(self, group: Group, host: str, generation: int) -> None:
        """Stop what a failed start left on `host`; if that fails too, the group may be
        partly up there: nothing else may start it, the journal stays for `recover`."""
        try:
            stopped = self._stop(group, host, generation)
        except OperationFailed as exc:
            stopped = {"ok": False, "message": str(exc)}
        if not stopped["ok"]:
            raise OperationFailed(f"{group.name} failed to start on {host} and could not be "
                                  f"stopped there ({stopped['message']}); nothing else is "
                                  f"started: see `s2s-sd status`, then `s2s-sd recover "
                                  f"{group.name}`")

    def _rollback(self, view: ClusterView, group: Group, source: str, target: str,
                  generation: int) -> None:
        self.progress(f"[{source}] roll back: start {group.name} on {source} again")
        self._verify_nowhere(group, source)
        self.session.journal([source, target], group, target, source, "rollback")
        restarted = self._start(group, source, generation)
        if not restarted["ok"]:
            raise OperationFailed(f"{group.name} failed on {target} and could not be started "
                                  f"on {source} again: {restarted['message']}; the move stays "
                                  f"journaled: `s2s-sd recover {group.name}`")
        self.session.record(view, group, source)
        self.session.clear_journal(group)

    # -- start / stop -------------------------------------------------------------------
    def start(self, name: str, break_lock: bool = False) -> str:
        self._require_systemd_engine("start")
        group = self._group(name)
        self.session.refuse_interrupted(name)
        with self.session.locked(f"start {name}", break_lock):
            view = self.session.view()
            generation = self.session.preflight(view, name)
            host = assigned_host(group, view.assignments)
            if host in view.unreachable:
                raise OperationFailed(f"{name} is assigned to {host}, which is unreachable"
                                      f"{self.why([host])}")
            seen, unreachable = self.session.observe(name, view.reachable)
            unreachable = sorted(set(unreachable) | set(view.unreachable))
            elsewhere = [h for h, o in seen.items() if o.active and h != host]
            if elsewhere:
                raise Refused(f"{name} is active on {', '.join(elsewhere)}, not on its "
                              f"assigned host {host}: see `s2s-sd status`")
            others = [h for h in unreachable if h != host]
            if others:
                raise Refused(f"{', '.join(others)} unreachable: cannot prove {name} is "
                              f"not active there{self.why(others)}")
            if not seen[host].active:
                self._verify_nowhere(group, host)
            self.session.journal([host], group, None, host, "starting")
            self.progress(f"[{host}] start {name}")
            result = self._start(group, host, generation)
            if not result["ok"]:
                # as in a move: if the stop fails too, the journal stays for `recover`
                self._stop_or_keep_journal(group, host, generation)
                self.session.clear_journal(group)
                raise OperationFailed(f"{name} failed to start on {host}: "
                                      f"{result['message'] or 'see systemctl status'}")
            self.session.clear_journal(group)
            return host

    def stop(self, name: str, break_lock: bool = False) -> list[str]:
        self._require_systemd_engine("stop")
        group = self._group(name)
        self.session.refuse_interrupted(name)
        with self.session.locked(f"stop {name}", break_lock):
            view = self.session.view()
            generation = self.session.preflight(view, name)
            seen, unreachable = self.session.observe(name, view.reachable)
            unreachable = sorted(set(unreachable) | set(view.unreachable))
            active = [h for h, o in seen.items() if o.active]
            stopped = []
            for host in active:
                self.progress(f"[{host}] stop {name}")
                result = self._stop(group, host, generation)
                if not result["ok"]:
                    raise OperationFailed(f"{name} did not stop on {host}: {result['message']}")
                stopped.append(host)
            if unreachable:
                raise OperationFailed(
                    f"{name} stopped on {', '.join(stopped) or 'no host'}, but "
                    f"{', '.join(unreachable)} could not be asked: it may still run there"
                    f"{self.why(unreachable)}")
            return stopped

    # -- recover ------------------------------------------------------------------------
    def recover(self, name: str, break_lock: bool = False) -> str:
        self._require_systemd_engine("recover")
        group = self._group(name)
        view = self.session.view()
        journals = [j for _, j in view.all_journals() if j.group == name]
        if not journals and view.unreachable:
            # a host that could not be asked may hold the only journal of the move
            raise Refused(f"no interrupted move of {name} is journaled on "
                          f"{', '.join(view.reachable) or 'any host asked'}; not asked: "
                          f"{', '.join(view.unreachable)}{self.why(view.unreachable)}: it "
                          "may be journaled there, recover once they answer")
        if not journals:
            raise BadInput(f"no interrupted move of {name} is journaled on any host")
        journal = max(journals, key=lambda j: j.started)
        # only a move whose admin process is provably gone may be taken over
        admin_alive = self.transport.ask(journal.admin, "pid_alive", journal.admin_process())
        if not admin_alive.ok:
            raise Refused(f"cannot ask {journal.admin} whether the move of {name} (pid "
                          f"{journal.pid}) is still running: {admin_alive.error}")
        if admin_alive.value()["alive"]:
            raise Refused(f"the move of {name} is still running on {journal.admin} "
                          f"(pid {journal.pid})")
        with self.session.locked(f"recover {name}", break_lock=break_lock,
                         crashed=(journal.admin, journal.pid)):
            view = self.session.view()
            self.session.refuse_frozen(view, name)
            generation = self.session.check_generations(view)
            seen, unreachable = self.session.observe(name, view.reachable)
            unreachable = sorted(set(unreachable) | set(view.unreachable))
            if unreachable:
                raise Refused(f"{', '.join(unreachable)} unreachable: cannot recover {name} "
                              f"safely{self.why(unreachable)}")
            active = [h for h, o in seen.items() if o.active]
            if len(active) > 1:
                raise Refused(f"{name} is active on {' and '.join(active)}: stop it on all but "
                              "one host by hand, then recover")
            if active and seen[active[0]].fully_up:
                host = active[0]
                self.progress(f"{name} runs fully on {host}: keeping it there")
            else:
                for partial in active:
                    self.progress(f"[{partial}] stop the partly started {name}")
                    stopped = self._stop(group, partial, generation)
                    if not stopped["ok"]:
                        raise OperationFailed(f"{name} could not be stopped on {partial}: "
                                              f"{stopped['message']}")
                host = recovery_host(journal.step, journal.source, journal.target)
                if host not in group.hosts:
                    host = assigned_host(group, view.assignments)
                self._verify_nowhere(group, host)
                self.session.journal([host], group, None, host, "starting")
                self.progress(f"[{host}] start {name}")
                result = self._start(group, host, generation)
                if not result["ok"]:
                    self._stop_or_keep_journal(group, host, generation)
                    raise OperationFailed(f"{name} failed to start on {host}: "
                                          f"{result['message']}")
            self.session.record(view, group, host)
            self.session.clear_journal(group)
            return host

    # -- freeze, cleanup ----------------------------------------------------------------
    def freeze(self, name: str, frozen: bool, break_lock: bool = False) -> list[str]:
        """Write (frozen) or remove the group's freeze mark on every host, under the admin
        lock; the hosts that hold the mark now. A host that cannot be reached makes it
        Refused, naming where the mark is and where it may or may not be."""
        self._require_systemd_engine("freeze" if frozen else "unfreeze")
        group = self._group(name)
        verb = "freeze" if frozen else "unfreeze"
        with self.session.locked(f"{verb} {name}", break_lock):
            answers = self.session.noted(self.transport.ask_many(
                self.hosts, "set_frozen", {"group": group.name, "frozen": frozen,
                                           "by": self.host}))
        done = [h for h, a in answers.items() if a.ok]
        missed = [h for h, a in answers.items() if not a.ok]
        holding = done if frozen else []
        if missed:
            errors = "; ".join(f"{h}: {answers[h].error}" for h in missed)
            raise Refused(f"{verb} of {name} is incomplete: {errors}. The freeze mark is "
                          f"on {', '.join(holding) or 'no host that answered'}"
                          f"{'' if frozen else ' (removed on ' + ', '.join(done) + ')'}; "
                          f"unknown on {', '.join(missed)}: run `s2s-sd {verb} {name}` "
                          "again once they answer")
        return holding

    def cleanup(self, name: str) -> dict[str, list[str]]:
        """Clear the group's failed units and restart counts on every host of the group
        (systemctl reset-failed); host -> the units that were failed there."""
        self._require_systemd_engine("cleanup")
        group = self._group(name)
        hosts = [h for h in self.hosts if h in group.hosts]
        answers = self.session.noted(self.transport.ask_many(hosts, "cleanup_group",
                                                     {"group": group.name}))
        missed = [h for h, a in answers.items() if not a.ok]
        if missed:
            raise OperationFailed(f"cleanup of {name} not done on {', '.join(missed)}"
                                  f"{self.why(missed)}")
        return {h: list(a.value()["failed"]) for h, a in answers.items()}

    # -- status -------------------------------------------------------------------------
    def status(self) -> StatusReport:
        """One request per host (its state and what runs there), then the report."""
        answers = self.transport.ask_many(self.hosts, "observe",
                                          {"scripts": True, "hostgroup": self.hostgroup,
                                           "health": True})
        from s2s_sd.hosts.drill_run import read_drill_records
        from s2s_sd.status import build_systemd

        return build_systemd(self.defs, self.host,
                             {h: _host_answer(a) for h, a in answers.items()},
                             read_drill_records(self.hostgroup))


def _host_answer(answer: Answer) -> HostAnswer:
    from s2s_sd.status import HostAnswer

    if answer.unreachable:
        assert isinstance(answer.error, HostUnreachable)
        return HostAnswer(unreachable=answer.error.reason)
    if answer.error is not None:
        return HostAnswer(failed=str(answer.error))
    value = answer.value()
    return HostAnswer({g: GroupObservation.from_dict(o) for g, o in value["groups"].items()},
                      value["state"], {u: UnitHealth.from_dict(h)
                                       for u, h in value.get("health", {}).items()})


# -- the guard's cross-host question ----------------------------------------------------

def guard(defs: Definitions, basedir: Path, host: str, group_name: str,
          transport: Transport | None = None, clock: Clock = time.time,
          pid_alive: Callable[[int, int | None, str | None], bool] = locks.process_alive,
          booting: Callable[[], bool] = system_booting) -> str:
    """Return why `group_name` may start on this host, or raise Refused.

    Without a current journal of a move to this host, every other host is asked in one
    round trip: what runs there (the guard unit included, so two guards racing both
    refuse), its assignments (the newest epoch wins over this host's, which may have
    missed a move while it was down), its journals and its admin lock."""
    hostgroup = defs.hostgroup.name
    if freeze.is_frozen(hostgroup, group_name) and booting():
        # frozen: s2s-sd starts nothing of it, so neither does boot; a start by hand (the
        # operator's maintenance) goes on to the checks below: never two actives
        mark = freeze.read_marks(hostgroup).get(group_name)
        raise Refused(f"{group_name} is frozen ({mark.describe() if mark else 'marked'}): "
                      f"not started at boot; unfreeze it first (`s2s-sd unfreeze "
                      f"{group_name}`)")
    journal = state.read_journal(hostgroup, group_name)
    move = None
    if journal is not None and _journal_current(journal, host, clock(), pid_alive):
        if journal.step not in STARTING_STEPS:
            raise Refused(f"a move of {group_name} ({journal.source or '-'} -> "
                          f"{journal.target}) is in progress, step {journal.step}")
        move = MoveInProgress(journal.group, journal.source or "-", journal.target)
    local = state.read_assignment_state(hostgroup)
    verdict = guard_verdict(defs, group_name, host, local.groups, move)
    if not verdict.allowed:
        raise Refused(verdict.reason)
    if move is not None:
        return verdict.reason  # the admin proved the group down everywhere just before
    with open_session(defs, basedir, host, transport=transport, clock=clock) as session:
        peers = [h for h in session.hosts if h != host]
        answers = session.transport.ask_many(peers, "observe", {
            "groups": [group_name], "scripts": True, "hostgroup": hostgroup})
    unreachable = [h for h, a in answers.items() if not a.ok]
    if unreachable:
        raise Refused(f"{', '.join(unreachable)} unreachable: cannot prove {group_name} is "
                      "not active there (start it with `s2s-sd start` once they answer, or "
                      "move it with --force)")
    newest = local
    active = []
    for peer, answer in answers.items():
        value = answer.value()
        peer_state = value["state"]
        if int(peer_state["epoch"]) > newest.epoch:
            newest = state.Assignments(int(peer_state["epoch"]), dict(peer_state["assignments"]))
        for raw in peer_state.get("journals", []):
            if raw.get("group") == group_name:
                raise Refused(f"a move of {group_name} is journaled on {peer}")
        held = peer_state.get("lock")
        if held and (held["operation"] == "sync" or group_name in held["operation"].split()):
            raise Refused(f"an admin operation is in progress: {held['operation']!r} by "
                          f"{held['host']}")
        if GroupObservation.from_dict(value["groups"][group_name]).active:
            active.append(peer)
    if active:
        raise Refused(f"{group_name} is active on {', '.join(active)}")
    verdict = guard_verdict(defs, group_name, host, newest.groups)
    if not verdict.allowed:
        raise Refused(verdict.reason)
    return verdict.reason + "; not active on " + (", ".join(peers) or "any other host")


def _journal_current(journal: state.Journal, host: str, now: float,
                     pid_alive: Callable[[int, int | None, str | None], bool]) -> bool:
    """A journal entry gives permission only while its move is alive and recent."""
    if now - journal.started > JOURNAL_TRUST_SECONDS:
        return False
    if journal.admin == host:
        return pid_alive(journal.pid, journal.pid_started, journal.boot_id)
    return True
