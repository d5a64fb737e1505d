"""crm_mon XML -> what s2s-sd knows about the cluster, and `s2s-sd status` built from it.

The fixtures were captured from the lab's real Pacemaker 2.1.5 cluster running the
examples (tests/unit/fixtures/crm_mon/*.xml: `crm_mon --one-shot --inactive
--output-as=xml --include=all`, and `cibadmin --query --scope constraints`):
running.xml      after `s2s-sd apply pacemaker` and a few moves
failed_start.xml a move of web to n3 whose web server could not bind its port
maintenance.xml  `s2s-sd maintenance on`
stopped.xml      `s2s-sd stop web`
partial.xml      censhare_app given target-role=Stopped by hand: censhare partly up
offline.xml      n2 killed, seen from n1
no_quorum.xml    n1 cut off, seen from n1
constraints_leftover.xml  the constraints after `crm_resource --move` nobody cleared
rogue_found.xml  web's address added by hand on n1 while web ran on n3: web_vip's
                 role=Stopped monitor found it there (its "failure": rc 0, where it
                 should be stopped), captured by tests/lab/test_health_ops_pacemaker.py
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from s2s_sd.engines.pacemaker import crm_tools as crm
from s2s_sd.engines.pacemaker.crm_mon import (
    INFINITY,
    ClusterStatus,
    cli_constraints,
    fail_count_text,
    parse_crm_mon,
)
from s2s_sd.engines.pacemaker.runtime import ClusterAdmin
from s2s_sd.errors import OperationFailed
from s2s_sd.load import load_definitions
from s2s_sd.status_print import to_json
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures" / "crm_mon"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def parsed(name: str) -> ClusterStatus:
    return parse_crm_mon(fixture(name))


def test_running_cluster() -> None:
    status = parsed("running.xml")
    assert status.dc == "n3" and status.quorate
    assert not status.maintenance_mode and not status.stonith_enabled
    assert status.no_quorum_policy == "stop"
    assert sorted(status.nodes) == ["n1", "n2", "n3"]
    assert all(n.usable and n.label == "online" for n in status.nodes.values())
    assert status.nodes["n3"].is_dc
    assert sorted(status.groups) == ["censhare", "ora", "web"]
    censhare = status.groups["censhare"]
    assert [m.id for m in censhare.members] == [
        "censhare_data", "censhare_vip", "censhare_db", "censhare_app", "censhare_hooks"]
    assert censhare.members[0].agent == "ocf:heartbeat:Filesystem"
    for group in status.groups.values():
        node = group.fully_on()
        assert node in ("n1", "n2", "n3")
        assert group.active_nodes() == [node]
        assert group.members_on(node) == [m.id for m in group.members]
        assert not group.failed_members and not group.unmanaged and not group.disabled
    assert status.failures == [] and status.fail_counts_of(["web_httpd"]) == {}
    assert status.offline_nodes == []


def test_a_rogue_instance_found_by_the_stopped_monitor() -> None:
    status = parsed("rogue_found.xml")
    found = [f for f in status.failures if f.resource == "web_vip"]
    assert [(f.node, f.interval_ms, f.exit_code) for f in found] == [("n1", 11000, 0)]
    assert found[0].describe() == ("web_vip found running on n1, where it should be "
                                   "stopped (its role=Stopped monitor)")


def test_failed_start_with_fail_count() -> None:
    status = parsed("failed_start.xml")
    (failure,) = status.failures
    assert (failure.resource, failure.operation, failure.node, failure.interval_ms) == \
        ("web_httpd", "start", "n3", 0)
    assert (failure.exit_status, failure.exit_reason, failure.exit_code) == \
        ("error", "failed", 1)
    assert failure.describe() == "start of web_httpd on n3 failed (error: failed)"
    assert status.fail_counts[("web_httpd", "n3")] == INFINITY
    assert fail_count_text(status.fail_counts[("web_httpd", "n3")]) == "INFINITY"
    assert status.migration_thresholds["web_httpd"] == 3
    assert status.failures_of(["web_vip", "web_httpd"]) == [failure]
    assert status.failures_of(["censhare_db"]) == []


def test_maintenance_mode_makes_everything_unmanaged() -> None:
    status = parsed("maintenance.xml")
    assert status.maintenance_mode
    assert all(g.unmanaged for g in status.groups.values())
    # still running where they ran
    assert all(g.fully_on() for g in status.groups.values())


def test_stopped_group() -> None:
    web = parsed("stopped.xml").groups["web"]
    assert web.disabled and web.stopped_everywhere and web.fully_on() is None
    assert web.active_nodes() == [] and all(m.role == "Stopped" for m in web.members)


def test_leftover_constraint_from_crm_resource_move() -> None:
    (found,) = cli_constraints(fixture("constraints_leftover.xml"))
    assert (found.id, found.rsc, found.kind, found.node, found.score, found.expires) == \
        ("cli-prefer-web", "web", "prefer", "n1", "INFINITY", None)


def test_not_crm_mon_output_is_an_operation_failure() -> None:
    with pytest.raises(OperationFailed):
        parse_crm_mon("crm_mon: Error: cluster is not available on this node")
    with pytest.raises(OperationFailed):
        parse_crm_mon('<pacemaker-result><status code="102" message="Not connected"/>'
                      "</pacemaker-result>")


def test_offline_node() -> None:
    status = parsed("offline.xml")
    assert status.quorate and status.offline_nodes == ["n2"]
    assert not status.nodes["n2"].online and not status.nodes["n2"].usable
    for group in status.groups.values():
        assert group.fully_on() in ("n1", "n3")


def test_no_quorum_seen_from_the_isolated_node() -> None:
    status = parsed("no_quorum.xml")
    assert status.dc == "n1" and not status.quorate
    assert status.offline_nodes == ["n2", "n3"]
    assert all(g.stopped_everywhere for g in status.groups.values())


def test_partly_up_group() -> None:
    censhare = parsed("partial.xml").groups["censhare"]
    assert censhare.fully_on() is None and censhare.active_nodes() == ["n1"]
    assert censhare.members_on("n1") == ["censhare_data", "censhare_vip", "censhare_db"]
    assert censhare.members[3].target_role == "Stopped"


# -- the status report from these ---------------------------------------------------------

def report(monkeypatch: pytest.MonkeyPatch, mon: str, constraints: str = "<constraints/>"
           ) -> dict[str, Any]:
    monkeypatch.setattr(crm, "status", lambda full=True: parsed(mon))
    monkeypatch.setattr(crm, "constraints_xml", lambda: constraints)
    defs = load_definitions(EXAMPLES, "n1")
    with ClusterAdmin(defs, EXAMPLES, "n1") as admin:
        return to_json(admin.status())


def alarms(result: dict[str, Any]) -> list[str]:
    """The ALARM lines' texts (host alarms are printed as OFFLINE/UNREACHABLE lines)."""
    return [a["message"] for a in result["alarms"] if not a["kind"].startswith("host_")]


def test_status_of_a_healthy_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "running.xml")
    assert result["engine"] == "pacemaker" and result["alarms"] == []
    assert result["schema_version"] == 1 and result["exit_code"] == 0
    assert result["unreachable"] == [] and result["cluster"]["quorate"]
    assert any("fencing is disabled" in n for n in result["notes"])
    for group in result["groups"]:
        host = group["running"]
        assert group["assigned"] == host and group["hosts"][host]["state"] == "up"
        assert {h: e["state"] for h, e in group["hosts"].items() if h != host} == \
            {h: "down" for h in group["hosts"] if h != host}


def test_status_alarms_for_a_failed_start(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "failed_start.xml")
    assert alarms(result) == [
        "web: start of web_httpd on n3 failed (error: failed), fail count INFINITY "
        "(`s2s-sd cleanup web`)"]
    assert [(a["kind"], a["group"], a["host"], a["member"]) for a in result["alarms"]] == [
        ("failed_action", "web", "n3", "web_httpd")]
    web = next(g for g in result["groups"] if g["group"] == "web")
    assert web["hosts"]["n3"] == {"state": "failed", "active": [], "failed": ["web_httpd"],
                                  "refused_start": False}
    httpd = next(m for m in web["members"] if m["name"] == "web_httpd")
    assert httpd["fail_counts"] == {"n3": INFINITY}
    assert httpd["last_failure"] == "start of web_httpd on n3 failed (error: failed)"


def test_status_alarms_for_maintenance_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "maintenance.xml")
    assert result["cluster"]["maintenance_mode"]
    # one alarm for the cluster, not one per group
    assert [a for a in alarms(result) if "MAINTENANCE" in a or "managed" in a] == [
        "MAINTENANCE MODE is on: the cluster starts, stops, moves and monitors nothing "
        "(`s2s-sd maintenance off`)"]


def test_status_of_a_group_stopped_on_purpose(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "stopped.xml")
    web = next(g for g in result["groups"] if g["group"] == "web")
    assert web["target_role"] == "Stopped" and web["running"] is None
    assert set(e["state"] for e in web["hosts"].values()) == {"down"}
    assert result["alarms"] == []


def test_status_alarms_for_a_leftover_constraint(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "running.xml", fixture("constraints_leftover.xml"))
    assert alarms(result) == ["web: leftover constraint cli-prefer-web (prefers n1) "
                              "(`s2s-sd cleanup web` removes it)"]
    assert result["alarms"][0]["kind"] == "leftover_constraint"


def test_a_temporary_preference_is_no_alarm(monkeypatch: pytest.MonkeyPatch) -> None:
    end = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    constraints = f"<constraints>{crm.prefer_constraint('web', 'n1', end)}</constraints>"
    result = report(monkeypatch, "running.xml", constraints)
    assert result["alarms"] == []
    web = next(g for g in result["groups"] if g["group"] == "web")
    assert web["constraints"][0]["expires"]
    expired = f"<constraints>{crm.prefer_constraint('web', 'n1', end - dt.timedelta(hours=2))}" \
        "</constraints>"
    assert "expired" in alarms(report(monkeypatch, "running.xml", expired))[0]


def test_status_alarms_for_a_group_active_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # derived from running.xml: censhare's VIP also reported on n2 (what crm_mon shows
    # when a probe finds a resource active where it should not be)
    text = fixture("running.xml")
    status = parse_crm_mon(text)
    host = status.groups["censhare"].fully_on()
    other = "n2" if host != "n2" else "n3"
    marker = '<resource id="censhare_vip"'
    start = text.index(marker)
    end = text.index("</resource>", start)
    block = text[start:end]
    twice = block.replace('nodes_running_on="1"', 'nodes_running_on="2"') + \
        f'  <node name="{other}" id="9" cached="true"/>\n      '
    doctored = text[:start] + twice + text[end:]
    monkeypatch.setattr(crm, "status", lambda full=True: parse_crm_mon(doctored))
    monkeypatch.setattr(crm, "constraints_xml", lambda: "<constraints/>")
    with ClusterAdmin(load_definitions(EXAMPLES, "n1"), EXAMPLES, "n1") as admin:
        result = to_json(admin.status())
    texts = " | ".join(alarms(result))
    assert "censhare is ACTIVE ON 2 HOSTS" in texts
    assert f"censhare is only partly up on {other}: censhare_vip" in texts
    assert {"active_twice", "partly_up"} <= {a["kind"] for a in result["alarms"]}


def test_status_from_an_isolated_node(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "no_quorum.xml")
    assert result["unreachable"] == ["n2", "n3"]
    # it cannot know where the groups run: one alarm, no guesses about the groups
    assert alarms(result) == [
        "this node's partition (n1) has NO QUORUM: its view may be stale and it runs "
        "nothing (no-quorum-policy=stop)"]
    assert sorted(a["kind"] for a in result["alarms"]) == [
        "host_offline", "host_offline", "no_quorum"]


def test_status_of_a_partly_up_group(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "partial.xml")
    assert alarms(result) == ["censhare is only partly up on n1: censhare_data, "
                              "censhare_vip, censhare_db"]
    censhare = next(g for g in result["groups"] if g["group"] == "censhare")
    assert censhare["running"] is None and censhare["hosts"]["n1"]["state"] == "partial"


def test_status_with_an_offline_node(monkeypatch: pytest.MonkeyPatch) -> None:
    result = report(monkeypatch, "offline.xml")
    assert result["unreachable"] == ["n2"] and alarms(result) == []
    assert [(a["kind"], a["host"]) for a in result["alarms"]] == [("host_offline", "n2")]
    assert result["exit_code"] == 1
    assert all(g["hosts"]["n2"]["state"] == "offline" for g in result["groups"])
