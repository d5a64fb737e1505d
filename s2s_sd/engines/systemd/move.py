"""The systemd engine's move state machine: move (with its rollback), start, stop and
recover of one group across the hosts of its host group.

The one rule above all: a group is never started where it might still run elsewhere.
Every start is preceded by proof that no reachable host runs it and that nobody answers
for its VIPs; an unreachable host that might run it makes s2s-sd refuse (exit 3) unless
the operator forces it, and even then only on ARP/ND silence.

The decisions are the typed plans of move_plan.py (pure); this module runs them: each
kind of step is one method of `MoveRunner`, which follows a plan in order and keeps the
steps it ran (`ran`), so that `move --dry-run` shows the very plan a move follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from s2s_sd.engines.systemd.group_requests import GroupRequests
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts import events
from s2s_sd.hosts.session import ClusterView, HostGroupSession
from s2s_sd.model import Group
from s2s_sd.move_plan import (
    FRAMING,
    AlreadyRuns,
    ArpOnly,
    ClearJournal,
    HookKind,
    Located,
    MoveHook,
    MoveStep,
    Preflight,
    Record,
    RollBack,
    SkipSource,
    StartFailure,
    StartOn,
    StopOn,
    TakeLock,
    Unlock,
    VerifyDown,
    VerifyNowhere,
    WriteJournal,
    journal_step,
    locate,
    move_plan,
    recover_steps,
    rollback_steps,
    start_steps,
)
from s2s_sd.observation import GroupObservation
from s2s_sd.plan import assigned_host, check_move_target


@dataclass
class Run:
    """What one operation's steps share while they run."""

    group: Group
    view: ClusterView  # under the lock; its assignments and epoch follow each record
    generation: int
    stopped: dict[str, dict[str, Any]] = field(default_factory=dict)  # host -> stop answer
    hook_error: OperationFailed | None = None  # a failed post-move hook, said at the end
    # a move: the hosts it could not ask from the start, left to ARP/ND by its rollback too
    unreachable: tuple[str, ...] = ()


class MoveRunner:
    """Moves, starts, stops and recovers groups over a host-group session."""

    def __init__(self, session: HostGroupSession, requests: GroupRequests) -> None:
        self.session = session
        self.requests = requests
        self.ran: list[MoveStep] = []  # the steps run so far, in order

    # -- move ---------------------------------------------------------------------------
    def move(self, group: Group, to: str, dry_run: bool = False, force: bool = False,
             break_lock: bool = False) -> list[MoveStep]:
        """Move GROUP to TO; the steps of its plan (dry_run: the plan, nothing changed)."""
        name = group.name
        check_move_target(self.session.defs, group, to)
        if dry_run:
            where = self._locate(group, self.session.view())
            return list(move_plan(group, to, where, force, self.session.unreachable_reasons))
        with self.session.timings.step("interrupted moves (views)"):
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
        session = self.session
        events.emit(session.hostgroup, events.Event(kind, group.name, None, session.host, reason),
                    events.notify_hook(session.defs, session.basedir), session.basedir)

    def _locate(self, group: Group, view: ClusterView) -> Located:
        """Where the group runs now, asked of every host the view reached."""
        seen, unreachable = self.session.observe(group.name, view.reachable)
        return locate(group, seen, set(unreachable) | set(view.unreachable), view.assignments)

    def _move_locked(self, group: Group, to: str, force: bool) -> list[MoveStep]:
        timings = self.session.timings
        with timings.step("views"):
            view = self.session.view()
        with timings.step("generations"):
            generation = self.session.preflight(view, group.name)
        with timings.step("observe (where it runs)"):
            where = self._locate(group, view)
        plan = move_plan(group, to, where, force, self.session.unreachable_reasons)
        moving = not any(isinstance(step, AlreadyRuns) for step in plan)
        if moving:
            self.session.progress(f"move {group.name}: {where.source or '(not running)'} "
                                  f"-> {to}")
        run = Run(group, view, generation, unreachable=where.unreachable)
        self._follow(plan, run)
        if run.hook_error:
            raise OperationFailed(f"{group.name} runs on {to}, but {run.hook_error}")
        if moving:
            self.session.progress(f"{group.name} runs on {to}")
        return list(plan)

    # -- the plan's interpreter ---------------------------------------------------------
    def _follow(self, steps: Sequence[MoveStep], run: Run) -> None:
        """Run STEPS in order; the lock and the preflight are taken around a plan (it is
        made from what is seen under the lock), not by it."""
        for step in steps:
            if isinstance(step, FRAMING):
                continue
            self.ran.append(step)
            self._step(step, run)

    def _step(self, step: MoveStep, run: Run) -> None:
        match step:
            case AlreadyRuns():
                self.session.progress(f"{run.group.name} already runs fully on {step.host}: "
                                      "keeping it there")
            case SkipSource():
                self.session.warn(f"--force: {step.host} unreachable"
                                  f"{self.session.why([step.host])}, relying on ARP/ND "
                                  "silence")
            case ArpOnly():
                self.session.warn(f"{step.text}{self.session.why(step.hosts)}")
            case WriteJournal():
                self._write_journal(step, run)
            case MoveHook():
                self._hook(step, run)
            case StopOn():
                self._stop_on(step, run)
            case VerifyDown():
                self._verify_down(step, run)
            case VerifyNowhere():
                self._verify_nowhere(step, run)
            case StartOn():
                self._start_on(step, run)
            case Record():
                with self.session.timings.step("record the assignment"):
                    self.session.record(run.view, run.group, step.target)
            case ClearJournal():
                self.session.clear_journal(run.group)
            case RollBack():
                self.session.progress(f"[{step.host}] {step.text}")
            case TakeLock() | Preflight() | Unlock():
                raise AssertionError(f"{step} is done around a plan")  # pragma: no cover

    def _write_journal(self, step: WriteJournal, run: Run) -> None:
        try:
            self.session.journal(step.hosts, run.group, step.source, step.target, step.step,
                                 step.forced)
        except OperationFailed:
            if step.clear_on_failure:
                self.session.clear_journal(run.group)  # nothing changed: nothing to recover
            raise

    def _hook(self, step: MoveHook, run: Run) -> None:
        try:
            self.requests.hook(run.group, step.which.value, step.host, step.source,
                               step.target)
        except OperationFailed as exc:
            if step.which is HookKind.POST_MOVE:
                run.hook_error = exc  # the group runs there: the move stands
                return
            self.session.clear_journal(run.group)  # nothing changed yet: no recovery needed
            raise

    def _stop_on(self, step: StopOn, run: Run) -> None:
        name = run.group.name
        self.session.progress(f"[{step.host}] stop {'the partly started ' * step.partly}"
                              f"{name}")
        run.stopped[step.host] = self.requests.stop(run.group, step.host, run.generation)

    def _verify_down(self, step: VerifyDown, run: Run) -> None:
        """The host's answer to the stop: ok only when nothing of the group runs there."""
        stopped = run.stopped[step.host]
        if not stopped["ok"]:
            parts = GroupObservation.from_dict(stopped["observation"]).active_parts \
                if stopped.get("observation") else []
            name = run.group.name
            raise OperationFailed(f"{name} did not stop on {step.host}: "
                                  f"{stopped['message'] or ', '.join(parts)}; the move "
                                  "stays journaled: see `s2s-sd status`, then "
                                  f"`s2s-sd recover {name}`")

    def _verify_nowhere(self, step: VerifyNowhere, run: Run) -> None:
        self.session.progress("verify: no host runs it, nobody answers for its VIPs")
        try:
            with self.session.timings.step("verify nowhere"):
                self.requests.verify_nowhere(run.group, step.target, skip=step.skip,
                                             admin_probe=step.admin_probe)
        except (Refused, OperationFailed):
            if step.roll_back_to:
                self._follow(rollback_steps(run.group, step.roll_back_to, step.target,
                                            run.unreachable), run)
            elif step.clear_journal:
                self.session.clear_journal(run.group)
            raise

    def _start_on(self, step: StartOn, run: Run) -> None:
        """The one start sequence of move, start, recover and rollback: start; when that
        fails, stop what it left there (if that fails too, the group may be partly up
        there: nothing else may start it and the journal stays for `recover`), then go
        on as the step says."""
        group, host = run.group, step.host
        if step.if_failed is not StartFailure.GIVE_UP:
            self.session.progress(f"[{host}] start {group.name}")
        try:
            started = self.requests.start(group, host, run.generation)
        except OperationFailed as exc:
            if not step.lost_is_failure:
                raise
            started = {"ok": False, "message": str(exc), "observation": None}
        if started["ok"]:
            return
        message = started["message"]
        if step.if_failed is StartFailure.GIVE_UP:
            raise OperationFailed(f"{group.name} failed on {step.failed_on} and could not be "
                                  f"started on {host} again: {message}; the move stays "
                                  f"journaled: `s2s-sd recover {group.name}`")
        self.session.progress(f"[{host}] start failed: {message}")
        self._stop_or_keep_journal(group, host, run.generation)
        reason = message or ", ".join(
            GroupObservation.from_dict(started["observation"]).failed
            if started.get("observation") else []) or "see systemctl status"
        if step.if_failed is StartFailure.ROLL_BACK and step.roll_back_to:
            self._follow(rollback_steps(group, step.roll_back_to, host, run.unreachable),
                         run)
            raise OperationFailed(f"{group.name} failed to start on {host} ({reason}); it "
                                  f"runs on {step.roll_back_to} again")
        if step.if_failed is StartFailure.CLEAR:
            self.session.clear_journal(group)
        raise OperationFailed(f"{group.name} failed to start on {host} ({reason})")

    def _stop_or_keep_journal(self, group: Group, host: str, generation: int) -> None:
        """Stop what a failed start left on `host`; if that fails too, the group may be
        partly up there: nothing else may start it, the journal stays for `recover`."""
        try:
            stopped = self.requests.stop(group, host, generation)
        except OperationFailed as exc:
            stopped = {"ok": False, "message": str(exc)}
        if not stopped["ok"]:
            raise OperationFailed(f"{group.name} failed to start on {host} and could not be "
                                  f"stopped there ({stopped['message']}); nothing else is "
                                  f"started: see `s2s-sd status`, then `s2s-sd recover "
                                  f"{group.name}`")

    # -- start / stop -------------------------------------------------------------------
    def start(self, group: Group, break_lock: bool = False) -> str:
        """Start GROUP on its assigned host, proven down everywhere else first."""
        name = group.name
        self.session.refuse_interrupted(name)
        with self.session.locked(f"start {name}", break_lock):
            view = self.session.view()
            generation = self.session.preflight(view, name)
            host = assigned_host(group, view.assignments)
            def host_lost() -> OperationFailed:
                return OperationFailed(f"{name} is assigned to {host}, which is unreachable"
                                       f"{self.session.why([host])}")

            if host in view.unreachable:
                raise host_lost()
            seen, unreachable = self.session.observe(name, view.reachable)
            unreachable = sorted(set(unreachable) | set(view.unreachable))
            if host not in seen:  # lost since the view
                raise host_lost()
            elsewhere = [h for h, o in seen.items() if o.active and h != host]
            if elsewhere:
                raise Refused(f"{name} is active on {', '.join(elsewhere)}, not on its "
                              f"assigned host {host}: see `s2s-sd status`")
            others = [h for h in unreachable if h != host]
            if others:
                raise Refused(f"{', '.join(others)} unreachable: cannot prove {name} is "
                              f"not active there{self.session.why(others)}")
            # partly up on its host already: started there without a verify
            steps = start_steps(group, host, not seen[host].active, StartFailure.CLEAR)
            self._follow((*steps, ClearJournal()), Run(group, view, generation))
            return host

    def stop(self, group: Group, break_lock: bool = False) -> list[str]:
        """Stop GROUP wherever it is active; the hosts it was stopped on."""
        name = group.name
        self.session.refuse_interrupted(name)
        with self.session.locked(f"stop {name}", break_lock):
            view = self.session.view()
            generation = self.session.preflight(view, name)
            seen, unreachable = self.session.observe(name, view.reachable)
            unreachable = sorted(set(unreachable) | set(view.unreachable))
            active = [h for h, o in seen.items() if o.active]
            stopped = []
            for host in active:
                self.session.progress(f"[{host}] stop {name}")
                result = self.requests.stop(group, host, generation)
                if not result["ok"]:
                    raise OperationFailed(f"{name} did not stop on {host}: {result['message']}")
                stopped.append(host)
            if unreachable:
                raise OperationFailed(
                    f"{name} stopped on {', '.join(stopped) or 'no host'}, but "
                    f"{', '.join(unreachable)} could not be asked: it may still run there"
                    f"{self.session.why(unreachable)}")
            return stopped

    # -- recover ------------------------------------------------------------------------
    def recover(self, group: Group, break_lock: bool = False) -> str:
        """Finish or roll back GROUP's interrupted move from its journaled step; the host
        it runs on."""
        name = group.name
        session = self.session
        view = session.view()
        journals = [j for _, j in view.all_journals() if j.group == name]
        if not journals and view.unreachable:
            # a host that could not be asked may hold the only journal of the move
            raise Refused(f"no interrupted move of {name} is journaled on "
                          f"{', '.join(view.reachable) or 'any host asked'}; not asked: "
                          f"{', '.join(view.unreachable)}{session.why(view.unreachable)}: "
                          "it may be journaled there, recover once they answer")
        if not journals:
            raise BadInput(f"no interrupted move of {name} is journaled on any host")
        journal = max(journals, key=lambda j: j.started)
        step = journal_step(journal.step)
        if step is None:
            raise Refused(f"the interrupted move of {name} is journaled at step "
                          f"'{journal.step}', which this s2s-sd never writes: recover it "
                          "with the s2s-sd version that wrote it")
        # only a move whose admin process is provably gone may be taken over
        admin_alive = session.transport.ask(journal.admin, "pid_alive",
                                            journal.admin_process())
        if not admin_alive.ok:
            raise Refused(f"cannot ask {journal.admin} whether the move of {name} (pid "
                          f"{journal.pid}) is still running: {admin_alive.error}")
        if admin_alive.value()["alive"]:
            raise Refused(f"the move of {name} is still running on {journal.admin} "
                          f"(pid {journal.pid})")
        with session.locked(f"recover {name}", break_lock=break_lock,
                            crashed=(journal.admin, journal.pid)):
            view = session.view()
            session.refuse_frozen(view, name)
            generation = session.check_generations(view)
            seen, unreachable = session.observe(name, view.reachable)
            unreachable = sorted(set(unreachable) | set(view.unreachable))
            if unreachable:
                raise Refused(f"{', '.join(unreachable)} unreachable: cannot recover {name} "
                              f"safely{session.why(unreachable)}")
            steps = recover_steps(group, step, journal.source, journal.target, seen,
                                  view.assignments)
            self._follow(steps, Run(group, view, generation))
            return next(s.target for s in steps if isinstance(s, Record))
