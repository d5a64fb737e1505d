"""The typed plans of move, start and recover (s2s_sd/move_plan.py): every branch of the
builders, and `move --dry-run` showing exactly the steps the executor then runs
(engines/systemd/move.py against the scripted transport of the scenario tables).

censhare (n1, n2, n3; mount before VIP, pre- and post-move hooks) and web (VIP first, no
hooks) of examples/.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import OperationFailed, Refused
from s2s_sd.move_plan import (
    FRAMING,
    RECOVERY_STEPS,
    AlreadyRuns,
    ArpOnly,
    ClearJournal,
    HookKind,
    JournalStep,
    Located,
    MoveHook,
    MoveStep,
    Preflight,
    Record,
    RollBack,
    SkipSource,
    StartFailure,
    StartOn,
    StopOn,
    TakeLock,
    Unlock,
    VerifyDown,
    VerifyNowhere,
    WriteJournal,
    describe,
    journal_step,
    locate,
    move_plan,
    recover_steps,
    recovery_host,
    rollback_steps,
    start_steps,
)
from s2s_sd.observation import GroupObservation
from tests.conftest import EXAMPLES
from tests.unit.fake_transport import observation
from tests.unit.scenarios import ADMIN, NOW, Case, definitions, group, local_state, states
from tests.unit.test_move_scenarios import CASES

pytestmark = pytest.mark.unit

G = "censhare"


def seen(name: str = G, **how: str) -> dict[str, GroupObservation]:
    """host -> what runs there ("up", "partial", "down"); hosts not named: down."""
    return {h: GroupObservation.from_dict(observation(group(name), how.get(h, "down")))
            for h in ("n1", "n2", "n3")}


def where(source: str | None, reachable: bool = True, unreachable: tuple[str, ...] = (),
          fully_up: tuple[str, ...] = (), assigned: str = "n1") -> Located:
    return Located(source, reachable, unreachable, fully_up, assigned)


def kinds(steps: tuple[MoveStep, ...]) -> list[str]:
    return [type(step).__name__ for step in steps]


# -- locate ------------------------------------------------------------------------------

@pytest.mark.parametrize(("observed", "unreachable", "assigned", "expected"), [
    ({"n1": "up"}, (), {G: "n1"}, where("n1", fully_up=("n1",))),
    ({"n2": "partial"}, (), {G: "n1"}, where("n2")),
    ({}, (), {G: "n1"}, where(None)),
    ({}, ("n1",), {G: "n1"}, where("n1", reachable=False, unreachable=("n1",))),
    ({}, ("n3",), {G: "n1"}, where(None, unreachable=("n3",))),
    ({}, (), {}, where(None)),  # not recorded: its first host
])
def test_locate(observed: dict[str, str], unreachable: tuple[str, ...],
                assigned: Mapping[str, str], expected: Located) -> None:
    answered = {h: o for h, o in seen(**observed).items() if h not in unreachable}
    assert locate(group(G), answered, unreachable, assigned) == expected


def test_locate_refuses_two_actives() -> None:
    with pytest.raises(Refused, match="active on n1 and n3"):
        locate(group(G), seen(n1="up", n3="partial"), (), {G: "n1"})


# -- move_plan: every branch -------------------------------------------------------------

def test_a_reachable_source_is_hooked_stopped_and_verified_down() -> None:
    plan = move_plan(group(G), "n2", where("n1", fully_up=("n1",)), force=False)
    assert plan == (
        TakeLock(), Preflight(),
        WriteJournal(JournalStep.STOPPING, ("n1", "n2"), "n1", "n2", clear_on_failure=True),
        MoveHook(HookKind.PRE_MOVE, "n1", "hooks/censhare_pre", "n1", "n2"),
        StopOn("n1", G), VerifyDown("n1"),
        VerifyNowhere("n2", roll_back_to="n1"),
        WriteJournal(JournalStep.STARTING, ("n1", "n2"), "n1", "n2"),
        StartOn("n2", G, StartFailure.ROLL_BACK, roll_back_to="n1", lost_is_failure=True),
        WriteJournal(JournalStep.POST_MOVE, ("n1", "n2"), "n1", "n2"),
        MoveHook(HookKind.POST_MOVE, "n2", "hooks/censhare_post", "n1", "n2"),
        Record(G, "n2"), ClearJournal(), Unlock())


def test_an_unreachable_source_without_force_is_refused_naming_why() -> None:
    with pytest.raises(Refused, match=r"assigned to n1, which is unreachable \(n1: "
                                      r"Connection refused\).*use --force"):
        move_plan(group(G), "n2", where("n1", False, ("n1",)), force=False,
                  reasons={"n1": "Connection refused"})


def test_an_unreachable_source_with_force_is_skipped_and_the_admin_probes() -> None:
    plan = move_plan(group("web"), "n1", where("n3", False, ("n3",), assigned="n3"),
                     force=True)
    assert kinds(plan) == ["TakeLock", "Preflight", "SkipSource", "WriteJournal",
                           "VerifyNowhere", "WriteJournal", "StartOn", "WriteJournal",
                           "Record", "ClearJournal", "Unlock"]
    assert plan[2] == SkipSource("n3")
    assert plan[3] == WriteJournal(JournalStep.STOPPING, ("n1",), "n3", "n1", True, True)
    # web's VIP leads, but the source is not proven down: the admin probes ARP/ND itself
    assert plan[4] == VerifyNowhere("n1", ("n3",), admin_probe=True, clear_journal=True)
    assert plan[6] == StartOn("n1", "web", StartFailure.CLEAR, lost_is_failure=True)


def test_other_unreachable_hosts_of_the_group_are_checked_by_arp_only() -> None:
    plan = move_plan(group(G), "n2", where("n1", unreachable=("n3",)), force=False)
    assert plan[2] == ArpOnly(("n3",))
    assert VerifyNowhere("n2", ("n3",), roll_back_to="n1") in plan


def test_a_group_whose_vips_lead_is_not_probed_by_the_admin() -> None:
    plan = move_plan(group("web"), "n1", where("n3", assigned="n3"), force=False)
    assert VerifyNowhere("n1", admin_probe=False, roll_back_to="n3") in plan
    assert not any(isinstance(s, MoveHook) for s in plan)  # web has none


@pytest.mark.parametrize(("assigned", "expected"), [
    ("n1", ["TakeLock", "Preflight", "AlreadyRuns", "Record", "Unlock"]),
    ("n2", ["TakeLock", "Preflight", "AlreadyRuns", "Unlock"]),
])
def test_already_running_on_the_target_records_it_at_most(assigned: str,
                                                          expected: list[str]) -> None:
    plan = move_plan(group(G), "n2", where("n2", fully_up=("n2",), assigned=assigned),
                     force=False)
    assert kinds(plan) == expected
    assert plan[2] == AlreadyRuns("n2", G)


def test_partly_up_on_the_target_is_stopped_there_before_a_fresh_start() -> None:
    plan = move_plan(group(G), "n2", where("n2"), force=False)
    assert kinds(plan)[2:6] == ["WriteJournal", "StopOn", "VerifyNowhere", "WriteJournal"]
    assert plan[2] == WriteJournal(JournalStep.STOPPING, ("n2",), "n2", "n2",
                                   clear_on_failure=True)
    assert plan[3] == StopOn("n2", G, partly=True)  # judged by the verify that follows
    assert plan[4] == VerifyNowhere("n2", clear_journal=True)
    # the post-move hook only: nothing left the target
    assert [s.which for s in plan if isinstance(s, MoveHook)] == [HookKind.POST_MOVE]
    assert not any(isinstance(s, VerifyDown) for s in plan)


def test_no_source_starts_on_the_target_without_hooks_before_or_stop() -> None:
    plan = move_plan(group(G), "n2", where(None), force=False)
    assert kinds(plan) == ["TakeLock", "Preflight", "WriteJournal", "VerifyNowhere",
                           "WriteJournal", "StartOn", "WriteJournal", "MoveHook",
                           "Record", "ClearJournal", "Unlock"]
    assert plan[2] == WriteJournal(JournalStep.STOPPING, ("n2",), None, "n2",
                                   clear_on_failure=True)
    assert plan[5] == StartOn("n2", G, StartFailure.CLEAR, lost_is_failure=True)


def test_an_unreachable_target_is_refused() -> None:
    with pytest.raises(Refused, match="n2 is unreachable: nothing was changed"):
        move_plan(group(G), "n2", where("n1", unreachable=("n2",)), force=True)


def test_every_step_says_where_it_happens() -> None:
    plan = move_plan(group(G), "n2", where("n1", fully_up=("n1",)), force=False)
    lines = [describe(step) for step in plan]
    assert "[n1] run pre-move hook hooks/censhare_pre (on failure: clear the journal, " \
           "stop here)" in lines
    assert "[n1] stop s2s-censhare.target (busy mounts: holders get TERM, then KILL)" in lines
    assert "[n2] start s2s-censhare.target (on failure: stop it there and start it again " \
           "on n1)" in lines
    assert lines[-1] == "release the admin lock"


# -- the fragments: rollback, start, recover ---------------------------------------------

def test_a_rollback_proves_it_down_again_and_gives_up_when_the_source_fails() -> None:
    assert rollback_steps(group(G), "n1", "n2") == (
        RollBack("n1", G, "n2"), VerifyNowhere("n1"),
        WriteJournal(JournalStep.ROLLBACK, ("n1", "n2"), "n2", "n1"),
        StartOn("n1", G, StartFailure.GIVE_UP, failed_on="n2"),
        Record(G, "n1"), ClearJournal())


@pytest.mark.parametrize(("verify", "expected"), [
    (True, ["VerifyNowhere", "WriteJournal", "StartOn"]),
    (False, ["WriteJournal", "StartOn"]),  # partly up there already
])
def test_a_start_is_verified_unless_it_is_partly_up_there(verify: bool,
                                                          expected: list[str]) -> None:
    steps = start_steps(group(G), "n1", verify, StartFailure.CLEAR)
    assert kinds(steps) == expected
    assert steps[-2] == WriteJournal(JournalStep.STARTING, ("n1",), None, "n1")
    assert steps[-1] == StartOn("n1", G, StartFailure.CLEAR)  # its loss is no failure


@pytest.mark.parametrize(("step", "source", "expected"), [
    (JournalStep.STOPPING, "n1", "n1"),  # before the target was started: back
    (JournalStep.STOPPING, None, "n2"),  # it ran nowhere: forward
    (JournalStep.STARTING, "n1", "n2"),
    (JournalStep.POST_MOVE, "n1", "n2"),
    (JournalStep.ROLLBACK, "n2", "n2"),  # a rollback's target is the original source
])
def test_recovery_host(step: JournalStep, source: str | None, expected: str) -> None:
    assert recovery_host(step, source, "n2") == expected


def test_recover_keeps_a_group_that_runs_fully_somewhere() -> None:
    assert recover_steps(group(G), JournalStep.STARTING, "n1", "n2", seen(n1="up"),
                         {G: "n1"}) == (AlreadyRuns("n1", G), Record(G, "n1"), ClearJournal())


def test_recover_stops_what_is_partly_up_then_starts_where_the_step_points() -> None:
    steps = recover_steps(group(G), JournalStep.STARTING, "n1", "n2", seen(n1="partial"),
                          {G: "n1"})
    assert steps == (StopOn("n1", G, partly=True), VerifyDown("n1"),
                     *start_steps(group(G), "n2", True, StartFailure.KEEP),
                     Record(G, "n2"), ClearJournal())


def test_recover_uses_the_assigned_host_when_the_journaled_one_left_the_group() -> None:
    steps = recover_steps(group("web"), JournalStep.STARTING, "n3", "n2", seen("web"),
                          {"web": "n3"})
    assert Record("web", "n3") in steps and StartOn("n3", "web", StartFailure.KEEP) in steps


def test_recover_refuses_two_actives() -> None:
    with pytest.raises(Refused, match="active on n1 and n2"):
        recover_steps(group(G), JournalStep.STOPPING, "n1", "n2",
                      seen(n1="partial", n2="up"), {G: "n1"})


def test_only_the_steps_a_plan_journals_are_read_back() -> None:
    assert [journal_step(step.value) for step in RECOVERY_STEPS] == list(RECOVERY_STEPS)
    assert journal_step("verifying") is None  # never written: recover refuses it
    written = {s.step for s in (*move_plan(group(G), "n2", where("n1"), force=False),
                                *rollback_steps(group(G), "n1", "n2"))
               if isinstance(s, WriteJournal)}
    assert written == set(RECOVERY_STEPS)


# -- the dry run is the plan the executor follows ----------------------------------------

SUCCEEDING = [c for c in CASES if c.error is None and "lock" not in c.name
              and "catches up" not in c.name]


@pytest.mark.parametrize("case", SUCCEEDING, ids=str)
def test_the_dry_run_shows_exactly_the_steps_the_move_runs(case: Case) -> None:
    """The same scenario twice: `move --dry-run` (a view and an observe, nothing else),
    then the move itself; the dry run's lines are the steps the executor ran, framed by
    the lock and preflight before and the unlock after."""
    script = case.script(case.world)
    observe_at = next(i for i, e in enumerate(script) if e.op == "observe")
    where_it_runs = [e for e in script[observe_at:] if e.op == "observe"][
        :len(case.world.up)]
    transport = case.world.transport()
    transport.expect([*states(case.world), *where_it_runs, *script])
    admin = Admin(definitions(), EXAMPLES, ADMIN, transport=transport, clock=lambda: NOW)
    with local_state():
        planned = admin.move(case.group, "n2", dry_run=True,
                             force="with --force" in case.name)
        assert admin.moves.ran == []  # the dry run ran nothing
        case.act(admin)
    transport.verify()
    assert [describe(s) for s in planned] == [
        describe(s) for s in (TakeLock(), Preflight(), *admin.moves.ran, Unlock())]
    assert [s for s in planned if isinstance(s, FRAMING)] == [TakeLock(), Preflight(),
                                                               Unlock()]


def test_a_failed_start_runs_the_plan_up_to_it_then_the_rollback() -> None:
    case = next(c for c in CASES if c.name.startswith("start on the target fails"))
    transport = case.world.transport()
    transport.expect(case.script(case.world))
    admin = Admin(definitions(), EXAMPLES, ADMIN, transport=transport, clock=lambda: NOW)
    with local_state(), pytest.raises(OperationFailed, match="runs on n1 again"):
        case.act(admin)
    plan = move_plan(group(G), "n2", where("n1", fully_up=("n1",)), force=False)
    start = next(i for i, s in enumerate(plan) if isinstance(s, StartOn))
    assert admin.moves.ran == [*plan[2:start + 1], *rollback_steps(group(G), "n1", "n2")]
