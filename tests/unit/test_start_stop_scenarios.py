"""`s2s-sd start` and `s2s-sd stop` (systemd engine) against a scripted transport.

censhare is assigned to n1; the admin runs on n3.
"""

from __future__ import annotations

import pytest

from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import OperationFailed, Refused
from tests.unit.fake_transport import Expect, remembered, unreachable
from tests.unit.scenarios import (
    Case,
    World,
    crashed_move,
    everywhere,
    journal_cleared,
    journaled,
    locked,
    observed,
    pid_asked,
    run_case,
    started,
    states,
    stopped,
    unlocked,
    verified,
)

pytestmark = pytest.mark.unit

G = "censhare"


def begin(w: World, command: str, seen: dict[str, str | None]) -> list[Expect]:
    """refuse_interrupted's view, the lock, the view under the lock, what runs where."""
    return [*states(w), *locked(w, f"{command} {G}"), *states(w), *observed(G, seen)]


def start_on_n1(fine: bool = True) -> list[Expect]:
    return [*verified(G, "n1"), *journaled(["n1"], G, None, "n1", "starting"),
            *started("n1", G, fine)]


def start(admin: Admin) -> object:
    return admin.start(G)


def stop(admin: Admin) -> object:
    return admin.stop(G)


N2_DOWN = World(down=("n2",))

CASES = [
    Case("start: verified nowhere, journaled, started on the assigned host", start,
               lambda w: [*begin(w, "start", everywhere()), *start_on_n1(),
                          *journal_cleared(G), *unlocked(w.up)], says="n1"),
    Case("start: partly up on its host already: started there without a verify", start,
               lambda w: [*begin(w, "start", everywhere(but={"n1": "partial"})),
                          *journaled(["n1"], G, None, "n1", "starting"), *started("n1", G),
                          *journal_cleared(G), *unlocked(w.up)], says="n1"),
    Case("start fails, the stop succeeds: journal cleared, exit 1", start,
               lambda w: [*begin(w, "start", everywhere()), *start_on_n1(fine=False),
                          *stopped("n1", G), *journal_cleared(G), *unlocked(w.up)],
               OperationFailed, "failed to start on n1"),
    Case("start fails and the stop fails too: journal kept for recover", start,
               lambda w: [*begin(w, "start", everywhere()), *start_on_n1(fine=False),
                          *stopped("n1", G, fine=False), *unlocked(w.up)],
               OperationFailed, "could not be stopped there",
               journal={"n1": "starting -->n1", "n3": "starting -->n1"}),
    Case("start: its host lost mid-start: journal kept for recover", start,
               lambda w: [*begin(w, "start", everywhere()), *verified(G, "n1"),
                          *journaled(["n1"], G, None, "n1", "starting"),
                          *started("n1", G, reply=unreachable()),
                          Expect("n1", "lock_release", reply=unreachable()),
                          *unlocked(["n2", "n3"])],
               OperationFailed, "n1: unreachable",
               journal={"n1": "starting -->n1", "n3": "starting -->n1"}),
    Case("start: a host lost between the check and the verify: refused, nothing started",
               start,
               lambda w: [*begin(w, "start", everywhere()),
                          *observed(G, everywhere(but={"n2": None})), *unlocked(["n1"]),
                          Expect("n2", "lock_release", reply=remembered()),
                          *unlocked(["n3"])],
               Refused, "n2 could not be asked: cannot prove"),
    Case("start: its assigned host lost after the view: exit 1, nothing changed", start,
               lambda w: [*begin(w, "start", everywhere(but={"n1": None})),
                          Expect("n1", "lock_release", reply=remembered()),
                          *unlocked(["n2", "n3"])],
               OperationFailed, "assigned to n1, which is unreachable"),
    Case("start: active on another host: refused", start,
               lambda w: [*begin(w, "start", everywhere(but={"n2": "partial"})),
                          *unlocked(w.up)],
               Refused, "active on n2, not on its assigned host n1"),
    Case("start: another host unreachable: refused", start,
               lambda w: [*begin(w, "start", everywhere(hosts=w.up)), *unlocked(w.up)],
               Refused, "n2 unreachable: cannot prove", world=N2_DOWN),
    Case("start: its assigned host unreachable: exit 1, nothing changed", start,
               lambda w: [*states(w), *locked(w, f"start {G}"), *states(w),
                          *unlocked(w.up)],
               OperationFailed, "assigned to n1, which is unreachable",
               world=World(down=("n1",))),
    Case("start: an interrupted move journaled: refused, recover named", start,
               lambda w: [*states(w), *pid_asked("n1", alive=False)],
               Refused, f"s2s-sd recover {G}",
               world=World(journals={"n2": [crashed_move("n1", "n2", "stopping")]}),
               journal={"n2": "stopping n1->n2"}),
    Case("stop: stopped where it runs", stop,
              lambda w: [*begin(w, "stop", everywhere(but={"n1": "up"})), *stopped("n1", G),
                         *unlocked(w.up)], says="['n1']"),
    Case("stop: running nowhere: nothing to do", stop,
              lambda w: [*begin(w, "stop", everywhere()), *unlocked(w.up)], says="[]"),
    Case("stop: the stop fails: exit 1", stop,
              lambda w: [*begin(w, "stop", everywhere(but={"n1": "up"})),
                         *stopped("n1", G, fine=False), *unlocked(w.up)],
              OperationFailed, "did not stop on n1"),
    Case("stop: a host unreachable: stopped elsewhere, exit 1 naming it", stop,
              lambda w: [*begin(w, "stop", everywhere(but={"n1": "up"}, hosts=w.up)),
                         *stopped("n1", G), *unlocked(w.up)],
              OperationFailed, "n2 could not be asked", world=N2_DOWN),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_start_and_stop(case: Case) -> None:
    run_case(case)
