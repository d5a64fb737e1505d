"""`move --timings` and `status --timings`: the recorder (s2s_sd/timings.py) and what a
move or status records in it, step by step and per host, with what the hosts measured
themselves (scripted hosts)."""

from __future__ import annotations

import itertools

import pytest

from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.timings import AGENT_START, Timings, timing_lines
from tests.conftest import EXAMPLES
from tests.unit.fake_transport import Expect, observation, ok
from tests.unit.scenarios import (
    ADMIN,
    HOSTGROUP,
    HOSTS,
    NOW,
    World,
    definitions,
    local_state,
)
from tests.unit.test_move_scenarios import CASES

pytestmark = pytest.mark.unit


def ticking(step: float = 0.5) -> itertools.count[float]:
    return itertools.count(0.0, step)


def test_steps_in_order_details_indented_and_the_total() -> None:
    ticks = ticking()
    timings = Timings(clock=lambda: next(ticks))  # started at 0
    with timings.step("views"):  # 0.5 .. 1.0
        pass
    timings.add("start web", "n1", 2.0)
    timings.add_members("n1", {"s2s-web-vip.service": 0.25}, "started")
    assert timings.seconds() == {"views": 0.5, "start web": 2.0,
                                 "s2s-web-vip.service started": 0.25}
    assert timing_lines(timings) == [
        "timings:",
        "  views                                0.500 s",
        "  [n1] start web                       2.000 s",
        "    [n1] s2s-web-vip.service started   0.250 s",
        "  total                                1.500 s",
    ]
    assert timings.as_dict()["steps"][2] == {
        "step": "s2s-web-vip.service started", "host": "n1", "seconds": 0.25, "detail": True}


def test_a_failed_step_is_timed_too() -> None:
    ticks = ticking()
    timings = Timings(clock=lambda: next(ticks))
    with pytest.raises(RuntimeError), timings.step("stop web", "n3"):
        raise RuntimeError("the stop failed")
    assert [(t.step, t.host, t.seconds) for t in timings.entries] == [("stop web", "n3", 0.5)]


def test_a_move_records_its_steps_per_host_with_what_the_hosts_measured() -> None:
    """The happy move of the scenarios, with the hosts' answers carrying their phases
    and each unit's own seconds, as agent/group_ops.py's start_group and stop_group send them."""
    case = CASES[0]
    transport = case.world.transport()
    measured = {"phases": {"start jobs": 1.5}, "seconds": {"s2s-censhare-data.service": 0.75}}
    for expect in case.script(case.world):
        if expect.op in ("start_group", "stop_group"):
            result = {**(expect.reply.result or {}), **measured}
            expect = Expect(expect.host, expect.op, expect.args, ok(result))
        transport.expect(expect)
    admin = Admin(definitions(), EXAMPLES, ADMIN, transport=transport, clock=lambda: NOW)
    with local_state():
        admin.move("censhare", "n2")
    transport.verify()
    steps = [(t.host, t.step, t.detail) for t in admin.timings.entries]
    for expected in [(None, "lock", False), (None, "views", False),
                     ("n1", "pre-move hook", False), ("n1", "stop censhare", False),
                     ("n1", "s2s-censhare-data.service stopped", True),
                     (None, "verify nowhere", False), ("n2", "start censhare", False),
                     ("n2", "start jobs", True),
                     ("n2", "s2s-censhare-data.service started", True),
                     ("n2", "post-move hook", False), (None, "record the assignment", False),
                     (None, "unlock", False)]:
        assert expected in steps, (expected, steps)
    # in the order they happened, each host's details right after its step
    assert steps.index(("n1", "stop censhare", False)) < steps.index(
        ("n1", "s2s-censhare-data.service stopped", True)) < steps.index(
        (None, "verify nowhere", False)) < steps.index(("n2", "start censhare", False))
    started = next(t for t in admin.timings.entries
                   if t.step == "s2s-censhare-data.service started")
    assert started.seconds == 0.75


def test_status_records_the_hosts_answers_and_what_each_host_spent_on_it() -> None:
    """`status --timings`: the round trip to every host, then each host's own steps as
    its agent measured them; the admin's own host is answered in the admin's process,
    so its agent start (the admin's own start) is left out."""
    world = World()
    transport = world.transport()
    spent = {AGENT_START: 0.25, "definitions": 0.02,
             "observe (units, VIPs, mounts, scripts, health)": 0.05, "state": 0.001}
    transport.expect([Expect(h, "observe", {"scripts": True, "hostgroup": HOSTGROUP}, ok({
        "host": h, "state": world.reply(h).result, "health": {}, "seconds": spent,
        "groups": {g.name: observation(g, "down") for g in definitions().groups}}))
        for h in HOSTS])
    admin = Admin(definitions(), EXAMPLES, ADMIN, transport=transport, clock=lambda: NOW)
    with local_state():
        admin.status()
    transport.verify()
    steps = [(t.host, t.step, t.detail) for t in admin.timings.entries]
    assert steps[0] == (None, "ask every host (observe, state, health)", False)
    for host in HOSTS:
        for step in spent:
            assert ((host, step, True) in steps) == (step != AGENT_START or host != ADMIN)
    started = next(t for t in admin.timings.entries if t.step == AGENT_START)
    assert started.seconds == 0.25
