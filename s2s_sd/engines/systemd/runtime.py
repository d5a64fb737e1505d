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

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s2s_sd.engines.systemd.units import system_booting
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts import events, freeze, state, sync
from s2s_sd.hosts import lock as locks
from s2s_sd.hosts.archive import content_digest, pack
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


@dataclass
class ClusterView:
    """What the hosts said about themselves: generations, assignments, journals, locks."""

    answers: dict[str, Answer]
    assignments: dict[str, str] = field(default_factory=dict)
    epoch: int = 0

    @property
    def unreachable(self) -> list[str]:
        return [h for h, a in self.answers.items() if not a.ok]

    @property
    def reachable(self) -> list[str]:
        return [h for h, a in self.answers.items() if a.ok]

    def value(self, host: str) -> dict[str, Any]:
        return self.answers[host].value()

    def all_journals(self) -> list[tuple[str, state.Journal]]:
        """Every journaled operation on every reachable host (one per host and group)."""
        found = []
        for host in self.reachable:
            for raw in self.value(host).get("journals", []):
                found.append((host, state.Journal.from_dict(raw)))
        return found

    def frozen(self, group: str) -> dict[str, freeze.FrozenMark]:
        """The reachable hosts that hold the group's freeze mark -> the mark."""
        return {h: freeze.FrozenMark.from_dict(self.value(h)["frozen"][group])
                for h in self.reachable if group in self.value(h).get("frozen", {})}

    def journals(self) -> dict[str, state.Journal]:
        """One journal per host (the first), for callers that only ask whether any."""
        found: dict[str, state.Journal] = {}
        for host, journal in self.all_journals():
            found.setdefault(host, journal)
        return found


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
        self.on_warning = on_warning  # the CLI prints them as s2s-sd: warning: ...
        from s2s_sd.agent.core_ops import AgentContext
        from s2s_sd.agent.dispatch import dispatch

        context = AgentContext(basedir=basedir, host=host, _defs=defs)

        def in_process(op: str, args: Mapping[str, Any]) -> dict[str, Any]:
            return dispatch(context, op, args)

        self.transport = transport or Transport(defs, host, basedir, in_process)
        # watch_starts: a second transport polls the member states while a start runs
        # (hosts/start_watch.py), for a line per member as it comes up
        self.watcher = Transport(defs, host, basedir, in_process) if watch_starts else None
        self.clock = clock  # injectable so the unit tier runs without waiting or drift
        # where the time of an operation goes (`move --timings`); always kept, cheap
        self.timings = timings or Timings()
        self.token = uuid.uuid4().hex
        self.warnings: list[str] = []
        self._crashed: tuple[str, int] | None = None  # recover: the crashed admin
        # ssh's reason for every host found unreachable, for the messages that name it
        self.unreachable_reasons: dict[str, str] = {}

    def close(self) -> None:
        self.transport.close()
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

    def noted(self, answers: dict[str, Answer]) -> dict[str, Answer]:
        """The answers, with the reason of every host that could not answer remembered
        (ssh's, or the host's own error, e.g. this host's "systemd is not running")."""
        for host, answer in answers.items():
            if isinstance(answer.error, HostUnreachable):
                self.unreachable_reasons[host] = answer.error.reason
            elif answer.error is not None:
                self.unreachable_reasons[host] = str(answer.error)
        return answers

    def why(self, hosts: Sequence[str | None]) -> str:
        """ssh's reasons for the unreachable hosts of a message, to end it with:
        ` (n2: ssh: connect to host n2 port 22: Connection refused)`, or nothing."""
        known = [f"{h}: {self.unreachable_reasons[h]}" for h in hosts
                 if h in self.unreachable_reasons]
        return f" ({'; '.join(known)})" if known else ""

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.on_warning(text)

    # -- lock ---------------------------------------------------------------------------
    @contextmanager
    def locked(self, operation: str, break_lock: bool = False,
               crashed: tuple[str, int] | None = None) -> Iterator[list[str]]:
        """Hold the admin lock on every reachable host (taken in sorted order).
        crashed: (host, pid) of a crashed admin whose lock may be broken (recover)."""
        self._crashed = crashed
        info = replace(locks.LockInfo.for_this_process(self.host, operation, self.token),
                       since=self.clock())
        taken: list[str] = []
        unreachable: list[str] = []
        # the lock is taken host by host (in one order, so two admins cannot each hold a
        # part); a host not contacted yet is reached first, all at once, so that dead hosts
        # cost one overlapping connect timeout, not one each in turn
        self.noted(self.transport.first_contact(self.hosts, "state",
                                                {"hostgroup": self.hostgroup}))
        began = time.monotonic()
        try:
            for host in sorted(self.hosts):
                answer = self._acquire(host, info, break_lock)
                if answer is None:
                    unreachable.append(host)
                else:
                    taken.append(host)
            if self.host not in taken:
                raise Refused(f"could not take the admin lock on this host ({self.host})")
            if unreachable:
                self.warn(f"lock not taken on unreachable host(s) {', '.join(unreachable)}"
                          f"{self.why(unreachable)}")
            self.timings.add("lock", None, time.monotonic() - began)
            yield taken
        finally:
            with self.timings.step("unlock"):
                self.transport.ask_many(taken, "lock_release",
                                        {"hostgroup": self.hostgroup, "token": self.token})

    def _acquire(self, host: str, info: locks.LockInfo, break_lock: bool) -> bool | None:
        args: dict[str, Any] = {"hostgroup": self.hostgroup, "lock": info.as_dict()}
        answer = self.transport.ask(host, "lock_acquire", args)
        self.noted({host: answer})
        if answer.unreachable:
            return None
        held_raw = answer.value()["held"]
        if held_raw is None:
            return True
        held = locks.LockInfo.from_dict(held_raw)
        alive = self._holder_alive(held, answer.value().get("holder_alive", False), host)
        if alive is True:
            raise Refused(f"the admin lock is held by {held.describe()}")
        crashed_own = alive is False and self._crashed == (held.host, held.pid)
        if alive is None or not (break_lock or crashed_own):
            why = "its holder is gone" if alive is False else f"its host {held.host} is " \
                  "unreachable, so it may be stale"
            raise Refused(f"the admin lock on {host} is held by {held.describe()}; {why}: "
                          "check, then break it with --break-lock")
        # provably stale: its holder's process is gone (and the user said so, or it is the
        # lock of the crashed move being recovered)
        self.progress(f"breaking the stale admin lock on {host}: {held.describe()}")
        answer = self.transport.ask(host, "lock_acquire", {**args, "break_token": held.token})
        if answer.value()["held"] is not None:
            raise Refused(f"the admin lock on {host} was taken meanwhile")
        return True

    def _holder_alive(self, held: locks.LockInfo, reported: bool, where: str) -> bool | None:
        """True/False when provable, None when the holder's host cannot be asked."""
        if held.host == where:
            return bool(reported)
        if held.host not in self.hosts:
            return False
        answer = self.transport.ask(held.host, "pid_alive", {
            "pid": held.pid, "started": held.started, "boot_id": held.boot_id})
        if not answer.ok:
            return None
        return bool(answer.value()["alive"])

    # -- state --------------------------------------------------------------------------
    def view(self, hosts: Sequence[str] | None = None) -> ClusterView:
        wanted = list(hosts or self.hosts)
        args = {"hostgroup": self.hostgroup}
        # a command's first view is its first contact with the hosts: all at once, so the
        # connect timeouts of dead hosts overlap, and they are not waited for again
        first = self.transport.first_contact(wanted, "state", args)
        later = self.transport.ask_many([h for h in wanted if h not in first], "state",
                                        args, timeout=30)
        answers = {h: first[h] if h in first else later[h] for h in wanted}
        return self._view_from(self.noted(answers))

    def _view_from(self, answers: dict[str, Answer]) -> ClusterView:
        view = ClusterView(answers)
        best = -1
        for host in view.reachable:
            data = view.value(host)
            if int(data["epoch"]) > best:
                best = int(data["epoch"])
                view.assignments = dict(data["assignments"])
                view.epoch = best
        return view

    def generation(self) -> sync.Generation:
        """The admin host's generation; refuse when there is none or its base dir changed
        since: acting on hosts needs the same definitions everywhere."""
        mine = sync.read_generation(self.hostgroup)
        if mine.number == 0:
            raise Refused(f"{self.basedir} was never synced: run `s2s-sd sync` first, so "
                          "that every host acts on the same definitions")
        if mine.digest != content_digest(self.basedir):
            raise Refused(f"the definitions in {self.basedir} changed since generation "
                          f"{mine.number} was synced: run `s2s-sd sync` first")
        return mine

    def refuse_frozen(self, view: ClusterView, group: str) -> None:
        """A frozen group is left alone: move, start, stop and recover are refused."""
        marks = view.frozen(group)
        if marks:
            first = min(marks.values(), key=lambda m: m.since)
            raise Refused(f"{group} is frozen ({first.describe()}; marked on "
                          f"{', '.join(sorted(marks))}): unfreeze it first "
                          f"(`s2s-sd unfreeze {group}`)")

    def preflight(self, view: ClusterView, group: str | None) -> int:
        if group is not None:
            self.refuse_frozen(view, group)
        number = self.check_generations(view)
        self.catch_up(view)
        for host, journal in view.all_journals():
            if group is None or journal.group == group:
                raise Refused(f"an interrupted move of {journal.group} "
                              f"({journal.source or '-'} -> {journal.target}, step "
                              f"{journal.step}) is journaled on {host}: run "
                              f"`s2s-sd recover {journal.group}`")
        return number

    def refuse_interrupted(self, group: str) -> None:
        """Before taking the lock: an interrupted move of this group (whose crashed admin
        may also have left its lock) is for `recover`, and said so first."""
        for host, journal in self.view().all_journals():
            if journal.group != group:
                continue
            alive = self.transport.ask(journal.admin, "pid_alive", journal.admin_process())
            if alive.ok and alive.value()["alive"]:
                raise Refused(f"a move of {group} ({journal.source or '-'} -> "
                              f"{journal.target}) is in progress, run by {journal.admin} pid "
                              f"{journal.pid}")
            raise Refused(f"an interrupted move of {group} ({journal.source or '-'} -> "
                          f"{journal.target}, step {journal.step}) is journaled on {host}: "
                          f"run `s2s-sd recover {group}`")

    def catch_up(self, view: ClusterView) -> None:
        """Hosts that missed an assignment change (they were down) get the newest."""
        behind = [h for h in view.reachable if int(view.value(h)["epoch"]) < view.epoch]
        if behind:
            self.transport.ask_many(behind, "set_assignments",
                                    {"epoch": view.epoch, "assignments": view.assignments})
            self.progress(f"assignments brought up to date on {', '.join(behind)}")

    def check_generations(self, view: ClusterView) -> int:
        mine = self.generation()
        number = mine.number
        stale = []
        for host in view.reachable:
            data = view.value(host)
            theirs = int(data["generation"])
            if theirs != number:
                stale.append(f"{host} has generation {theirs}, this host {number}")
            elif data["digest"] != mine.digest:
                stale.append(f"{host} has another generation {number} (a sync from "
                             "elsewhere)")
            elif data.get("digest_actual", mine.digest) != mine.digest:
                stale.append(f"{host}: its base dir was changed by hand since generation "
                             f"{number}")
        if stale:
            raise Refused("configuration generations differ: " + "; ".join(stale)
                          + ": run `s2s-sd sync` first")
        return number

    def observe(self, group: str, hosts: Sequence[str] | None = None,
                scripts: bool = True) -> tuple[dict[str, GroupObservation], list[str]]:
        answers = self.noted(self.transport.ask_many(list(hosts or self.hosts), "observe",
                                                     {"groups": [group], "scripts": scripts}))
        seen: dict[str, GroupObservation] = {}
        unreachable: list[str] = []
        for host, answer in answers.items():
            if answer.ok:
                seen[host] = GroupObservation.from_dict(answer.value()["groups"][group])
            elif answer.unreachable:
                unreachable.append(host)
            else:
                raise answer.error or OperationFailed(f"{host}: observe failed")
        return seen, unreachable

    def _journal(self, hosts: Sequence[str], group: Group, source: str | None, target: str,
                 step: str, forced: bool = False) -> None:
        journal = state.Journal(group=group.name, source=source, target=target, step=step,
                                admin=self.host, pid=os.getpid(), started=self.clock(),
                                forced=forced, pid_started=locks.process_start(os.getpid()),
                                boot_id=locks.boot_id() or None)
        targets = sorted(set(hosts) | {self.host})
        with self.timings.step(f"journal {step}"):
            answers = self.transport.ask_many(targets, "journal_write",
                                              {"journal": journal.as_dict()})
        for host, answer in answers.items():
            if not answer.ok and host in (self.host, target):
                raise answer.error or OperationFailed(f"{host}: journal not written")

    def _clear_journal(self, group: Group) -> None:
        with self.timings.step("clear the journal"):
            self.transport.ask_many(self.hosts, "journal_clear", {"group": group.name})

    def _record(self, view: ClusterView, group: Group, host: str) -> None:
        assignments = dict(view.assignments)
        assignments[group.name] = host
        epoch = view.epoch + 1
        answers = self.transport.ask_many(self.hosts, "set_assignments",
                                          {"epoch": epoch, "assignments": assignments})
        refused = [h for h, a in answers.items() if a.ok and not a.value().get("written")]
        if refused:
            self.warn(f"{', '.join(refused)} kept a newer or different assignment map: see "
                      "`s2s-sd status`")
        missed = [h for h, a in self.noted(answers).items() if not a.ok]
        if missed:
            self.warn(f"assignment not recorded on {', '.join(missed)} (unreachable): "
                      f"they catch up at the next move or sync{self.why(missed)}")
        view.assignments, view.epoch = assignments, epoch

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
        seen, _ = self.observe(group.name, [h for h in self.hosts if h not in skip],
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
            self.refuse_interrupted(name)
        with self.locked(f"move {name} --to {to}", break_lock):
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
        seen, unreachable = self.observe(group.name, view.reachable)
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
        view = self.view()
        source, reachable, _, _ = self._locate(group, view)
        return move_steps(group, source, to, reachable, force)

    def _move_locked(self, group: Group, to: str, force: bool) -> list[Step]:
        with self.timings.step("views"):
            view = self.view()
        with self.timings.step("generations"):
            generation = self.preflight(view, group.name)
        with self.timings.step("observe (where it runs)"):
            source, source_reachable, seen, unreachable = self._locate(group, view)
        steps = move_steps(group, source, to, source_reachable, force)
        if to in unreachable:
            raise Refused(f"{to} is unreachable{self.why([to])}: nothing was changed")
        if source == to and seen.get(to) and seen[to].fully_up:
            self.progress(f"{group.name} already runs on {to}")
            if assigned_host(group, view.assignments) != to:
                self._record(view, group, to)
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
            self._journal(involved, group, source, to, "stopping", force)
        except OperationFailed:
            self._clear_journal(group)  # nothing changed yet: leave nothing to recover
            raise
        moving_source = source if source and source != to and source_reachable else None
        if moving_source:
            try:
                self._hook(group, "pre_move", moving_source, source, to)
            except OperationFailed:
                self._clear_journal(group)  # nothing changed yet: no recovery needed
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
                self._clear_journal(group)
            raise
        self._journal(involved, group, source, to, "starting", force)
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
            self._clear_journal(group)
            raise OperationFailed(f"{group.name} failed to start on {to} ({reason})")
        self._journal(involved, group, source, to, "post_move", force)
        hook_error = None
        try:
            self._hook(group, "post_move", to, source, to)
        except OperationFailed as exc:
            hook_error = exc
        with self.timings.step("record the assignment"):
            self._record(view, group, to)
        self._clear_journal(group)
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
        self._journal([source, target], group, target, source, "rollback")
        restarted = self._start(group, source, generation)
        if not restarted["ok"]:
            raise OperationFailed(f"{group.name} failed on {target} and could not be started "
                                  f"on {source} again: {restarted['message']}; the move stays "
                                  f"journaled: `s2s-sd recover {group.name}`")
        self._record(view, group, source)
        self._clear_journal(group)

    # -- start / stop -------------------------------------------------------------------
    def start(self, name: str, break_lock: bool = False) -> str:
        self._require_systemd_engine("start")
        group = self._group(name)
        self.refuse_interrupted(name)
        with self.locked(f"start {name}", break_lock):
            view = self.view()
            generation = self.preflight(view, name)
            host = assigned_host(group, view.assignments)
            if host in view.unreachable:
                raise OperationFailed(f"{name} is assigned to {host}, which is unreachable"
                                      f"{self.why([host])}")
            seen, unreachable = self.observe(name, view.reachable)
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
            self._journal([host], group, None, host, "starting")
            self.progress(f"[{host}] start {name}")
            result = self._start(group, host, generation)
            if not result["ok"]:
                # as in a move: if the stop fails too, the journal stays for `recover`
                self._stop_or_keep_journal(group, host, generation)
                self._clear_journal(group)
                raise OperationFailed(f"{name} failed to start on {host}: "
                                      f"{result['message'] or 'see systemctl status'}")
            self._clear_journal(group)
            return host

    def stop(self, name: str, break_lock: bool = False) -> list[str]:
        self._require_systemd_engine("stop")
        group = self._group(name)
        self.refuse_interrupted(name)
        with self.locked(f"stop {name}", break_lock):
            view = self.view()
            generation = self.preflight(view, name)
            seen, unreachable = self.observe(name, view.reachable)
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
        view = self.view()
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
        with self.locked(f"recover {name}", break_lock=break_lock,
                         crashed=(journal.admin, journal.pid)):
            view = self.view()
            self.refuse_frozen(view, name)
            generation = self.check_generations(view)
            seen, unreachable = self.observe(name, view.reachable)
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
                self._journal([host], group, None, host, "starting")
                self.progress(f"[{host}] start {name}")
                result = self._start(group, host, generation)
                if not result["ok"]:
                    self._stop_or_keep_journal(group, host, generation)
                    raise OperationFailed(f"{name} failed to start on {host}: "
                                          f"{result['message']}")
            self._record(view, group, host)
            self._clear_journal(group)
            return host

    # -- freeze, cleanup ----------------------------------------------------------------
    def freeze(self, name: str, frozen: bool, break_lock: bool = False) -> list[str]:
        """Write (frozen) or remove the group's freeze mark on every host, under the admin
        lock; the hosts that hold the mark now. A host that cannot be reached makes it
        Refused, naming where the mark is and where it may or may not be."""
        self._require_systemd_engine("freeze" if frozen else "unfreeze")
        group = self._group(name)
        verb = "freeze" if frozen else "unfreeze"
        with self.locked(f"{verb} {name}", break_lock):
            answers = self.noted(self.transport.ask_many(
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
        answers = self.noted(self.transport.ask_many(hosts, "cleanup_group",
                                                     {"group": group.name}))
        missed = [h for h, a in answers.items() if not a.ok]
        if missed:
            raise OperationFailed(f"cleanup of {name} not done on {', '.join(missed)}"
                                  f"{self.why(missed)}")
        return {h: list(a.value()["failed"]) for h, a in answers.items()}

    # -- sync ---------------------------------------------------------------------------
    def sync(self, break_lock: bool = False) -> tuple[int, list[str], list[str]]:
        """Copy the base dir to every host as a new generation; (number, synced, missed).
        A base dir that cannot be synced is refused before the lock is taken."""
        pack(self.basedir)
        with self.locked("sync", break_lock):
            return self.sync_locked()

    def sync_locked(self, units: bool = True) -> tuple[int, list[str], list[str]]:
        """sync, for a caller that holds the lock already. units=False: the hosts install
        the configuration but not its units (the caller does that in its own steps)."""
        view = self.view()
        numbers = [int(view.value(h)["generation"]) for h in view.reachable]
        packed = pack(self.basedir)
        digest = packed.digest
        current = sync.read_generation(self.hostgroup)
        up_to_date = all(view.value(h)["digest"] == digest for h in view.reachable)
        if up_to_date and current.digest == digest and not view.unreachable and \
                len(set(numbers)) == 1 and current.number:
            return current.number, view.reachable, []
        number = max([current.number, *numbers]) + 1
        archive = base64.b64encode(packed.archive).decode("ascii")
        args = {"hostgroup": self.hostgroup, "generation": number, "digest": digest,
                "archive": archive, "units": units}
        answers = self.noted(self.transport.ask_many(self.hosts, "receive_config", args,
                                                     timeout=300))
        synced, missed = [], []
        for host, answer in answers.items():
            if answer.ok:
                synced.append(host)
            elif answer.unreachable:
                missed.append(host)
                self.warn(f"{host} unreachable{self.why([host])}: it keeps its old "
                          "generation and refuses to act until synced")
            else:
                raise answer.error or OperationFailed(f"{host}: sync failed")
        return number, synced, missed

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
    with Admin(defs, basedir, host, transport=transport, clock=clock) as admin:
        peers = [h for h in admin.hosts if h != host]
        answers = admin.transport.ask_many(peers, "observe", {
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
