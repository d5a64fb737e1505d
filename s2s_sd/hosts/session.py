"""The host-group session: what every operation across the hosts of a host group needs,
whichever engine runs its groups.

One session per command: the transport to the hosts (handed in by the caller, the
composition root, so that this room never imports the agent or an engine), the admin
lock on every host, the hosts' views of themselves (generations, assignments, journals,
locks, freeze marks), the generation check and the catch-up of hosts that missed an
assignment change, sync, the journal and assignment records, and what a group's members
are doing on each host (observe). It remembers why each unreachable host could not be
asked, so that every message naming such a host can say why, and collects warnings.

Used by the systemd engine's moves (engines/systemd/), its guard, the Pacemaker
engine (its lock, generations, sync and observations during live apply and migration),
kits relocation and `host remove`.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from s2s_sd.errors import OperationFailed, Refused
from s2s_sd.hosts import freeze, state, sync
from s2s_sd.hosts import lock as locks
from s2s_sd.hosts.archive import content_digest, pack
from s2s_sd.hosts.transport import Answer, HostUnreachable, Transport
from s2s_sd.model import Definitions, Group
from s2s_sd.move_plan import JournalStep, because
from s2s_sd.observation import GroupObservation
from s2s_sd.timings import Timings

Progress = Callable[[str], None]
Clock = Callable[[], float]


def quiet(_text: str) -> None:
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


class HostGroupSession:
    """One command's dealings with the hosts of a host group (see the module's text)."""

    def __init__(self, defs: Definitions, basedir: Path, host: str, transport: Transport,
                 progress: Progress = quiet, clock: Clock = time.time,
                 on_warning: Progress = quiet, timings: Timings | None = None) -> None:
        self.defs = defs
        self.basedir = basedir
        self.host = host
        self.hostgroup = defs.hostgroup.name
        self.hosts = list(defs.hostgroup.host_names)
        self.transport = transport
        self.progress = progress
        self.on_warning = on_warning  # the CLI prints them as s2s-sd: warning: ...
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

    def __enter__(self) -> HostGroupSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

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
        return because(self.unreachable_reasons, hosts)

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

    # -- views, generations -------------------------------------------------------------
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
        """Before acting on GROUP (None: on the host group): not frozen, the same
        generation everywhere, every host's assignments current, no interrupted move.
        The generation's number."""
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
        """What of GROUP runs on each host asked; and the hosts that could not be asked."""
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

    # -- the journal and the assignment records -----------------------------------------
    def journal(self, hosts: Sequence[str], group: Group, source: str | None, target: str,
                step: JournalStep, forced: bool = False) -> None:
        """Write how far an operation on GROUP got on HOSTS and this host; the target's
        and this host's copies must be written."""
        journal = state.Journal(group=group.name, source=source, target=target,
                                step=step.value, admin=self.host, pid=os.getpid(),
                                started=self.clock(), forced=forced,
                                pid_started=locks.process_start(os.getpid()),
                                boot_id=locks.boot_id() or None)
        targets = sorted(set(hosts) | {self.host})
        with self.timings.step(f"journal {step.value}"):
            answers = self.transport.ask_many(targets, "journal_write",
                                              {"journal": journal.as_dict()})
        for host, answer in answers.items():
            if not answer.ok and host in (self.host, target):
                raise answer.error or OperationFailed(f"{host}: journal not written")

    def clear_journal(self, group: Group) -> None:
        with self.timings.step("clear the journal"):
            self.transport.ask_many(self.hosts, "journal_clear", {"group": group.name})

    def record(self, view: ClusterView, group: Group, host: str) -> None:
        """GROUP is assigned to HOST from now on: the next epoch on every host."""
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
