"""Health operations on a real corosync/Pacemaker cluster of 3 nodes (issue 13): freeze as
is-managed=false, the role=Stopped monitors that find an instance started by hand where
a group should be stopped, and a monitor failure: restarts in place, then failover after
migration-threshold, cleanup. examples/ is installed as test_pacemaker_runtime.py does it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from s2s_sd.engines.pacemaker.crm_mon import parse_crm_mon
from tests.lab import pacemaker_support as pcmk
from tests.lab.fencing import LabFencer
from tests.lab.runtime_support import BASEDIR, NODES, VIPS, s2s

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def cluster_site(lab_manager: Any) -> Iterator[LabNodes]:
    lab = lab_manager.get(cluster=True)
    fencer = LabFencer(lab).start()
    try:
        fencer.install()
        pcmk.real_device_nodes(lab)
        pcmk.install_site(lab)
        result = s2s(lab, "n1", "apply", "pacemaker", timeout=600)
        assert result.ok, f"apply:\n{result.stdout}{result.stderr}"
        yield lab
    finally:
        for node in NODES:
            if not lab.is_running(node):
                lab.start(node)
        lab.wait_quorum()
        pcmk.remove_from_cluster(lab)
        fencer.stop()


@pytest.fixture
def cluster(cluster_site: LabNodes, cluster_lab: LabNodes) -> LabNodes:
    pcmk.after_boot(cluster_lab)
    return cluster_lab


def crm_mon(lab: LabNodes) -> str:
    return lab.exec("n1", ["crm_mon", "--one-shot", "--inactive", "--output-as=xml"]).stdout


def test_pacemaker_freeze_is_is_managed_false(cluster: LabNodes) -> None:
    lab = cluster
    pcmk.wait_running(lab, "web", "n3")
    frozen = s2s(lab, "n1", "freeze", "web")
    assert frozen.ok and "is-managed=false" in frozen.stdout, frozen.stdout + frozen.stderr
    try:
        assert 'id="web_httpd"' in crm_mon(lab) and 'managed="false"' in crm_mon(lab)
        entry = pcmk.group_status(lab, "web")
        assert entry["frozen"] is not None, entry
        refused = s2s(lab, "n1", "move", "web", "--to", "n1")
        assert refused.returncode == 3 and "web is frozen" in refused.stderr, refused.stderr
        refused = s2s(lab, "n1", "stop", "web")
        assert refused.returncode == 3 and "web is frozen" in refused.stderr, refused.stderr
    finally:
        thawed = s2s(lab, "n1", "unfreeze", "web")
        assert thawed.ok, thawed.stdout + thawed.stderr
    assert pcmk.group_status(lab, "web")["frozen"] is None
    pcmk.wait_running(lab, "web", "n3")


def test_pacemaker_sees_a_vip_started_by_hand_where_it_should_be_stopped(
        cluster: LabNodes) -> None:
    """The role=Stopped monitor of web_vip (11 s) finds the address on n1, where web
    should be stopped: the cluster reports it active there and stops it."""
    lab = cluster
    pcmk.wait_running(lab, "web", "n3")
    vip = f"{VIPS['web']}/24"
    lab.exec("n1", ["ip", "addr", "add", vip, "dev", "host0"])
    started = time.monotonic()
    seen = False
    try:
        while time.monotonic() - started < 60:
            if _rogue_seen(crm_mon(lab)):
                seen = True
                break
            time.sleep(0.2)
        print(f"web_vip added by hand on n1: the cluster saw it after "
              f"{time.monotonic() - started:.1f} s")
        assert seen, crm_mon(lab)
        # the cluster recovers (multiple-active: stop everywhere, start once)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if vip not in lab.exec("n1", ["ip", "-o", "addr", "show", "dev", "host0"]).stdout:
                break
            time.sleep(0.5)
        assert vip not in lab.exec("n1", ["ip", "-o", "addr", "show", "dev", "host0"]).stdout
    finally:
        lab.exec("n1", ["ip", "addr", "del", vip, "dev", "host0"], check=False)
    cleaned = s2s(lab, "n1", "cleanup", "web")
    assert cleaned.ok, cleaned.stdout + cleaned.stderr
    pcmk.wait_running(lab, "web", "n3", timeout=120)


def _rogue_seen(mon: str) -> bool:
    """crm_mon shows web_vip active on n1, or the result of its role=Stopped monitor
    there: "running" where it should be stopped (the cluster then stops it at once, so
    the first may last less than a poll)."""
    status = parse_crm_mon(mon)
    state = status.groups.get("web")
    on_n1 = any("n1" in m.nodes for m in (state.members if state else ())
                if m.id == "web_vip")
    found = any(f.resource == "web_vip" and f.node == "n1" and f.interval_ms == 11000
                for f in status.failures)
    return on_n1 or found


def test_pacemaker_restarts_in_place_then_fails_over_after_migration_threshold(
        cluster: LabNodes) -> None:
    """web's migration-threshold is 3: each kill of httpd on n3 is a monitor failure and
    a restart there, the third moves web to n1; cleanup clears the counts."""
    lab = cluster
    cleaned = s2s(lab, "n1", "cleanup", "web")  # what an earlier test may have left
    assert cleaned.ok, cleaned.stdout + cleaned.stderr
    pcmk.wait_running(lab, "web", "n3", timeout=120)
    for failure in (1, 2, 3):
        lab.exec("n3", ["systemctl", "kill", "--signal=KILL", "s2s-web-httpd.service"])
        deadline = time.monotonic() + 120
        counts: dict[str, int] = {}
        while time.monotonic() < deadline:
            entry = pcmk.group_status(lab, "web")
            httpd = next(m for m in entry["members"] if m["name"] == "web_httpd")
            counts = httpd["restarts"]
            if counts.get("n3", 0) >= failure and entry["running"]:
                break
            time.sleep(1)
        assert counts.get("n3", 0) >= failure, (failure, counts)
        where = pcmk.group_status(lab, "web")["running"]
        print(f"failure {failure}: web_httpd fail count on n3 {counts}, web runs on {where}")
        if failure < 3:
            assert where == "n3", (failure, where)
    # web runs on n1 alone; n3 keeps the failed action (so its cell is "failed")
    deadline = time.monotonic() + 120
    entry = pcmk.group_status(lab, "web")
    while entry["running"] != "n1" and time.monotonic() < deadline:
        time.sleep(0.5)
        entry = pcmk.group_status(lab, "web")
    assert entry["running"] == "n1", entry
    assert [h for h, cell in entry["hosts"].items() if cell["active"]] == ["n1"], entry
    assert any(a["kind"] == "failed_action" and a["host"] == "n3" for a in entry["alarms"]), \
        entry["alarms"]
    cleaned = s2s(lab, "n1", "cleanup", "web")
    assert cleaned.ok and "fail count" in cleaned.stdout, cleaned.stdout + cleaned.stderr
    httpd = next(m for m in pcmk.group_status(lab, "web")["members"]
                 if m["name"] == "web_httpd")
    assert not httpd["restarts"], httpd
    moved = s2s(lab, "n1", "move", "web", "--to", "n3")
    assert moved.ok, moved.stdout + moved.stderr
    code, report = pcmk.status(lab)
    assert code == 0, report["alarms"]


NOTIFY_RECORD = "/tmp/s2s-test-notify.record"  # /tmp: hacluster runs the hook
# a line per call, its arguments joined by "|" (MEMBER may be empty)
NOTIFY_HOOK = f"#!/bin/sh\nIFS='|'\nprintf '%s\\n' \"$*\" >> {NOTIFY_RECORD}\n"
ALERT_STATE = "/dev/shm/s2s-sd-alerts"


def test_pacemaker_alert_runs_the_notify_hook_on_failure_restart_and_move(
        cluster: LabNodes) -> None:
    """With `notify` declared, apply puts the alert into the CIB; Pacemaker runs the alert
    agent as hacluster and it runs the hook: a kill of httpd on n3 is `failure` then
    `restart` there, `s2s-sd move` a `moved` on the new node. Last in this file: it
    takes the key out and applies again all the same."""
    lab = cluster
    cleaned = s2s(lab, "n1", "cleanup", "web")
    assert cleaned.ok, cleaned.stdout + cleaned.stderr
    pcmk.wait_running(lab, "web", "n3", timeout=120)
    for node in NODES:
        lab.exec(node, ["rm", "-rf", NOTIFY_RECORD, ALERT_STATE])
    _declare_notify(lab, True)
    try:
        alerts = lab.exec("n1", ["cibadmin", "--query", "--scope", "alerts"]).stdout
        assert 'id="s2s-sd-c07-notify"' in alerts, alerts
        lab.exec("n3", ["systemctl", "kill", "--signal=KILL", "s2s-web-httpd.service"])
        calls = _wait_calls(lab, "n3", ["failure", "restart"])
        assert calls[0][:4] == ["failure", "web", "httpd", "n3"], calls
        assert calls[0][4].startswith("monitor failed: "), calls
        assert calls[1][:4] == ["restart", "web", "httpd", "n3"], calls
        print(f"hook calls on n3 after the kill: {calls}")
        pcmk.wait_running(lab, "web", "n3", timeout=120)
        moved = s2s(lab, "n1", "move", "web", "--to", "n1")
        assert moved.ok, moved.stdout + moved.stderr
        calls = _wait_calls(lab, "n1", ["moved"])
        assert calls == [["moved", "web", "", "n1", "started on n1 by the cluster"]], calls
        owner = lab.exec("n1", ["stat", "-c", "%U", ALERT_STATE]).stdout.strip()
        assert owner == "hacluster", owner
    finally:
        back = s2s(lab, "n1", "move", "web", "--to", "n3")
        _declare_notify(lab, False)
        for node in NODES:
            lab.exec(node, ["rm", "-rf", NOTIFY_RECORD, ALERT_STATE])
    assert back.ok, back.stdout + back.stderr
    alerts = lab.exec("n1", ["cibadmin", "--query", "--scope", "alerts"], check=False).stdout
    assert "s2s-sd-c07-notify" not in alerts, alerts
    cleaned = s2s(lab, "n1", "cleanup", "web")
    assert cleaned.ok, cleaned.stdout + cleaned.stderr
    pcmk.wait_running(lab, "web", "n3", timeout=120)


def _declare_notify(lab: LabNodes, declared: bool) -> None:
    """The site's definitions with (or again without) `[hostgroup] notify` and the
    recording hook, synced and applied."""
    site = pcmk.site_toml("pacemaker", fencing=True)
    if declared:
        site = site.replace('engine = "pacemaker"\n',
                            'engine = "pacemaker"\nnotify = "hooks/notify"\n', 1)
        assert "notify = " in site, site
        lab.exec("n1", ["sh", "-c", f"cat > {BASEDIR}/hooks/notify && "
                        f"chmod 755 {BASEDIR}/hooks/notify"], input=NOTIFY_HOOK)
    else:
        lab.exec("n1", ["rm", "-f", f"{BASEDIR}/hooks/notify"])
    lab.exec("n1", ["sh", "-c", f"cat > {BASEDIR}/s2s.toml"], input=site)
    synced = s2s(lab, "n1", "sync")
    assert synced.ok, synced.stdout + synced.stderr
    applied = s2s(lab, "n1", "apply", "pacemaker", timeout=600)
    assert applied.ok, applied.stdout + applied.stderr


def _wait_calls(lab: LabNodes, node: str, events: list[str],
                timeout: float = 120) -> list[list[str]]:
    """The hook's calls on `node` once their events are `events` (at least), each
    [EVENT, GROUP, MEMBER, HOST, REASON]."""
    deadline = time.monotonic() + timeout
    calls: list[list[str]] = []
    while time.monotonic() < deadline:
        text = lab.exec(node, ["cat", NOTIFY_RECORD], check=False).stdout
        calls = [line.split("|", 4) for line in text.splitlines()]
        if [call[0] for call in calls][:len(events)] == events:
            time.sleep(2)  # what follows at once would be a defect: let it show
            text = lab.exec(node, ["cat", NOTIFY_RECORD], check=False).stdout
            return [line.split("|", 4) for line in text.splitlines()]
        time.sleep(1)
    raise AssertionError(f"hook calls on {node} are not {events} within {timeout} s: "
                         f"{calls}; actions.log: {_actions_log(lab, node)}")


def _actions_log(lab: LabNodes, node: str) -> str:
    return lab.exec(node, ["sh", "-c", "tail -n 20 /var/log/s2s-sd/actions.log; "
                           "journalctl -q -n 30 -g 's2s alert' --no-pager"],
                    check=False).stdout
