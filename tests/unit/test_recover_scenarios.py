"""`s2s-sd recover` (systemd engine) against a scripted transport: a move of censhare
n1 -> n2, run on n1, crashed (its pid is gone) in each of its journaled steps; the admin
now runs on n3. Every successful case ends with the group on exactly one host, that
host recorded everywhere and the journals gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import BadInput, OperationFailed, Refused
from tests.unit.fake_transport import Expect, lock_entry, ok
from tests.unit.scenarios import (
    CRASHED_PID,
    HOSTS,
    Case,
    World,
    assigned_everywhere,
    crashed_move,
    everywhere,
    journal_cleared,
    journaled,
    locked,
    observed,
    pid_asked,
    recorded,
    run_case,
    started,
    states,
    stopped,
    unlocked,
    verified,
)

pytestmark = pytest.mark.unit

G = "censhare"
INVOLVED = ("n1", "n2")


def recover(admin: Admin) -> object:
    return admin.recover(G)


def crashed_in(step: str, source: str | None = "n1", target: str = "n2",
               down: tuple[str, ...] = ()) -> World:
    """The crashed move's journal on the hosts it involved."""
    entry: Mapping[str, Any] = crashed_move(source, target, step)
    return World(down=down, journals={h: [entry] for h in (source, target)
                                      if h is not None and h not in down})


def begin(w: World, seen: dict[str, str | None]) -> list[Expect]:
    """The journals read, the crashed admin proven gone, the lock, the view, the group."""
    return [*states(w), *pid_asked("n1", alive=False), *locked(w, f"recover {G}"),
            *states(w), *observed(G, seen)]


def kept_on(host: str) -> list[Expect]:
    """It runs fully there: kept, recorded, journal cleared."""
    return [*recorded(G, host), *journal_cleared(G), *unlocked(HOSTS)]


def restarted_on(host: str, fine: bool = True) -> list[Expect]:
    """Verified down everywhere, journaled as a start, started on host."""
    return [*verified(G, host), *journaled([host], G, None, host, "starting"),
            *started(host, G, fine)]


CASES = [
    Case("crashed before the stop: still fully up on the source, kept there",
         recover, lambda w: [*begin(w, everywhere(but={"n1": "up"})), *kept_on("n1")],
         says="n1", world=crashed_in("stopping")),
    Case("crashed after the stop: down everywhere, back on the source",
         recover, lambda w: [*begin(w, everywhere()), *restarted_on("n1"),
                             *kept_on("n1")],
         says="n1", world=crashed_in("stopping")),
    Case("crashed while stopping: partly up on the source, stopped, started there again",
         recover, lambda w: [*begin(w, everywhere(but={"n1": "partial"})),
                             *stopped("n1", G), *restarted_on("n1"), *kept_on("n1")],
         says="n1", world=crashed_in("stopping")),
    Case("crashed during the start: partly up on the target, stopped, started there",
         recover, lambda w: [*begin(w, everywhere(but={"n2": "partial"})),
                             *stopped("n2", G), *restarted_on("n2"), *kept_on("n2")],
         says="n2", world=crashed_in("starting"), assignment=assigned_everywhere(G, "n2")),
    Case("crashed during the start, nothing up: forward, started on the target",
         recover, lambda w: [*begin(w, everywhere()), *restarted_on("n2"), *kept_on("n2")],
         says="n2", world=crashed_in("starting"), assignment=assigned_everywhere(G, "n2")),
    Case("crashed after the start (post-move): fully up on the target, kept there",
         recover, lambda w: [*begin(w, everywhere(but={"n2": "up"})), *kept_on("n2")],
         says="n2", world=crashed_in("post_move"), assignment=assigned_everywhere(G, "n2")),
    Case("crashed in the rollback: down everywhere, back on the original source",
         recover, lambda w: [*begin(w, everywhere()), *restarted_on("n1"), *kept_on("n1")],
         says="n1", world=crashed_in("rollback", source="n2", target="n1")),
    Case("crashed in a start (no source): started on its host",
         recover, lambda w: [*begin(w, everywhere()), *restarted_on("n1"), *kept_on("n1")],
         says="n1", world=crashed_in("starting", source=None, target="n1")),
    Case("crashed early in a move of a group that ran nowhere: forward, to the target",
         recover, lambda w: [*begin(w, everywhere()), *restarted_on("n2"), *kept_on("n2")],
         says="n2", world=crashed_in("stopping", source=None),
         assignment=assigned_everywhere(G, "n2")),
    Case("the crashed admin's lock is left: broken, then recovered",
         recover, lambda w: [*states(w), *pid_asked("n1", alive=False),
                             Expect("n1", "lock_acquire", reply=ok({
                                 "held": lock_entry("n1", CRASHED_PID, "move censhare --to n2"),
                                 "holder_alive": False})),
                             Expect("n1", "lock_acquire", {"break_token": "other-token"},
                                    ok({"held": None, "holder_alive": False})),
                             *locked(w, f"recover {G}")[1:], *states(w),
                             *observed(G, everywhere(but={"n1": "up"})), *kept_on("n1")],
         says="n1", world=crashed_in("stopping")),
    Case("the recovery's start fails and its stop too: its journal kept",
         recover, lambda w: [*begin(w, everywhere()), *restarted_on("n1", fine=False),
                             *stopped("n1", G, fine=False), *unlocked(HOSTS)],
         OperationFailed, "could not be stopped there", world=crashed_in("stopping"),
         journal={"n1": "starting -->n1", "n2": "stopping n1->n2", "n3": "starting -->n1"}),
    Case("active on two hosts: refused, nothing changed",
         recover, lambda w: [*begin(w, everywhere(but={"n1": "partial", "n2": "up"})),
                             *unlocked(HOSTS)],
         Refused, "active on n1 and n2", world=crashed_in("starting"),
         journal={h: "starting n1->n2" for h in INVOLVED}),
    Case("a host unreachable: refused, nothing changed",
         recover, lambda w: [*begin(w, everywhere(hosts=w.up)), *unlocked(w.up)],
         Refused, "n2 unreachable: cannot recover",
         world=crashed_in("stopping", down=("n2",)), journal={"n1": "stopping n1->n2"}),
    Case("the move's admin still runs: refused, no lock taken",
         recover, lambda w: [*states(w), *pid_asked("n1", alive=True)],
         Refused, "still running on n1", world=crashed_in("stopping"),
         journal={h: "stopping n1->n2" for h in INVOLVED}),
    Case("the move's admin host cannot be asked: refused",
         recover, lambda w: [*states(w), *pid_asked("n1", alive=None)],
         Refused, "cannot ask n1",
         world=crashed_in("starting", source="n2", target="n3", down=("n1",)),
         journal={"n2": "starting n2->n3", "n3": "starting n2->n3"}),
    Case("nothing journaled: bad input",
         recover, lambda w: states(w), BadInput, "no interrupted move of censhare"),
    Case("nothing journaled where asked, a host not asked: refused, naming it and why",
         recover, lambda w: states(w), Refused,
         "journaled on n1, n3; not asked: n2 (n2: Connection refused)",
         world=World(down=("n2",))),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_recover(case: Case) -> None:
    run_case(case)


@pytest.mark.parametrize("case", [c for c in CASES if c.error is None], ids=str)
def test_recover_ends_with_the_group_on_exactly_one_host(case: Case) -> None:
    transport = run_case(case)
    starts = [r.split()[0] for r in transport.requests if " start_group " in r]
    kept = set(transport.records.assignment_of(G).values())
    assert len(kept) == 1, kept  # every host records the same one
    assert len(starts) <= 1 and all(host in kept for host in starts), starts
