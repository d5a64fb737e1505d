"""The one status model (s2s_sd/status.py): built from recorded observations of either
engine (the systemd engine's `observe` answers as tests/unit/fake_transport.py shapes
them, the crm_mon fixtures), one case per alarm kind, the text printer and the JSON."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from s2s_sd.engines.pacemaker.crm_mon import ClusterStatus, cli_constraints, parse_crm_mon
from s2s_sd.observation import GroupObservation, UnitHealth
from s2s_sd.status import (
    AlarmKind,
    Cell,
    CellState,
    Engine,
    GroupReport,
    HostAnswer,
    HostCondition,
    HostReport,
    StatusReport,
    build_pacemaker,
    build_systemd,
)
from s2s_sd.status_print import SCHEMA_VERSION, render_text, to_json
from tests.unit.fake_transport import journal_entry, lock_entry, observation, state_result
from tests.unit.scenarios import ASSIGNED, EPOCH, GENERATION, HOSTS, definitions, group
from tests.unit.test_crm_mon import fixture

pytestmark = pytest.mark.unit

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
REFUSED = "ssh: connect to host n2 port 22: Connection refused"


# -- systemd engine ---------------------------------------------------------------------------

def answer(host: str, how: Mapping[str, str] | None = None,
           journals: Sequence[Mapping[str, Any]] = (),
           lock: Mapping[str, Any] | None = None) -> HostAnswer:
    """The `observe` answer of `host`: every group as ASSIGNED says (up where assigned,
    down elsewhere), except where `how` says otherwise (group -> up/partial/failed/down)."""
    groups = {}
    for entry in definitions().groups:
        default = "up" if ASSIGNED[entry.name] == host else "down"
        seen = observation(entry, (how or {}).get(entry.name, default))
        groups[entry.name] = GroupObservation.from_dict(seen)
    return HostAnswer(groups, state_result(host, GENERATION, "digest", EPOCH, ASSIGNED,
                                           journals, lock))


def systemd_report(**answers: HostAnswer) -> StatusReport:
    every = {h: answers.get(h) or answer(h) for h in HOSTS}
    return build_systemd(definitions(), "n3", every)


def kinds(report: StatusReport) -> list[tuple[str, str | None, str | None]]:
    return sorted((a.kind.value, a.group, a.host) for a in report.all_alarms)


def test_all_well_no_alarm_exit_0() -> None:
    report = systemd_report()
    assert report.all_alarms == () and report.exit_code == 0
    web = next(g for g in report.groups if g.name == "web")
    assert web.assigned == "n3" and web.running == "n3"
    assert {h: c.state for h, c in web.cells.items()} == {
        "n1": CellState.DOWN, "n2": CellState.DOWN, "n3": CellState.UP}
    assert [m.name for m in web.members] == [s.name for s in group("web").services]
    assert all(m.states["n3"] == "active" and m.states["n1"] == "inactive"
               for m in web.members)


def test_active_twice_and_where_not_assigned() -> None:
    report = systemd_report(n1=answer("n1", {"web": "up"}))
    assert kinds(report) == [("active_not_assigned", "web", "n1"),
                             ("active_twice", "web", None)]
    assert report.exit_code == 1
    messages = [a.message for a in report.all_alarms]
    assert "web is ACTIVE ON 2 HOSTS: n1, n3" in messages
    assert "web is active on n1 but assigned to n3" in messages


def test_partly_up_where_assigned() -> None:
    report = systemd_report(n3=answer("n3", {"web": "partial"}))
    assert kinds(report) == [("partly_up", "web", "n3")]
    assert report.all_alarms[0].member == "httpd"
    assert report.all_alarms[0].message.endswith("; member httpd is inactive")
    web = next(g for g in report.groups if g.name == "web")
    assert web.cells["n3"].state is CellState.PARTIAL and web.running is None


def test_interrupted_move() -> None:
    journal = journal_entry("ora", "n2", "n1", "starting", "n3")
    report = systemd_report(n1=answer("n1", journals=[journal]))
    assert kinds(report) == [("interrupted_move", "ora", "n1")]
    assert report.all_alarms[0].message == ("interrupted move of ora (n2 -> n1, step "
                                            "starting) journaled on n1: `s2s-sd recover ora`")


def test_unreachable_host_with_ssh_reason() -> None:
    report = systemd_report(n2=HostAnswer(unreachable=REFUSED))
    assert kinds(report) == [("host_unreachable", None, "n2")]
    assert report.exit_code == 1
    assert all(g.cells["n2"].state is CellState.UNREACHABLE for g in report.groups)
    text = render_text(report, 0.0)
    assert f"UNREACHABLE: n2 (its groups are unknown, not stopped): {REFUSED}" in text
    assert "generations: n1=7, n2=?, n3=7" in text
    encoded = to_json(report)
    assert encoded["unreachable"] == ["n2"]
    assert encoded["hosts"][1] == {"name": "n2", "condition": "unreachable",
                                   "reason": REFUSED, "generation": None, "lock": None,
                                   "node_state": None, "dc": False}


def test_the_admin_hosts_own_failure_is_not_unreachable() -> None:
    local = "systemd is not running on this host (no /run/systemd/system)"
    report = systemd_report(n3=HostAnswer(failed=local))
    assert kinds(report) == [("host_failed", None, "n3")]
    text = render_text(report, 0.0)
    assert "UNREACHABLE" not in text
    assert f"NOT OBSERVED: n3 (this host): {local}" in text
    assert all(g.cells["n3"].state is CellState.UNKNOWN for g in report.groups)


def test_lock_and_refused_start_are_shown_without_alarm() -> None:
    seen = observation(group("web"), "down")
    seen["units"]["s2s-guard@web.service"] = "failed"
    refused = answer("n1")
    refused = dataclasses.replace(refused, observations={
        **refused.observations, "web": GroupObservation.from_dict(seen)})
    report = systemd_report(n1=refused,
                            n2=answer("n2", lock=lock_entry("n1", 77, "move web --to n1")))
    assert report.all_alarms == ()
    text = render_text(report, 0.0)
    assert "n1: its guard refused a start (systemctl status s2s-guard@web.service)" in text
    assert "lock on n2: held by n1 pid 77 for 'move web --to n1'" in text


def test_filter_keeps_host_alarms_and_drops_other_groups() -> None:
    journal = journal_entry("ora", "n2", "n1", "starting", "n3")
    report = systemd_report(n1=answer("n1", {"web": "up"}, journals=[journal]),
                            n2=HostAnswer(unreachable=REFUSED))
    only = report.only(["censhare"])
    assert [g.name for g in only.groups] == ["censhare"]
    assert kinds(only) == [("host_unreachable", None, "n2")]
    assert kinds(report.only(["ora"])) == [("host_unreachable", None, "n2"),
                                           ("interrupted_move", "ora", "n1")]


# -- Pacemaker engine ------------------------------------------------------------------------

def cluster(name: str = "running.xml") -> ClusterStatus:
    return parse_crm_mon(fixture(name))


def pacemaker_report(status: ClusterStatus, constraints: str = "<constraints/>"
                     ) -> StatusReport:
    return build_pacemaker(definitions("n1"), "n1", status, cli_constraints(constraints), NOW)


def with_group(status: ClusterStatus, name: str, **changes: Any) -> ClusterStatus:
    groups = dict(status.groups)
    groups[name] = dataclasses.replace(groups[name], **changes)
    return dataclasses.replace(status, groups=groups)


@pytest.mark.parametrize(("mon", "constraints", "expected"), [
    ("running.xml", "<constraints/>", []),
    ("failed_start.xml", "<constraints/>", [("failed_action", "web", "n3")]),
    ("maintenance.xml", "<constraints/>", [("maintenance", None, None)]),
    ("partial.xml", "<constraints/>", [("partly_up", "censhare", "n1")]),
    ("no_quorum.xml", "<constraints/>", [("host_offline", None, "n2"),
                                         ("host_offline", None, "n3"),
                                         ("no_quorum", None, "n1")]),
    ("offline.xml", "<constraints/>", [("host_offline", None, "n2")]),
    ("running.xml", "constraints_leftover.xml", [("leftover_constraint", "web", "n1")]),
])
def test_pacemaker_alarms_from_recorded_crm_mon(mon: str, constraints: str,
                                                expected: list[tuple[str, ...]]) -> None:
    xml = fixture(constraints) if constraints.endswith(".xml") else constraints
    report = pacemaker_report(cluster(mon), xml)
    assert kinds(report) == expected
    assert report.exit_code == (1 if expected else 0)
    assert report.engine is Engine.PACEMAKER


def test_pacemaker_no_dc() -> None:
    status = dataclasses.replace(cluster(), dc=None)
    assert ("no_dc", None, None) in kinds(pacemaker_report(status))


def test_pacemaker_group_not_configured() -> None:
    status = cluster()
    status = dataclasses.replace(status, groups={k: v for k, v in status.groups.items()
                                                 if k != "web"})
    assert kinds(pacemaker_report(status)) == [("not_configured", "web", None)]


def test_pacemaker_down_where_it_should_run() -> None:
    status = cluster()
    web = status.groups["web"]
    stopped = tuple(dataclasses.replace(m, role="Stopped", nodes=()) for m in web.members)
    assert kinds(pacemaker_report(with_group(status, "web", members=stopped))) == [
        ("down_where_assigned", "web", None)]


def test_pacemaker_unmanaged_group() -> None:
    status = with_group(cluster(), "web", managed=False)
    assert kinds(pacemaker_report(status)) == [("unmanaged", "web", None)]


def test_pacemaker_active_where_not_allowed() -> None:
    status = cluster()
    web = status.groups["web"]
    on_n2 = tuple(dataclasses.replace(m, nodes=("n2",)) for m in web.members)
    report = pacemaker_report(with_group(status, "web", members=on_n2))
    assert kinds(report) == [("active_not_allowed", "web", "n2")]
    assert report.all_alarms[0].message == "web is active on n2, which is not one of its hosts"


def test_pacemaker_members_with_fail_counts_and_last_failure() -> None:
    report = pacemaker_report(cluster("failed_start.xml"))
    web = next(g for g in report.groups if g.name == "web")
    httpd = next(m for m in web.members if m.name == "web_httpd")
    assert httpd.last_failure is not None and "start of web_httpd on n3" in httpd.last_failure
    assert dict(httpd.fail_counts) == {"n3": 1000000}


def test_every_alarm_kind_has_a_case() -> None:
    """The cases above cover every kind the two builders raise."""
    covered = {"active_twice", "active_not_assigned", "partly_up", "interrupted_move",
               "host_unreachable", "host_failed", "failed_action", "maintenance",
               "host_offline", "no_quorum", "leftover_constraint", "no_dc",
               "not_configured", "down_where_assigned", "unmanaged", "active_not_allowed",
               "concurrency"}
    assert covered == {k.value for k in AlarmKind}


# -- health (issue 13): down where assigned, frozen, concurrency, restarts -----------------

def with_state(base: HostAnswer, health: Mapping[str, UnitHealth] | None = None,
               **state: Any) -> HostAnswer:
    """An answer whose `state` carries the health records (frozen, wanted, violations)."""
    return dataclasses.replace(base, state={**base.state, **state},
                               health=dict(health or base.health))


MARK = {"since": 1_764_504_000.0, "by": "n1"}  # 2025-11-30 12:00:00 UTC


def test_failed_where_assigned_names_the_member_and_the_reason() -> None:
    httpd = "s2s-web-httpd.service"
    seen = observation(group("web"), "down")
    seen["units"][httpd] = "failed"
    n3 = answer("n3")
    n3 = dataclasses.replace(n3, observations={**n3.observations,
                                               "web": GroupObservation.from_dict(seen)})
    n3 = with_state(n3, {httpd: UnitHealth(3, "exit-code (exited, status 1)")})
    report = systemd_report(n3=n3)
    assert [(a.kind.value, a.group, a.host, a.member) for a in report.all_alarms] == [
        ("down_where_assigned", "web", "n3", "httpd")]
    assert report.all_alarms[0].message == ("web is failed on n3, where it is assigned: "
                                            "member httpd failed (exit-code (exited, status "
                                            "1) on n3)")
    assert report.exit_code == 1
    member = to_json(report)["groups"][2]["members"][1]
    assert member["name"] == "httpd" and member["restarts"] == {"n3": 3}
    assert member["last_failure"] == "exit-code (exited, status 1) on n3"
    assert "httpd: restarts n3 3; last failure exit-code" in render_text(report, 0.0)


def test_down_where_assigned_only_when_it_was_started_there() -> None:
    """Down on its host after a start (a give-up, a kill) is an alarm; a group never
    started there, or stopped with `s2s-sd stop` (no `wanted` record), is not."""
    down = answer("n3", {"web": "down"})
    assert kinds(systemd_report(n3=down)) == []
    report = systemd_report(n3=with_state(down, wanted=["web"]))
    assert kinds(report) == [("down_where_assigned", "web", "n3")]
    assert report.all_alarms[0].message == "web is down on n3, where it is assigned"


def test_frozen_is_shown_and_no_alarm_by_itself() -> None:
    report = systemd_report(n1=with_state(answer("n1"), frozen={"web": MARK}))
    assert report.all_alarms == () and report.exit_code == 0
    web = next(g for g in report.groups if g.name == "web")
    assert web.frozen is not None and web.frozen.by == "n1"
    assert to_json(report)["groups"][2]["frozen"] == MARK
    assert ("FROZEN (since 2025-11-30 12:00:00 UTC, by n1): s2s-sd changes nothing of it "
            "(`s2s-sd unfreeze web`)") in render_text(report, 0.0)


def test_a_frozen_group_down_where_assigned_is_still_reported_marked_frozen() -> None:
    n3 = with_state(answer("n3", {"web": "down"}), wanted=["web"], frozen={"web": MARK})
    report = systemd_report(n3=n3)
    assert kinds(report) == [("down_where_assigned", "web", "n3")]
    assert report.all_alarms[0].message.endswith("where it is assigned (frozen)")


def test_a_watchers_violation_is_an_alarm_of_the_host_that_saw_it() -> None:
    seen = {"group": "web", "host": "n1", "kind": "vip_answered", "since": 1.0,
            "message": "192.168.77.23/24 of web is held by n3 and answered by MAC "
                       "02:00:00:00:00:01 too"}
    report = systemd_report(n3=with_state(answer("n3"), violations=[seen]))
    assert kinds(report) == [("concurrency", "web", "n3")]
    assert report.all_alarms[0].message == f"n3 sees: {seen['message']}"
    assert report.exit_code == 1


def test_pacemaker_frozen_group_is_shown_not_alarmed() -> None:
    status = cluster()
    web = status.groups["web"]
    unmanaged = tuple(dataclasses.replace(m, managed=False) for m in web.members)
    report = pacemaker_report(with_group(status, "web", managed=False, members=unmanaged))
    assert kinds(report) == []
    frozen = next(g for g in report.groups if g.name == "web").frozen
    assert frozen is not None and frozen.describe() == "is-managed=false"
    assert "FROZEN (is-managed=false)" in render_text(report, 0.0)


# -- the printer and the JSON ------------------------------------------------------------------

LONG = "dbserver-prod-frankfurt-01"


def long_named_report() -> StatusReport:
    hosts = (HostReport("zeta", HostCondition.OK, generation=3),
             HostReport(LONG, HostCondition.OK, generation=3),
             HostReport("alpha", HostCondition.OK, generation=3))
    cells = {"zeta": Cell(CellState.DOWN), LONG: Cell(CellState.UP),
             "alpha": Cell(CellState.DOWN)}
    return StatusReport(Engine.SYSTEMD, "prod", "zeta", hosts,
                        (GroupReport("a-group-with-a-long-name", LONG, cells, running=LONG),),
                        drills={"a-group-with-a-long-name": {"time": 0.0, "result": "OK"}})


def test_columns_fit_the_data_and_hosts_keep_host_group_order() -> None:
    lines = render_text(long_named_report(), 300.0).splitlines()
    header, row = lines[1], lines[2]
    assert header.split() == ["GROUP", "ASSIGNED", "zeta", LONG, "alpha"]
    assert row.split() == ["a-group-with-a-long-name", LONG, "down", "up", "down"]
    # every cell starts where its header does
    for title, cell in (("ASSIGNED", LONG), (LONG, "up"), ("alpha", "down")):
        assert header.index(title) == row.index(cell, header.index(title)), (header, row)
    assert lines[-1] == "last drill: a-group-with-a-long-name OK 5 min ago"


def test_json_carries_the_schema_version_and_is_plain_json() -> None:
    report = systemd_report(n2=HostAnswer(unreachable=REFUSED))
    encoded = to_json(report)
    assert encoded["schema_version"] == SCHEMA_VERSION == 1
    assert encoded["engine"] == "systemd" and encoded["exit_code"] == 1
    assert json.loads(json.dumps(encoded)) == encoded
    assert set(encoded) == {"schema_version", "engine", "hostgroup", "host", "hosts",
                            "unreachable", "generations", "cluster", "groups", "alarms",
                            "notes", "drills", "exit_code"}
    web = next(g for g in encoded["groups"] if g["group"] == "web")
    assert set(web) == {"group", "assigned", "running", "target_role", "managed", "hosts",
                        "members", "constraints", "alarms", "frozen"}
    assert set(web["members"][0]) == {"name", "hosts", "fail_counts", "last_failure",
                                      "restarts"}
    assert encoded["alarms"] == [{"kind": "host_unreachable", "group": None, "host": "n2",
                                  "member": None, "message": f"n2 is unreachable: {REFUSED}"}]


def test_both_engines_give_the_same_shape() -> None:
    systemd = to_json(systemd_report())
    pacemaker = to_json(pacemaker_report(cluster()))
    assert set(systemd) == set(pacemaker)
    assert set(systemd["groups"][0]) == set(pacemaker["groups"][0])
    assert set(systemd["hosts"][0]) == set(pacemaker["hosts"][0])
    assert pacemaker["cluster"]["quorate"] and systemd["cluster"] is None
