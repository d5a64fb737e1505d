"""The guard (`s2s-sd guard censhare`, run by the units on n2 before the group starts)
against a scripted transport: its own records decide first, then one question to every
other host. Exit class Refused (3) whenever it cannot prove the start safe.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from s2s_sd.engines.systemd.guard import guard
from s2s_sd.errors import Refused, S2SError
from s2s_sd.hosts import state
from s2s_sd.hosts.lock import process_start
from s2s_sd.hosts.move_vouch import JOURNAL_TRUST_SECONDS, token_path, vouched_start
from tests.conftest import EXAMPLES
from tests.unit.fake_transport import (
    Expect,
    Reply,
    ScriptedTransport,
    journal_entry,
    lock_entry,
    observation,
    ok,
    state_result,
    unreachable,
)
from tests.unit.scenarios import (
    ASSIGNED,
    EPOCH,
    GENERATION,
    HOSTGROUP,
    NOW,
    definitions,
    digest,
    exit_class,
    group,
    local_state,
)

pytestmark = pytest.mark.unit

G = "censhare"
HERE = "n2"
PEERS = ("n1", "n3")
HERE_ASSIGNED = {**ASSIGNED, G: HERE}


@dataclass(frozen=True)
class Peer:
    """What one other host answers: how the group runs there, and its records."""

    how: str | None = "down"  # None: unreachable
    epoch: int = EPOCH
    assignments: Mapping[str, str] = field(default_factory=lambda: HERE_ASSIGNED)
    journals: tuple[Mapping[str, Any], ...] = ()
    lock: Mapping[str, Any] | None = None

    def reply(self, host: str) -> Reply:
        if self.how is None:
            return unreachable()
        return ok({"host": host, "groups": {G: observation(group(G), self.how)},
                   "state": state_result(host, GENERATION, digest(), self.epoch,
                                         self.assignments, self.journals, self.lock)})


QUIET = {h: Peer() for h in PEERS}


@dataclass(frozen=True)
class GuardCase:
    name: str
    peers: Mapping[str, Peer] | None = field(default_factory=lambda: QUIET)  # None: no asking
    assigned: str = HERE  # this host's own record
    journal: Mapping[str, Any] | None = None  # this host's own journal of the group
    admin_alive: bool = False  # the journal's admin, when it runs on this host
    error: type[S2SError] | None = None
    says: str = ""

    def __str__(self) -> str:
        return self.name


def move_to_here(step: str = "starting", admin: str = "n1", age: float = 5,
                 target: str = HERE) -> dict[str, Any]:
    return journal_entry(G, "n1", target, step, admin, 4242, NOW - age)


CASES = [
    GuardCase("assigned here, down on every peer: allowed",
              says="assigned to n2; not active on n1, n3"),
    GuardCase("active on a peer: refused", {"n1": Peer("up"), "n3": Peer()},
              error=Refused, says="active on n1"),
    GuardCase("a peer's guard runs (partly up): refused", {"n1": Peer(), "n3": Peer("partial")},
              error=Refused, says="active on n3"),
    GuardCase("a peer unreachable: refused", {"n1": Peer(), "n3": Peer(None)},
              error=Refused, says="n3 unreachable: cannot prove"),
    GuardCase("assigned elsewhere here: refused without asking", None, assigned="n1",
              error=Refused, says="assigned to n1"),
    GuardCase("a peer's newer record assigns it elsewhere: refused",
              {"n1": Peer(epoch=EPOCH + 1, assignments=ASSIGNED), "n3": Peer()},
              error=Refused, says="assigned to n1"),
    GuardCase("a peer journals a move of the group: refused",
              {"n1": Peer(journals=(move_to_here(target="n3"),)), "n3": Peer()},
              error=Refused, says="journaled on n1"),
    GuardCase("a peer holds the admin lock for the group: refused",
              {"n1": Peer(lock=lock_entry("n1", 77, f"move {G} --to n3")), "n3": Peer()},
              error=Refused, says="an admin operation is in progress"),
    GuardCase("a peer holds the admin lock for another group: allowed",
              {"n1": Peer(lock=lock_entry("n1", 77, "move ora --to n1")), "n3": Peer()},
              says="not active on n1, n3"),
    GuardCase("the move's own start, journaled here: allowed without asking", None,
              assigned="n1", journal=move_to_here(), says="move of 'censhare' n1 -> n2"),
    GuardCase("a rollback to here, journaled: allowed without asking", None, assigned="n1",
              journal=move_to_here("rollback"), says="in progress"),
    GuardCase("the move's own start, its admin here and running: allowed", None,
              assigned="n1", journal=move_to_here(admin=HERE), admin_alive=True,
              says="in progress"),
    GuardCase("a journal here whose admin here is gone: asks, assigned elsewhere: refused",
              None, assigned="n1", journal=move_to_here(admin=HERE), error=Refused,
              says="assigned to n1"),
    GuardCase("a journal here too old to trust: the peers are asked",
              QUIET, journal=move_to_here(age=JOURNAL_TRUST_SECONDS + 1),
              says="not active on n1, n3"),
    GuardCase("journaled here but still stopping the source: refused", None, assigned="n1",
              journal=move_to_here("stopping"), error=Refused, says="step stopping"),
    GuardCase("journaled as a start on another host: refused", None, assigned="n1",
              journal=move_to_here(target="n3"), error=Refused, says="being moved n1 -> n3"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_guard(case: GuardCase) -> None:
    defs = definitions(HERE)
    transport = ScriptedTransport(defs, HERE)
    for host, peer in (case.peers or {}).items():
        transport.expect(Expect(host, "observe", {"groups": [G], "scripts": True,
                                                  "hostgroup": HOSTGROUP}, peer.reply(host)))
    error: S2SError | None = None
    reason = ""
    with local_state():
        state.write_assignment_state(HOSTGROUP, state.Assignments(
            EPOCH, {**ASSIGNED, G: case.assigned}))
        if case.journal is not None:
            state.write_journal(HOSTGROUP, state.Journal.from_dict(dict(case.journal)))
        try:
            reason = guard(defs, EXAMPLES, HERE, G, transport=transport, clock=lambda: NOW,
                           pid_alive=lambda *_identity: case.admin_alive)
        except S2SError as exc:
            error = exc
    transport.verify()
    if case.error is None:
        assert error is None, repr(error)
    else:
        assert error is not None and exit_class(error) is case.error, repr(error)
    assert case.says in (str(error) if error else reason)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_agent_vouches_exactly_where_the_guard_would_not_ask(
        case: GuardCase, tmp_path: Path) -> None:
    """The agent starting a group leaves the guard unit's token (units/s2s-guard) only
    where the guard itself would allow the start without asking anyone: a move's start
    its journal vouches for. Every other start gets no token, and the guard asks."""
    defs = definitions(HERE)
    with local_state(), mock.patch.dict(os.environ, {"S2S_SD_RUNDIR": str(tmp_path)}):
        state.write_assignment_state(HOSTGROUP, state.Assignments(
            EPOCH, {**ASSIGNED, G: case.assigned}))
        if case.journal is not None:
            state.write_journal(HOSTGROUP, state.Journal.from_dict(dict(case.journal)))
        with vouched_start(defs, HERE, G, clock=lambda: NOW,
                           pid_alive=lambda *_identity: case.admin_alive) as reason:
            path = token_path(G)
            if case.peers is None and case.error is None:
                assert reason is not None and case.says in reason
                pid, started, said = path.read_text(encoding="utf-8").split(" ", 2)
                assert int(pid) == os.getpid() and said.strip() == reason
                assert int(started) == process_start(os.getpid())
                assert path.stat().st_mode & 0o777 == 0o600
            else:
                assert reason is None and not path.exists()
        assert not path.exists()  # taken back after the start's jobs, used or not
