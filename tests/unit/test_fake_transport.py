"""The scripted transport polices itself: a request out of order, with other arguments,
one too many or one missing fails the test, and the code under test cannot swallow it."""

from __future__ import annotations

import pytest

from s2s_sd.errors import BadInput, OperationFailed, Refused
from tests.unit.fake_transport import (
    ANY,
    Expect,
    ScriptedTransport,
    ScriptMismatch,
    bad_input,
    failed,
    ok,
    refused,
    unreachable,
)
from tests.unit.scenarios import definitions

pytestmark = pytest.mark.unit


def scripted(*script: Expect) -> ScriptedTransport:
    return ScriptedTransport(definitions(), "n3", script)


def test_answers_in_order_and_matches_an_argument_subset() -> None:
    transport = scripted(
        Expect("n1", "journal_write", {"journal": {"step": "stopping", "pid": ANY}}),
        Expect("n2", "pid_alive", {"pid": 7}, ok({"alive": True})))
    journal = {"group": "censhare", "step": "stopping", "pid": 1, "started": 2.0}
    assert transport.ask("n1", "journal_write", {"journal": journal}).ok
    assert transport.call("n2", "pid_alive", {"pid": 7}) == {"alive": True}
    transport.verify()
    assert transport.requests[1] == "n2 pid_alive {'pid': 7}"


@pytest.mark.parametrize("host, op, args", [
    ("n2", "state", {"hostgroup": "c07"}),  # another host
    ("n1", "observe", {"hostgroup": "c07"}),  # another operation
    ("n1", "state", {"hostgroup": "c08"}),  # another argument
    ("n1", "state", {}),  # an argument missing
])
def test_a_request_that_differs_fails_with_both_shown(host: str, op: str,
                                                       args: dict[str, str]) -> None:
    transport = scripted(Expect("n1", "state", {"hostgroup": "c07"}))
    with pytest.raises(ScriptMismatch, match=f"(?s)expected n1 state .* got +{host} {op}"):
        transport.ask(host, op, args)
    with pytest.raises(ScriptMismatch):  # the first mismatch sticks
        transport.verify()


def test_one_request_too_many_or_missing_fails() -> None:
    transport = scripted(Expect("n1", "state"))
    transport.ask("n1", "state")
    with pytest.raises(ScriptMismatch, match="the script has ended"):
        transport.ask("n1", "state")
    left_over = scripted(Expect("n1", "state"), Expect("n2", "state"))
    left_over.ask("n1", "state")
    with pytest.raises(ScriptMismatch, match=r"1 expected request\(s\) never made:\n +2 n2"):
        left_over.verify()


def test_a_mismatch_is_no_error_the_code_under_test_could_catch() -> None:
    assert not issubclass(ScriptMismatch, OperationFailed)
    transport = scripted()
    with pytest.raises(ScriptMismatch, match="unit tier runs no ssh"):
        transport.session("n1")


def test_errors_arrive_as_from_the_wire() -> None:
    transport = scripted(Expect("n2", "start_group", reply=unreachable("timed out")),
                         Expect("n1", "run_hook", reply=failed("hook failed")),
                         Expect("n1", "stop_group", reply=refused("generation 6")),
                         Expect("n1", "observe", reply=bad_input("unknown group")))
    down = transport.ask("n2", "start_group")
    assert down.unreachable and "n2: unreachable: timed out" in str(down.error)
    with pytest.raises(OperationFailed, match="n1: hook failed"):
        transport.call("n1", "run_hook")
    assert isinstance(transport.ask("n1", "stop_group").error, Refused)
    assert isinstance(transport.ask("n1", "observe").error, BadInput)
    transport.verify()


def test_writes_leave_records() -> None:
    entry = {"group": "web", "source": "n3", "target": "n1", "step": "starting"}
    transport = scripted(
        Expect("n1", "journal_write", reply=ok({"written": True})),
        Expect("n2", "journal_write", reply=unreachable()),
        Expect("n1", "set_assignments", reply=ok({"written": True})),
        Expect("n3", "set_assignments", reply=ok({"written": False})),
        Expect("n3", "journal_clear"))
    transport.seed(journals={"n3": [entry]})
    transport.ask_many(["n1", "n2"], "journal_write", {"journal": entry})
    transport.ask_many(["n1", "n3"], "set_assignments", {"epoch": 4,
                                                         "assignments": {"web": "n1"}})
    transport.ask("n3", "journal_clear", {"group": "web"})
    transport.verify()
    assert transport.records.journal_of("web") == {"n1": "starting n3->n1"}
    assert transport.records.assignment_of("web") == {"n1": "n1"}


def test_a_host_found_unreachable_is_answered_from_memory_unless_fresh() -> None:
    transport = scripted(Expect("n1", "state", reply=unreachable("No route to host")),
                         Expect("n1", "observe", reply=unreachable()),
                         Expect("n1", "lock_acquire", reply=unreachable()),
                         Expect("n1", "observe", reply=ok({"fine": True})),
                         Expect("n1", "state", reply=ok()))
    first = transport.ask("n1", "state")
    again = transport.ask("n1", "observe")
    assert transport.sent_to("n1") == 1, "the second request never left"
    assert again.unreachable and "No route to host (found so at " in str(again.error)
    assert "not asked again" in str(again.error) and first.unreachable
    assert transport.ask("n1", "lock_acquire").unreachable
    assert transport.ask("n1", "observe", fresh=True).value() == {"fine": True}
    assert transport.ask("n1", "state").ok, "reached again: no longer remembered"
    assert transport.sent_to("n1") == 3
    transport.verify()


def test_a_request_sent_where_the_script_expects_memory_fails() -> None:
    transport = scripted(Expect("n1", "state", reply=unreachable()),
                         Expect("n1", "state", reply=unreachable()))
    transport.ask("n1", "state")
    with pytest.raises(ScriptMismatch, match="went to n1 over the wire"):
        transport.ask("n1", "state", fresh=True)
