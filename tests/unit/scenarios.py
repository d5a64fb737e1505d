"""The phrases of the admin's conversations with the hosts, for the scenario tables of
tests/unit/test_*_scenarios.py: each builder returns the requests (and scripted answers)
of one step of the systemd engine's moves (engines/systemd/move.py, hosts/session.py), so
a scenario reads as the steps it goes through.

The host group is examples/ (c07: n1, n2, n3) at generation 7; the admin runs on n3,
a host that is neither the source nor the target of the moves, unless a case says so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import BadInput, OperationFailed, Refused, S2SError
from s2s_sd.hosts import sync
from s2s_sd.hosts.archive import content_digest
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions, Group, IpService
from tests.conftest import EXAMPLES
from tests.unit.fake_transport import (
    ANY,
    Expect,
    Reply,
    ScriptedTransport,
    journal_entry,
    observation,
    ok,
    state_result,
    unreachable,
)

HOSTGROUP = "c07"
HOSTS = ("n1", "n2", "n3")
ADMIN = "n3"
GENERATION = 7
EPOCH = 3
NOW = 1_000_000.0
CRASHED_PID = 4242  # the pid of an admin that crashed mid-move (journals name it)
MAC = "52:54:00:12:34:56"
ASSIGNED = {"censhare": "n1", "ora": "n2", "web": "n3"}


@cache
def definitions(host: str = ADMIN) -> Definitions:
    return load_definitions(EXAMPLES, host)


@cache
def digest() -> str:
    return content_digest(EXAMPLES)


def group(name: str) -> Group:
    found = definitions().group(name)
    assert found is not None
    return found


@contextmanager
def local_state() -> Iterator[Path]:
    """This host's own state in a private tmp dir, for the duration of one scenario:
    generation 7 of examples/, synced (the admin compares it with the hosts')."""
    with tempfile.TemporaryDirectory(prefix="s2s-sd-scenario-") as tmp, \
            mock.patch.dict(os.environ, {"S2S_SD_STATEDIR": f"{tmp}/state",
                                         "S2S_SD_LOGDIR": f"{tmp}/log"}):
        sync.record_local(HOSTGROUP, GENERATION, EXAMPLES)
        yield Path(tmp) / "state"


def exit_class(error: BaseException) -> type[S2SError]:
    """The class that decides the exit code (2, 1, 3)."""
    for kind in (BadInput, Refused, OperationFailed):
        if isinstance(error, kind):
            return kind
    raise AssertionError(f"not an s2s-sd error: {error!r}") from error


# -- what the hosts hold ------------------------------------------------------------------

@dataclass(frozen=True)
class World:
    """The hosts before the scenario: who is down, the records each host keeps."""

    down: tuple[str, ...] = ()
    assignments: Mapping[str, str] = field(default_factory=lambda: dict(ASSIGNED))
    journals: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)
    locks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    generations: Mapping[str, int] = field(default_factory=dict)
    epochs: Mapping[str, int] = field(default_factory=dict)  # a host that missed a move
    # host -> group -> freeze mark ({since, by}) that host holds
    frozen: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    @property
    def up(self) -> tuple[str, ...]:
        return tuple(h for h in HOSTS if h not in self.down)

    def reply(self, host: str) -> Reply:
        if host in self.down:
            return unreachable()
        return ok(state_result(host, self.generations.get(host, GENERATION), digest(),
                               self.epochs.get(host, EPOCH), self.assignments,
                               self.journals.get(host, ()), self.locks.get(host),
                               self.frozen.get(host)))

    def transport(self, admin: str = ADMIN) -> ScriptedTransport:
        transport = ScriptedTransport(definitions(admin), admin)
        transport.seed(self.journals, {h: self.assignments for h in HOSTS})
        return transport


def assigned_everywhere(group_name: str, host: str | None,
                        but: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
    """The expected records: `host` on every host, except where `but` says otherwise."""
    return {h: (but or {}).get(h, host) for h in HOSTS}


# -- the phrases --------------------------------------------------------------------------

def states(world: World, hosts: Iterable[str] = HOSTS) -> list[Expect]:
    """HostGroupSession.view(): every host's state in one round."""
    return [Expect(h, "state", {"hostgroup": HOSTGROUP}, world.reply(h)) for h in hosts]


def locked(world: World, operation: str, admin: str = ADMIN) -> list[Expect]:
    """HostGroupSession.locked(): the lock taken on every reachable host, in sorted order."""
    return [Expect(h, "lock_acquire",
                   {"hostgroup": HOSTGROUP, "lock": {"host": admin, "operation": operation}},
                   unreachable() if h in world.down else ok({"held": None,
                                                             "holder_alive": False}))
            for h in sorted(HOSTS)]


def unlocked(hosts: Iterable[str]) -> list[Expect]:
    return [Expect(h, "lock_release", {"hostgroup": HOSTGROUP, "token": ANY},
                   ok({"released": True})) for h in hosts]


def observed(group_name: str, seen: Mapping[str, str | None]) -> list[Expect]:
    """HostGroupSession.observe(): host -> "up"/"down"/"partial"/"failed", None: unreachable."""
    return [Expect(h, "observe", {"groups": [group_name], "scripts": True},
                   unreachable() if how is None else ok(
                       {"host": h, "groups": {group_name: observation(group(group_name),
                                                                      how)}}))
            for h, how in seen.items()]


def everywhere(how: str = "down", but: Mapping[str, str | None] | None = None,
               hosts: Iterable[str] = HOSTS) -> dict[str, str | None]:
    return {h: (but or {}).get(h, how) for h in hosts}


def probed(group_name: str, host: str, answering: bool = False) -> list[Expect]:
    """GroupRequests.probe(): who answers ARP/ND for the group's VIPs, asked from `host`."""
    vips = [s.address.split("/")[0] for s in group(group_name).services
            if isinstance(s, IpService)]
    return [Expect(host, "probe_vips", {"group": group_name},
                   ok({"answers": {v: MAC if answering else None for v in vips}}))]


def verified(group_name: str, target: str, seen: Mapping[str, str | None] | None = None,
             answering: bool = False) -> list[Expect]:
    """GroupRequests.verify_nowhere(): nothing runs anywhere, nobody answers for the VIPs."""
    seen = everywhere() if seen is None else seen
    quiet = all(how in ("down", "failed", None) for how in seen.values())
    return observed(group_name, seen) + (probed(group_name, target, answering) if quiet
                                         else [])


def journaled(hosts: Iterable[str], group_name: str, source: str | None, target: str,
              step: str, admin: str = ADMIN, down: Iterable[str] = ()) -> list[Expect]:
    """HostGroupSession.journal(): the step written on the involved hosts and the admin's own."""
    entry = {"group": group_name, "source": source, "target": target, "step": step,
             "admin": admin}
    return [Expect(h, "journal_write", {"journal": entry},
                   unreachable() if h in down else ok({"written": True}))
            for h in sorted(set(hosts) | {admin})]


def journal_cleared(group_name: str, down: Iterable[str] = ()) -> list[Expect]:
    return [Expect(h, "journal_clear", {"group": group_name},
                   unreachable() if h in down else ok({"cleared": True})) for h in HOSTS]


def recorded(group_name: str, host: str, down: Iterable[str] = ()) -> list[Expect]:
    """HostGroupSession.record(): the new assignment with the next epoch, on every host."""
    assignments = {**ASSIGNED, group_name: host}
    return [Expect(h, "set_assignments", {"epoch": EPOCH + 1, "assignments": assignments},
                   unreachable() if h in down else ok({"written": True,
                                                       "epoch": EPOCH + 1, "boot": []}))
            for h in HOSTS]


def hook(group_name: str, which: str, host: str, source: str | None, target: str,
         reply: Reply | None = None) -> list[Expect]:
    return [Expect(host, "run_hook", {"group": group_name, "which": which, "source": source,
                                      "target": target},
                   reply or ok({"ran": True, "output": ""}))]


def _group_op(op: str, host: str, group_name: str, fine: bool, left: str,
              reply: Reply | None, message: str) -> list[Expect]:
    answer = reply or ok({"ok": fine, "message": "" if fine else message,
                          "observation": observation(group(group_name), left)})
    return [Expect(host, op, {"group": group_name, "generation": GENERATION}, answer)]


def stopped(host: str, group_name: str, fine: bool = True, reply: Reply | None = None
            ) -> list[Expect]:
    """stop_group on host: fine, or the stop failed and part of the group still runs."""
    return _group_op("stop_group", host, group_name, fine, "down" if fine else "partial",
                     reply, "Job for s2s-censhare-data.service failed")


def started(host: str, group_name: str, fine: bool = True, reply: Reply | None = None
            ) -> list[Expect]:
    """start_group on host: fine, or a member failed."""
    return _group_op("start_group", host, group_name, fine, "up" if fine else "failed",
                     reply, "dependency failed for s2s-censhare.target")


def pid_asked(host: str, alive: bool | None, pid: int = CRASHED_PID) -> list[Expect]:
    """Is the admin of a journaled move still running? None: its host is unreachable."""
    return [Expect(host, "pid_alive", {"pid": pid},
                   unreachable() if alive is None else ok({"alive": alive}))]


def crashed_move(source: str | None, target: str, step: str, admin: str = "n1",
                 group_name: str = "censhare") -> dict[str, Any]:
    return journal_entry(group_name, source, target, step, admin, CRASHED_PID, NOW - 30)


# -- running one case ------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One behaviour: what the admin does, the conversation it must have, where it ends."""

    name: str
    act: Callable[[Admin], object]
    script: Callable[[World], list[Expect]]
    error: type[S2SError] | None = None
    says: str = ""  # a part of the error's message (or of the result's repr)
    journal: Mapping[str, str] = field(default_factory=dict)
    assignment: Mapping[str, str | None] = field(
        default_factory=lambda: assigned_everywhere("censhare", "n1"))
    world: World = field(default_factory=World)
    group: str = "censhare"

    def __str__(self) -> str:
        return self.name


def run_case(case: Case) -> ScriptedTransport:
    """Run the case against its script; assert the exit class, the request sequence
    (every request, in order, nothing more), the final journal and assignment."""
    transport = case.world.transport()
    transport.expect(case.script(case.world))
    admin = Admin(definitions(), EXAMPLES, ADMIN, transport=transport, clock=lambda: NOW)
    error: S2SError | None = None
    outcome: object = None
    with local_state():
        try:
            outcome = case.act(admin)
        except S2SError as exc:
            error = exc
    transport.verify()
    if case.error is None:
        assert error is None, f"{case.name}: unexpected {error!r}"
        assert case.says in repr(outcome), outcome
    else:
        assert error is not None, f"{case.name}: no error, the outcome was {outcome!r}"
        assert exit_class(error) is case.error, f"{case.name}: {error!r}"
        assert case.says in str(error), str(error)
    assert transport.records.journal_of(case.group) == dict(case.journal)
    assert transport.records.assignment_of(case.group) == dict(case.assignment)
    return transport
