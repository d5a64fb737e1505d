"""The systemd engine's move state machine: move (with its rollback), start, stop and
recover of one group across the hosts of its host group.

The one rule above all: a group is never started where it might still run elsewhere.
Every start is preceded by proof that no reachable host runs it and that nobody answers
for its VIPs; an unreachable host that might run it makes s2s-sd refuse (exit 3) unless
the operator forces it, and even then only on ARP/ND silence.
"""

from __future__ import annotations

from s2s_sd.engines.systemd.group_requests import GroupRequests
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts import events
from s2s_sd.hosts.session import ClusterView, HostGroupSession
from s2s_sd.model import Group
from s2s_sd.observation import GroupObservation
from s2s_sd.plan import Step, assigned_host, check_move_target, move_steps, recovery_host


class MoveRunner:
    """Moves, starts, stops and recovers groups over a host-group session."""

    def __init__(self, session: HostGroupSession, requests: GroupRequests) -> None:
        self.session = session
        self.requests = requests

    # -- move ---------------------------------------------------------------------------
    def move(self, group: Group, to: str, dry_run: bool = False, force: bool = False,
             break_lock: bool = False) -> list[Step]:
        name = group.name
        check_move_target(self.session.defs, group, to)
        if dry_run:
            return self._move_plan(group, to, force)
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
        with self.session.timings.step("views"):
            view = self.session.view()
        with self.session.timings.step("generations"):
            generation = self.session.preflight(view, group.name)
        with self.session.timings.step("observe (where it runs)"):
            source, source_reachable, seen, unreachable = self._locate(group, view)
        steps = move_steps(group, source, to, source_reachable, force)
        if to in unreachable:
            raise Refused(f"{to} is unreachable{self.session.why([to])}: nothing was changed")
        if source == to and seen.get(to) and seen[to].fully_up:
            self.session.progress(f"{group.name} already runs on {to}")
            if assigned_host(group, view.assignments) != to:
                self.session.record(view, group, to)
            return steps
        if not source_reachable:
            if not force:
                raise Refused(f"{group.name} is assigned to {source}, which is unreachable"
                              f"{self.session.why([source])}: "
                              "the group cannot be proven stopped there; if that host is "
                              "really down, use --force")
            self.session.warn(f"--force: {source} unreachable{self.session.why([source])}, "
                              "relying on ARP/ND silence")
        others = [h for h in unreachable if h != source and h in group.hosts]
        if others:
            self.session.warn(f"{', '.join(others)} unreachable: checked by ARP/ND only"
                      f"{self.session.why(others)}")
        self.session.progress(f"move {group.name}: {source or '(not running)'} -> {to}")
        involved = [h for h in (source, to) if h and h not in unreachable]
        try:
            self.session.journal(involved, group, source, to, "stopping", force)
        except OperationFailed:
            self.session.clear_journal(group)  # nothing changed yet: leave nothing to recover
            raise
        moving_source = source if source and source != to and source_reachable else None
        if moving_source:
            try:
                self.requests.hook(group, "pre_move", moving_source, source, to)
            except OperationFailed:
                self.session.clear_journal(group)  # nothing changed yet: no recovery needed
                raise
            self.session.progress(f"[{moving_source}] stop {group.name}")
            stopped = self.requests.stop(group, moving_source, generation)
            if not stopped["ok"]:
                parts = GroupObservation.from_dict(stopped["observation"]).active_parts
                raise OperationFailed(f"{group.name} did not stop on {moving_source}: "
                                      f"{stopped['message'] or ', '.join(parts)}; the move "
                                      "stays journaled: see `s2s-sd status`, then "
                                      f"`s2s-sd recover {group.name}`")
        elif source == to:
            # partly up on the target itself: stop it cleanly before a fresh start
            self.requests.stop(group, to, generation)
        self.session.progress("verify: no host runs it, nobody answers for its VIPs")
        try:
            with self.session.timings.step("verify nowhere"):
                # a forced move (source unreachable) is refused on the admin's own probe
                self.requests.verify_nowhere(group, to, skip=unreachable,
                                     vips_probe_themselves=source_reachable)
        except (Refused, OperationFailed):
            if moving_source:
                self._rollback(view, group, moving_source, to, generation)
            else:
                self.session.clear_journal(group)
            raise
        self.session.journal(involved, group, source, to, "starting", force)
        self.session.progress(f"[{to}] start {group.name}")
        try:
            started = self.requests.start(group, to, generation)
        except OperationFailed as exc:  # the target went away while starting
            started = {"ok": False, "message": str(exc), "observation": None}
        if not started["ok"]:
            self.session.progress(f"[{to}] start failed: {started['message']}")
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
            self.requests.hook(group, "post_move", to, source, to)
        except OperationFailed as exc:
            hook_error = exc
        with self.session.timings.step("record the assignment"):
            self.session.record(view, group, to)
        self.session.clear_journal(group)
        if hook_error:
            raise OperationFailed(f"{group.name} runs on {to}, but {hook_error}")
        self.session.progress(f"{group.name} runs on {to}")
        return steps

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

    def _rollback(self, view: ClusterView, group: Group, source: str, target: str,
                  generation: int) -> None:
        self.session.progress(f"[{source}] roll back: start {group.name} on {source} again")
        self.requests.verify_nowhere(group, source)
        self.session.journal([source, target], group, target, source, "rollback")
        restarted = self.requests.start(group, source, generation)
        if not restarted["ok"]:
            raise OperationFailed(f"{group.name} failed on {target} and could not be started "
                                  f"on {source} again: {restarted['message']}; the move stays "
                                  f"journaled: `s2s-sd recover {group.name}`")
        self.session.record(view, group, source)
        self.session.clear_journal(group)

    # -- start / stop -------------------------------------------------------------------
    def start(self, group: Group, break_lock: bool = False) -> str:
        name = group.name
        self.session.refuse_interrupted(name)
        with self.session.locked(f"start {name}", break_lock):
            view = self.session.view()
            generation = self.session.preflight(view, name)
            host = assigned_host(group, view.assignments)
            if host in view.unreachable:
                raise OperationFailed(f"{name} is assigned to {host}, which is unreachable"
                                      f"{self.session.why([host])}")
            seen, unreachable = self.session.observe(name, view.reachable)
            unreachable = sorted(set(unreachable) | set(view.unreachable))
            elsewhere = [h for h, o in seen.items() if o.active and h != host]
            if elsewhere:
                raise Refused(f"{name} is active on {', '.join(elsewhere)}, not on its "
                              f"assigned host {host}: see `s2s-sd status`")
            others = [h for h in unreachable if h != host]
            if others:
                raise Refused(f"{', '.join(others)} unreachable: cannot prove {name} is "
                              f"not active there{self.session.why(others)}")
            if not seen[host].active:
                self.requests.verify_nowhere(group, host)
            self.session.journal([host], group, None, host, "starting")
            self.session.progress(f"[{host}] start {name}")
            result = self.requests.start(group, host, generation)
            if not result["ok"]:
                # as in a move: if the stop fails too, the journal stays for `recover`
                self._stop_or_keep_journal(group, host, generation)
                self.session.clear_journal(group)
                raise OperationFailed(f"{name} failed to start on {host}: "
                                      f"{result['message'] or 'see systemctl status'}")
            self.session.clear_journal(group)
            return host

    def stop(self, group: Group, break_lock: bool = False) -> list[str]:
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
        name = group.name
        view = self.session.view()
        journals = [j for _, j in view.all_journals() if j.group == name]
        if not journals and view.unreachable:
            # a host that could not be asked may hold the only journal of the move
            raise Refused(f"no interrupted move of {name} is journaled on "
                          f"{', '.join(view.reachable) or 'any host asked'}; not asked: "
                          f"{', '.join(view.unreachable)}{self.session.why(view.unreachable)}: it "
                          "may be journaled there, recover once they answer")
        if not journals:
            raise BadInput(f"no interrupted move of {name} is journaled on any host")
        journal = max(journals, key=lambda j: j.started)
        # only a move whose admin process is provably gone may be taken over
        admin_alive = self.session.transport.ask(journal.admin, "pid_alive",
                                                 journal.admin_process())
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
                              f"safely{self.session.why(unreachable)}")
            active = [h for h, o in seen.items() if o.active]
            if len(active) > 1:
                raise Refused(f"{name} is active on {' and '.join(active)}: stop it on all but "
                              "one host by hand, then recover")
            if active and seen[active[0]].fully_up:
                host = active[0]
                self.session.progress(f"{name} runs fully on {host}: keeping it there")
            else:
                for partial in active:
                    self.session.progress(f"[{partial}] stop the partly started {name}")
                    stopped = self.requests.stop(group, partial, generation)
                    if not stopped["ok"]:
                        raise OperationFailed(f"{name} could not be stopped on {partial}: "
                                              f"{stopped['message']}")
                host = recovery_host(journal.step, journal.source, journal.target)
                if host not in group.hosts:
                    host = assigned_host(group, view.assignments)
                self.requests.verify_nowhere(group, host)
                self.session.journal([host], group, None, host, "starting")
                self.session.progress(f"[{host}] start {name}")
                result = self.requests.start(group, host, generation)
                if not result["ok"]:
                    self._stop_or_keep_journal(group, host, generation)
                    raise OperationFailed(f"{name} failed to start on {host}: "
                                          f"{result['message']}")
            self.session.record(view, group, host)
            self.session.clear_journal(group)
            return host

