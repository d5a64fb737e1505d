"""Every branch of `s2s-sd move` (systemd engine) against a scripted transport: the exact
requests to the hosts, the exit class, and the journal and assignment it leaves.

The default scenario moves censhare (pre- and post-move hooks, one VIP) from n1, where
it runs, to n2; the admin runs on n3. The lab (tests/lab/test_systemd_runtime.py) proves
the same on real hosts, once; these prove every branch, in milliseconds.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.move_plan import describe
from tests.conftest import EXAMPLES
from tests.unit.fake_transport import (
    Expect,
    failed,
    lock_entry,
    observation,
    ok,
    remembered,
    unreachable,
)
from tests.unit.scenarios import (
    ADMIN,
    ASSIGNED,
    CRASHED_PID,
    EPOCH,
    HOSTGROUP,
    HOSTS,
    NOW,
    Case,
    World,
    assigned_everywhere,
    crashed_move,
    definitions,
    everywhere,
    hook,
    journal_cleared,
    journaled,
    local_state,
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


def move(to: str = "n2", force: bool = False, name: str = G) -> Callable[[Admin], object]:
    return lambda admin: admin.move(name, to, force=force)


def begin(w: World, seen: dict[str, str | None], to: str = "n2", name: str = G
          ) -> list[Expect]:
    """refuse_interrupted's view, the lock, the view under the lock, where it runs."""
    return [*states(w), *locked(w, f"move {name} --to {to}"), *states(w),
            *observed(name, seen)]


def running_on_n1(w: World) -> list[Expect]:
    return begin(w, everywhere(but={"n1": "up"}))


def stop_source(fine: bool = True) -> list[Expect]:
    """The journal says stopping, the pre-move hook runs, the source stops."""
    return [*journaled(INVOLVED, G, "n1", "n2", "stopping"),
            *hook(G, "pre_move", "n1", "n1", "n2"), *stopped("n1", G, fine)]


def start_target(fine: bool = True, source: str | None = "n1",
                 involved: tuple[str, ...] = INVOLVED) -> list[Expect]:
    return [*journaled(involved, G, source, "n2", "starting"), *started("n2", G, fine)]


def finish_on(target: str, source: str | None = "n1", involved: tuple[str, ...] = INVOLVED,
              down: tuple[str, ...] = (), post_hook: list[Expect] | None = None
              ) -> list[Expect]:
    """post_move journal, post-move hook, the record, the journal cleared, the unlock."""
    post = hook(G, "post_move", target, source, target) if post_hook is None else post_hook
    return [*journaled(involved, G, source, target, "post_move"), *post,
            *recorded(G, target, down), *journal_cleared(G, down),
            *unlocked(h for h in HOSTS if h not in down)]


def rolled_back(seen: dict[str, str | None] | None = None) -> list[Expect]:
    """move_plan.rollback_steps: verify from the source, journal the way back, start
    there."""
    return [*verified(G, "n1", seen), *journaled(INVOLVED, G, "n2", "n1", "rollback"),
            *started("n1", G), *recorded(G, "n1"), *journal_cleared(G), *unlocked(HOSTS)]


def stale_lock_on_n1() -> Expect:
    """n1's lock is held by an admin on n2 (pid 77) that is no longer running."""
    return Expect("n1", "lock_acquire", reply=ok({
        "held": lock_entry("n2", 77, "move ora --to n1"), "holder_alive": False}))


SOURCE_DOWN = World(down=("n1",))
# a move n1 -> n2 run on n1, whose admin process is gone
INTERRUPTED = World(journals={h: [crashed_move("n1", "n2", "stopping")] for h in INVOLVED})


def kept(step: str, hosts: tuple[str, ...] = HOSTS) -> dict[str, str]:
    """The journal the move leaves on the involved hosts and the admin's (n3)."""
    return {h: f"{step} n1->n2" for h in hosts}


CASES = [
    Case("happy move: hooks, stop, verify, start, record",
         move(), lambda w: [*running_on_n1(w), *stop_source(), *verified(G, "n2"),
                            *start_target(), *finish_on("n2")],
         assignment=assigned_everywhere(G, "n2")),
    Case("pre-move hook fails: nothing stopped, journal cleared",
         move(), lambda w: [*running_on_n1(w), *journaled(INVOLVED, G, "n1", "n2", "stopping"),
                            *hook(G, "pre_move", "n1", "n1", "n2",
                                  failed("pre_move hook hooks/censhare_pre failed (exit 1)")),
                            *journal_cleared(G), *unlocked(HOSTS)],
         OperationFailed, "pre_move hook"),
    Case("stop on the source fails: journal kept for recover",
         move(), lambda w: [*running_on_n1(w), *stop_source(fine=False), *unlocked(HOSTS)],
         OperationFailed, "did not stop on n1", journal=kept("stopping")),
    Case("source lost while stopping: journal kept for recover",
         move(), lambda w: [*running_on_n1(w), *journaled(INVOLVED, G, "n1", "n2", "stopping"),
                            *hook(G, "pre_move", "n1", "n1", "n2"),
                            *stopped("n1", G, reply=unreachable()),
                            Expect("n1", "lock_release", reply=remembered()),
                            *unlocked(["n2", "n3"])],
         OperationFailed, "n1: unreachable", journal=kept("stopping")),
    Case("verify finds it partly up on n3: rolled back to the source",
         move(), lambda w: [*running_on_n1(w), *stop_source(),
                            *verified(G, "n2", everywhere(but={"n3": "partial"})),
                            *rolled_back()],
         Refused, "still active: n3", assignment=assigned_everywhere(G, "n1")),
    Case("verify finds it up on n3, and still at the rollback: nothing started",
         move(), lambda w: [*running_on_n1(w), *stop_source(),
                            *verified(G, "n2", everywhere(but={"n3": "partial"})),
                            *verified(G, "n1", everywhere(but={"n3": "partial"})),
                            *unlocked(HOSTS)],
         Refused, "still active: n3", journal=kept("stopping")),
    Case("ARP/ND answers for the VIP during verify: rolled back to the source",
         move(), lambda w: [*running_on_n1(w), *stop_source(),
                            *verified(G, "n2", answering=True), *rolled_back()],
         Refused, "still answers for the VIPs"),
    Case("start on the target fails: stopped there, started on the source again",
         move(), lambda w: [*running_on_n1(w), *stop_source(), *verified(G, "n2"),
                            *start_target(fine=False), *stopped("n2", G), *rolled_back()],
         OperationFailed, "runs on n1 again"),
    Case("start fails and the target's stop fails too: nothing started, journal kept",
         move(), lambda w: [*running_on_n1(w), *stop_source(), *verified(G, "n2"),
                            *start_target(fine=False), *stopped("n2", G, fine=False),
                            *unlocked(HOSTS)],
         OperationFailed, "could not be stopped there", journal=kept("starting")),
    Case("start fails and the rollback's start fails: journal of the way back kept",
         move(), lambda w: [*running_on_n1(w), *stop_source(), *verified(G, "n2"),
                            *start_target(fine=False), *stopped("n2", G),
                            *verified(G, "n1"), *journaled(INVOLVED, G, "n2", "n1", "rollback"),
                            *started("n1", G, fine=False), *unlocked(HOSTS)],
         OperationFailed, "could not be started on n1 again",
         journal={h: "rollback n2->n1" for h in HOSTS}),
    Case("target lost mid-start: no rollback (it may run there), journal kept",
         move(), lambda w: [*running_on_n1(w), *stop_source(), *verified(G, "n2"),
                            *journaled(INVOLVED, G, "n1", "n2", "starting"),
                            *started("n2", G, reply=unreachable()),
                            *stopped("n2", G, reply=unreachable()), *unlocked(["n1"]),
                            Expect("n2", "lock_release", reply=unreachable()),
                            *unlocked(["n3"])],
         OperationFailed, "could not be stopped there", journal=kept("starting")),
    Case("another host unreachable, the start fails: rolled back, that host skipped again",
         move(to="n3"),
         lambda w: [*begin(w, everywhere(but={"n1": "up"}, hosts=w.up), to="n3"),
                    *journaled(("n1", "n3"), G, "n1", "n3", "stopping"),
                    *hook(G, "pre_move", "n1", "n1", "n3"), *stopped("n1", G),
                    *verified(G, "n3", everywhere(hosts=w.up)),
                    *journaled(("n1", "n3"), G, "n1", "n3", "starting"),
                    *started("n3", G, fine=False), *stopped("n3", G),
                    *verified(G, "n1", everywhere(hosts=w.up)),
                    *journaled(("n1", "n3"), G, "n3", "n1", "rollback"), *started("n1", G),
                    *recorded(G, "n1", w.down), *journal_cleared(G, w.down),
                    *unlocked(w.up)],
         OperationFailed, "runs on n1 again", world=World(down=("n2",)),
         assignment=assigned_everywhere(G, "n1", but={"n2": "n1"})),
    Case("post-move hook fails: the group runs on the target, recorded, exit 1",
         move(), lambda w: [*running_on_n1(w), *stop_source(), *verified(G, "n2"),
                            *start_target(),
                            *finish_on("n2", post_hook=hook(
                                G, "post_move", "n2", "n1", "n2",
                                failed("post_move hook hooks/censhare_post failed")))],
         OperationFailed, "runs on n2, but", assignment=assigned_everywhere(G, "n2")),
    Case("source unreachable without --force: refused, nothing changed",
         move(), lambda w: [*begin(w, everywhere(hosts=w.up)), *unlocked(w.up)],
         Refused, "use --force", world=SOURCE_DOWN),
    Case("source unreachable with --force, ARP/ND silent: started on the target",
         move(force=True),
         lambda w: [*begin(w, everywhere(hosts=w.up)),
                    *journaled(["n2"], G, "n1", "n2", "stopping"),
                    *verified(G, "n2", everywhere(hosts=w.up)),
                    *journaled(["n2"], G, "n1", "n2", "starting"), *started("n2", G),
                    *finish_on("n2", involved=("n2",), down=w.down)],
         world=SOURCE_DOWN, assignment=assigned_everywhere(G, "n2", but={"n1": "n1"})),
    Case("source unreachable with --force, ARP/ND answering: refused",
         move(force=True),
         lambda w: [*begin(w, everywhere(hosts=w.up)),
                    *journaled(["n2"], G, "n1", "n2", "stopping"),
                    *verified(G, "n2", everywhere(hosts=w.up), answering=True),
                    *journal_cleared(G, down=w.down), *unlocked(w.up)],
         Refused, "still answers for the VIPs", world=SOURCE_DOWN),
    Case("target unreachable: refused, nothing changed",
         move(), lambda w: [*begin(w, everywhere(but={"n1": "up"}, hosts=w.up)),
                            *unlocked(w.up)],
         Refused, "n2 is unreachable", world=World(down=("n2",))),
    Case("generation mismatch: refused before anything",
         move(), lambda w: [*states(w), *locked(w, "move censhare --to n2"), *states(w),
                            *unlocked(HOSTS)],
         Refused, "n2 has generation 6", world=World(generations={"n2": 6})),
    Case("lock held by another admin that runs: refused",
         move(), lambda w: [*states(w),
                            Expect("n1", "lock_acquire", reply=ok({
                                "held": lock_entry("n2", 77, "move ora --to n1"),
                                "holder_alive": False})),
                            *pid_asked("n2", alive=True, pid=77)],
         Refused, "held by n2 pid 77"),
    Case("lock held, its holder's host unreachable: refused, it may be stale",
         move(), lambda w: [*states(w), stale_lock_on_n1(), *pid_asked("n2", None, pid=77)],
         Refused, "may be stale"),
    Case("lock held, its holder gone: refused without --break-lock",
         move(), lambda w: [*states(w), stale_lock_on_n1(), *pid_asked("n2", False, pid=77)],
         Refused, "break it with --break-lock"),
    Case("lock held, its holder gone, --break-lock: broken, the move goes on",
         lambda admin: admin.move(G, "n2", break_lock=True),
         lambda w: [*states(w), stale_lock_on_n1(), *pid_asked("n2", False, pid=77),
                    Expect("n1", "lock_acquire", {"break_token": "other-token"},
                           ok({"held": None, "holder_alive": False})),
                    *locked(w, f"move {G} --to n2")[1:], *states(w),
                    *observed(G, everywhere(but={"n2": "up"})), *recorded(G, "n2"),
                    *unlocked(HOSTS)],
         assignment=assigned_everywhere(G, "n2")),
    Case("a host that missed an assignment change catches up first",
         move(), lambda w: [*states(w), *locked(w, f"move {G} --to n2"), *states(w),
                            Expect("n3", "set_assignments",
                                   {"epoch": EPOCH, "assignments": ASSIGNED},
                                   ok({"written": True, "epoch": EPOCH, "boot": []})),
                            *observed(G, everywhere(but={"n2": "up"})), *recorded(G, "n2"),
                            *unlocked(HOSTS)],
         world=World(epochs={"n3": EPOCH - 1}), assignment=assigned_everywhere(G, "n2")),
    Case("the target cannot write the journal: nothing stopped, no journal left",
         move(), lambda w: [*running_on_n1(w),
                            *journaled(INVOLVED, G, "n1", "n2", "stopping", down=["n2"]),
                            *journal_cleared(G, down=["n2"]), *unlocked(["n1"]),
                            Expect("n2", "lock_release", reply=remembered()),
                            *unlocked(["n3"])],
         OperationFailed, "n2: unreachable"),
    Case("interrupted move journaled, its admin gone: refused, recover named",
         move(), lambda w: [*states(w), *pid_asked("n1", alive=False)],
         Refused, "s2s-sd recover censhare", world=INTERRUPTED,
         journal=kept("stopping", INVOLVED)),
    Case("a move of the group in progress elsewhere: refused",
         move(), lambda w: [*states(w), *pid_asked("n1", alive=True)],
         Refused, f"run by n1 pid {CRASHED_PID}", world=INTERRUPTED,
         journal=kept("stopping", INVOLVED)),
    Case("already fully up on the target: only the assignment is recorded",
         move(), lambda w: [*begin(w, everywhere(but={"n2": "up"})), *recorded(G, "n2"),
                            *unlocked(HOSTS)],
         assignment=assigned_everywhere(G, "n2")),
    Case("running nowhere: started on the target without hooks or stop",
         move(), lambda w: [*begin(w, everywhere()),
                            *journaled(["n2"], G, None, "n2", "stopping"),
                            *verified(G, "n2"), *start_target(source=None, involved=("n2",)),
                            *finish_on("n2", source=None, involved=("n2",))],
         assignment=assigned_everywhere(G, "n2")),
    Case("partly up on the target: stopped there before a fresh start",
         move(), lambda w: [*begin(w, everywhere(but={"n2": "partial"})),
                            *journaled(["n2"], G, "n2", "n2", "stopping"),
                            *stopped("n2", G), *verified(G, "n2"),
                            *start_target(source="n2", involved=("n2",)),
                            *finish_on("n2", source="n2", involved=("n2",))],
         assignment=assigned_everywhere(G, "n2")),
    Case("active on two hosts: refused, resolve first",
         move(), lambda w: [*begin(w, everywhere(but={"n1": "up", "n3": "partial"})),
                            *unlocked(HOSTS)],
         Refused, "active on n1 and n3"),
    Case("--to a host outside the group: bad input, no request at all",
         move(name="web"), lambda w: [], BadInput, "not one of the hosts of group web"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_move(case: Case) -> None:
    run_case(case)


def test_dry_run_asks_but_changes_nothing() -> None:
    case = Case("dry run", lambda admin: [describe(s) for s in admin.move(G, "n2",
                                                                          dry_run=True)],
                lambda w: [*states(w), *observed(G, everywhere(but={"n1": "up"}))],
                says="[n1] run pre-move hook hooks/censhare_pre")
    run_case(case)


def test_every_step_the_move_writes_is_one_recover_understands() -> None:
    """The journal's steps and move_plan.recovery_host must not drift apart (issue 12)."""
    from s2s_sd.move_plan import RECOVERY_STEPS

    written = set()
    for case in CASES:
        for expect in case.script(case.world):
            if expect.op == "journal_write":
                written.add(expect.args["journal"]["step"])
    assert written == set(RECOVERY_STEPS)


def test_a_start_whose_stop_fails_raises_the_alarm_and_refuses_the_next_move() -> None:
    """After "start fails and the target's stop fails too": status shows the interrupted
    move, and the next move is refused and names recover."""
    case = next(c for c in CASES if c.name.startswith("start fails and the target's stop"))
    after = World(journals={h: list(j.values())
                            for h, j in run_case(case).records.journals.items() if j})
    transport = after.transport()
    transport.expect([Expect(h, "observe", {"scripts": True, "hostgroup": HOSTGROUP}, ok({
        "host": h, "state": after.reply(h).result,
        "groups": {g.name: observation(g, "partial" if (h, g.name) == ("n2", G) else "down")
                   for g in definitions().groups}})) for h in HOSTS])
    admin = Admin(definitions(), EXAMPLES, ADMIN, transport=transport, clock=lambda: NOW)
    with local_state():
        alarms = [a.message for a in admin.status().all_alarms]
        assert (f"interrupted move of {G} (n1 -> n2, step starting) journaled on n2: "
                f"`s2s-sd recover {G}`") in alarms
        assert f"{G} is active on n2 but assigned to n1" in alarms
        transport.expect([*states(after), *pid_asked(ADMIN, alive=False, pid=os.getpid())])
        with pytest.raises(Refused, match=f"s2s-sd recover {G}"):
            admin.move(G, "n3")
    transport.verify()


def test_the_happy_move_spelled_out() -> None:
    """The phrases of the happy move, expanded: what a reader of the table should see."""
    transport = run_case(CASES[0])
    asked = [" ".join(r.split()[:2]) for r in transport.requests]
    every = [f"{h} {{}}" for h in HOSTS]
    assert asked == [
        *[e.format("state") for e in every],  # an interrupted move of the group?
        *[e.format("lock_acquire") for e in every],
        *[e.format("state") for e in every],  # generations, journals, assignments
        *[e.format("observe") for e in every],  # where it runs: n1
        "n1 journal_write", "n2 journal_write", "n3 journal_write",  # stopping
        "n1 run_hook",  # pre-move
        "n1 stop_group",
        *[e.format("observe") for e in every],  # verify: runs nowhere
        "n2 probe_vips",  # and nobody answers for its VIP
        "n1 journal_write", "n2 journal_write", "n3 journal_write",  # starting
        "n2 start_group",
        "n1 journal_write", "n2 journal_write", "n3 journal_write",  # post_move
        "n2 run_hook",  # post-move
        *[e.format("set_assignments") for e in every],  # censhare -> n2, next epoch
        *[e.format("journal_clear") for e in every],
        *[e.format("lock_release") for e in every],
    ]


@pytest.mark.parametrize("name", [
    "source unreachable with --force, ARP/ND silent: started on the target",
    "source unreachable with --force, ARP/ND answering: refused",
    "source unreachable without --force: refused, nothing changed",
])
def test_a_dead_source_is_waited_for_once_per_command(name: str) -> None:
    """Issue 14: the view, the lock, the view under it, the journal clear and the
    assignment record each ask the dead host; only the first goes over the wire."""
    transport = run_case(next(c for c in CASES if c.name == name))
    asked = [r for r in transport.requests if r.startswith("n1 ")]
    assert transport.sent_to("n1") == 1, transport.sent
    assert len(asked) >= 3, asked  # the others were answered from the transport's memory


def test_a_group_whose_vips_lead_is_not_probed_by_the_admin() -> None:
    """web's VIP is its first member: the VIP's own probe on the target (after the
    source is proven down, before anything of the group starts) is the proof that
    nobody answers for it, so the admin asks no probe_vips of its own."""
    w = World()
    web = "web"
    involved = ("n1", "n3")
    script = [*begin(w, everywhere(but={"n3": "up"}), to="n1", name=web),
              *journaled(involved, web, "n3", "n1", "stopping"),
              *stopped("n3", web), *observed(web, everywhere()),
              *journaled(involved, web, "n3", "n1", "starting"), *started("n1", web),
              *journaled(involved, web, "n3", "n1", "post_move"),
              *recorded(web, "n1"), *journal_cleared(web), *unlocked(HOSTS)]
    transport = run_case(Case("web moves n3 -> n1 without the admin's probe",
                              move("n1", name=web), lambda _w: script, group=web,
                              assignment=assigned_everywhere(web, "n1")))
    assert not any(" probe_vips " in r for r in transport.requests)
    # censhare's mount comes before its VIP: the admin probes before the start
    assert "n2 probe_vips" in [" ".join(r.split()[:2]) for r in run_case(CASES[0]).requests]


@pytest.mark.parametrize(("index", "kind", "says"), [
    (0, "moved", "censhare runs on n2"),
    (7, "move-failed", "runs on n1 again"),  # start on the target fails: rolled back
    (1, "move-failed", "pre_move hook"),
])
def test_a_move_is_an_event_of_the_admin_host(monkeypatch: pytest.MonkeyPatch, index: int,
                                              kind: str, says: str) -> None:
    from s2s_sd.hosts import events

    seen: list[events.Event] = []
    monkeypatch.setattr(events, "emit", lambda hostgroup, event, hook, basedir:
                        seen.append(event))
    run_case(CASES[index])
    assert [(e.event, e.group, e.member, e.host) for e in seen] == [(kind, G, None, "n3")]
    assert says in seen[0].reason
