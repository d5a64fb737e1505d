"""The systemd engine's administering host: one `Admin` per command, over one host-group
session (hosts/session.py); moves, starts, stops and recovers through the move state
machine (move.py), freezes, cleans up and reports status itself.

Where the rest is: the guard's cross-host question in guard.py, the requests about one
group to one host (start, stop, hooks, VIP probe, proof that it runs nowhere) in
group_requests.py, the lock, views, generations, journal and assignment records in the
session.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from s2s_sd.engines.in_process import in_process_transport, open_session
from s2s_sd.engines.systemd.group_requests import GroupRequests
from s2s_sd.engines.systemd.move import MoveRunner
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts.session import Clock, Progress, quiet
from s2s_sd.hosts.transport import Answer, HostUnreachable, Transport
from s2s_sd.model import Definitions, Engine, Group
from s2s_sd.move_plan import MoveStep
from s2s_sd.observation import GroupObservation, UnitHealth
from s2s_sd.timings import Timings

if TYPE_CHECKING:  # imported where used: `s2s-sd guard` starts without them
    from s2s_sd.status import HostAnswer, StatusReport


class Admin:
    """The administering host's side of the systemd engine's cross-host operations."""

    def __init__(self, defs: Definitions, basedir: Path, host: str,
                 progress: Progress = quiet, transport: Transport | None = None,
                 clock: Clock = time.time, on_warning: Progress = quiet,
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
        watcher = in_process_transport(defs, basedir, host) if watch_starts else None
        self.requests = GroupRequests(self.session, watcher)
        self.moves = MoveRunner(self.session, self.requests)

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

    def close(self) -> None:
        self.session.close()
        if self.requests.watcher is not None:
            self.requests.watcher.close()

    def __enter__(self) -> Admin:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _systemd_group(self, what: str, name: str) -> Group:
        """The group NAME of a systemd-engine host group (bad input otherwise)."""
        if self.defs.hostgroup.engine is not Engine.SYSTEMD:
            raise BadInput(f"{what}: host group {self.hostgroup} uses the "
                           f"{self.defs.hostgroup.engine} engine")
        group = self.defs.group(name)
        if group is None:
            raise BadInput(f"group '{name}' is not defined in {self.basedir}")
        return group

    # -- the move state machine (move.py) -----------------------------------------------
    def move(self, name: str, to: str, dry_run: bool = False, force: bool = False,
             break_lock: bool = False) -> list[MoveStep]:
        return self.moves.move(self._systemd_group("move", name), to, dry_run=dry_run,
                               force=force, break_lock=break_lock)

    def start(self, name: str, break_lock: bool = False) -> str:
        return self.moves.start(self._systemd_group("start", name), break_lock)

    def stop(self, name: str, break_lock: bool = False) -> list[str]:
        return self.moves.stop(self._systemd_group("stop", name), break_lock)

    def recover(self, name: str, break_lock: bool = False) -> str:
        return self.moves.recover(self._systemd_group("recover", name), break_lock)

    # -- freeze, cleanup ----------------------------------------------------------------
    def freeze(self, name: str, frozen: bool, break_lock: bool = False) -> list[str]:
        """Write (frozen) or remove the group's freeze mark on every host, under the admin
        lock; the hosts that hold the mark now. A host that cannot be reached makes it
        Refused, naming where the mark is and where it may or may not be."""
        group = self._systemd_group("freeze" if frozen else "unfreeze", name)
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
        group = self._systemd_group("cleanup", name)
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
        with self.timings.step("ask every host (observe, state, health)"):
            answers = self.transport.ask_many(self.hosts, "observe", {
                "scripts": True, "hostgroup": self.hostgroup, "health": True})
        for host, answer in answers.items():  # what each spent on it (status --timings)
            self.timings.add_host(host, answer.value().get("seconds", {}) if answer.ok else {},
                                  remote=host != self.host)
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
