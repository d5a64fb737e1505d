"""`s2s-sd freeze`/`unfreeze`, the refusals a freeze causes, and `cleanup` (systemd
engine) against a scripted transport; the guard's refusal with the mark on this host.

censhare is assigned to n1; the admin runs on n3.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.agent.dispatch import dispatch
from s2s_sd.engines.systemd.guard import guard
from s2s_sd.errors import OperationFailed, Refused
from s2s_sd.hosts import freeze, state
from tests.conftest import EXAMPLES
from tests.unit.fake_transport import (
    Expect,
    ScriptedTransport,
    observation,
    ok,
    state_result,
    unreachable,
)
from tests.unit.scenarios import (
    ASSIGNED,
    EPOCH,
    HOSTGROUP,
    HOSTS,
    NOW,
    Case,
    World,
    crashed_move,
    definitions,
    group,
    local_state,
    locked,
    pid_asked,
    run_case,
    states,
    unlocked,
)

pytestmark = pytest.mark.unit

G = "censhare"
MARK = {"since": 1_764_504_000.0, "by": "n1"}
FROZEN = World(frozen={h: {G: MARK} for h in HOSTS})
# only n2 holds it (a freeze that could not reach the others): enough to refuse
FROZEN_ON_N2 = World(frozen={"n2": {G: MARK}})
FROZEN_SAYS = "censhare is frozen (since "


def refused_under_lock(command: str) -> Any:
    """refuse_interrupted's view, the lock, the view under it: frozen, refused, unlocked."""
    return lambda w: [*states(w), *locked(w, command), *states(w), *unlocked(w.up)]


def set_frozen(frozen: bool, down: tuple[str, ...] = ()) -> list[Expect]:
    return [Expect(h, "set_frozen", {"group": G, "frozen": frozen, "by": "n3"},
                   unreachable() if h in down else ok({"frozen": frozen, "changed": True}))
            for h in HOSTS]


def crashed_world(world: World) -> World:
    entry = crashed_move("n1", "n2", "stopping")
    return replace(world, journals={"n1": [entry], "n2": [entry]})


CASES = [
    Case("move refused while frozen", lambda a: a.move(G, "n2"),
         refused_under_lock(f"move {G} --to n2"), error=Refused, says=FROZEN_SAYS,
         world=FROZEN),
    Case("start refused while frozen (the mark on one host is enough)", lambda a: a.start(G),
         refused_under_lock(f"start {G}"), error=Refused, says="marked on n2",
         world=FROZEN_ON_N2),
    Case("stop refused while frozen", lambda a: a.stop(G), refused_under_lock(f"stop {G}"),
         error=Refused, says="unfreeze it first (`s2s-sd unfreeze censhare`)", world=FROZEN),
    Case("recover refused while frozen", lambda a: a.recover(G),
         lambda w: [*states(w), *pid_asked("n1", alive=False), *locked(w, f"recover {G}"),
                    *states(w), *unlocked(w.up)],
         error=Refused, says=FROZEN_SAYS, world=crashed_world(FROZEN),
         journal={"n1": "stopping n1->n2", "n2": "stopping n1->n2"}),
    Case("freeze: the mark on every host, under the lock",
         lambda a: a.freeze(G, True),
         lambda w: [*states(w), *locked(w, f"freeze {G}"), *set_frozen(True), *unlocked(HOSTS)],
         says="['n1', 'n2', 'n3']"),
    Case("freeze with a host unreachable: exit 3, where the mark is and where unknown",
         lambda a: a.freeze(G, True),
         lambda w: [*states(w), *locked(w, f"freeze {G}"), *set_frozen(True, down=("n2",)),
                    *unlocked(["n1", "n3"])],
         error=Refused, says="The freeze mark is on n1, n3; unknown on n2",
         world=World(down=("n2",))),
    Case("unfreeze: the mark removed everywhere", lambda a: a.freeze(G, False),
         lambda w: [*states(w), *locked(w, f"unfreeze {G}"), *set_frozen(False), *unlocked(HOSTS)],
         says="[]", world=FROZEN),
    Case("cleanup: reset-failed on every host of the group",
         lambda a: a.cleanup(G),
         lambda w: [Expect(h, "cleanup_group", {"group": G},
                           ok({"failed": ["s2s-censhare-db.service"] if h == "n1" else []}))
                    for h in HOSTS],
         says="'n1': ['s2s-censhare-db.service']"),
    Case("cleanup with a host unreachable: exit 1 naming it", lambda a: a.cleanup(G),
         lambda w: [Expect(h, "cleanup_group", {"group": G},
                           unreachable() if h == "n2" else ok({"failed": []}))
                    for h in HOSTS],
         error=OperationFailed, says="cleanup of censhare not done on n2"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_freeze(case: Case) -> None:
    run_case(case)


def test_the_guard_does_not_start_a_frozen_group_at_boot() -> None:
    """At boot a frozen group is refused before any other host is asked; a start by hand
    (maintenance) goes on to the usual checks: the other hosts are asked."""
    defs = definitions("n1")
    at_boot = ScriptedTransport(defs, "n1")
    by_hand = ScriptedTransport(defs, "n1")
    by_hand.expect([Expect(h, "observe", {"groups": [G]}, ok({
        "host": h, "groups": {G: observation(group(G), "down")},
        "state": state_result(h, 7, "d", EPOCH, ASSIGNED)})) for h in ("n2", "n3")])
    with local_state():
        state.write_assignment_state(HOSTGROUP, state.Assignments(EPOCH, dict(ASSIGNED)))
        freeze.write_mark(HOSTGROUP, G, freeze.FrozenMark(NOW, "n3"))
        assert freeze.is_frozen(HOSTGROUP, G)
        with pytest.raises(Refused, match=r"censhare is frozen .*by n3.*not started at boot"):
            guard(defs, EXAMPLES, "n1", G, transport=at_boot, clock=lambda: NOW,
                  booting=lambda: True)
        reason = guard(defs, EXAMPLES, "n1", G, transport=by_hand, clock=lambda: NOW,
                       booting=lambda: False)
        assert "not active on n2, n3" in reason
        assert freeze.remove_mark(HOSTGROUP, G) and not freeze.is_frozen(HOSTGROUP, G)
        assert not freeze.remove_mark(HOSTGROUP, G)
    at_boot.verify()
    by_hand.verify()


def test_the_agent_writes_the_mark_and_the_state_answer_carries_it() -> None:
    context = AgentContext(basedir=EXAMPLES, host="n1", _defs=definitions("n1"))
    with local_state():
        assert dispatch(context, "set_frozen", {"group": G, "frozen": True, "by": "n3"}) == {
            "frozen": True, "changed": True}
        mark = dispatch(context, "state", {"hostgroup": HOSTGROUP})["frozen"][G]
        assert mark["by"] == "n3" and mark["since"] > 0
        assert dispatch(context, "set_frozen", {"group": G, "frozen": False, "by": "n3"}) == {
            "frozen": False, "changed": True}
        assert dispatch(context, "state", {"hostgroup": HOSTGROUP})["frozen"] == {}
