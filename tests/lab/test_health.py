"""Health on the systemd engine across real hosts (issue 13 items 1-3): a member is
started when it is ready, is watched by systemd, and is recovered in place with the
members after it until migration_threshold; every failure, restart and give-up runs the
notify hook. The site is tests/lab/health_site (host group h13) installed as a real
site would be; the 100 ms samplers run during every test and prove that no group was
ever active on two nodes at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.backend import LabNodes
from s2s_sd.hosts.protocol import PROTOCOL_VERSION
from tests.lab.runtime_support import (
    BASEDIR,
    NODES,
    clean_node,
    double_actives,
    read_samples,
    s2s,
    start_samplers,
    stop_samplers,
)

pytestmark = pytest.mark.lab

SITE = Path(__file__).resolve().parent / "health_site"
GROUPS = ("dies", "neverready", "heal", "watched", "floating")
DIE_MARK = "/run/s2s-test-die"
UNREADY_MARK = "/run/s2s-test-unready"
NOTIFY_LOG = "/var/log/s2s-test-notify.log"
FROZEN_MARK = "/var/lib/s2s-sd/h13/frozen-heal"  # hosts/freeze.py: STATE_DIR/HOSTGROUP/
DAEMON_PIDFILE = "/run/s2s-test-heal-daemon.pid"
FLOATING_VIP = "192.168.77.44/24"  # groups.floating


def _clean(lab: LabNodes, node: str) -> None:
    clean_node(lab, node)
    lab.exec(node, ["sh", "-c", f"pkill -f 'sleep infinity' ; rm -f {DIE_MARK} {NOTIFY_LOG} "
                    f"{DAEMON_PIDFILE}"], check=False)


@pytest.fixture(scope="module")
def site(lab_manager: Any) -> Iterator[LabNodes]:
    lab = lab_manager.get(cluster=False)
    for node in NODES:
        _clean(lab, node)
    lab.exec("n1", ["sh", "-c", f"mkdir -p {BASEDIR} && cp -a {SITE}/. {BASEDIR}/"])
    result = s2s(lab, "n1", "sync")
    assert result.ok, f"sync: {result.stdout}{result.stderr}"
    start_samplers(lab)
    yield lab
    stop_samplers(lab)
    for node in NODES:
        _clean(lab, node)


@pytest.fixture
def health_lab(site: LabNodes, lab: LabNodes) -> Iterator[LabNodes]:
    """The site with every node up, no die mark, an empty notify log, no group frozen and
    every group stopped; and afterwards the samplers' proof of never two actives."""
    since = time.time()
    for node in NODES:
        lab.exec(node, ["rm", "-f", DIE_MARK, UNREADY_MARK, NOTIFY_LOG, FROZEN_MARK],
                 check=False)
    for group in GROUPS:
        s2s(lab, "n1", "stop", group)
    yield lab
    time.sleep(0.3)  # the last samples
    findings = double_actives(read_samples(lab, since), GROUPS)
    assert not findings, "a group was active on two nodes at once:\n" + "\n".join(findings)


def wait_for(what: str, condition: Callable[[], bool], timeout: float) -> float:
    """Seconds until condition() held; fails the test after timeout."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if condition():
            return time.monotonic() - began
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def unit_show(lab: LabNodes, node: str, unit: str) -> dict[str, str]:
    text = lab.exec(node, ["systemctl", "show", "-p", "ActiveState,MainPID,NRestarts,Result",
                           unit]).stdout
    return dict(line.partition("=")[::2] for line in text.splitlines())


def status_states(lab: LabNodes, group: str) -> dict[str, str]:
    report = json.loads(s2s(lab, "n1", "status", "--json", group).stdout)
    entry = next(g for g in report["groups"] if g["group"] == group)
    return {host: e["state"] for host, e in entry["hosts"].items()}


def notified(lab: LabNodes, node: str) -> list[list[str]]:
    """The notify hook's calls on the node: [EVENT, GROUP, MEMBER, HOST, REASON, $S2S_EVENT]."""
    text = lab.exec(node, ["cat", NOTIFY_LOG], check=False).stdout
    return [line.split("|") for line in text.splitlines()]


def start_heal(lab: LabNodes) -> None:
    result = s2s(lab, "n1", "start", "heal")
    assert result.ok, result.stdout + result.stderr
    assert status_states(lab, "heal")["n1"] == "up"


# -- readiness ------------------------------------------------------------------------

@pytest.mark.parametrize("group", ["dies", "neverready"])
def test_a_member_that_is_not_ready_on_the_target_rolls_the_move_back(
        health_lab: LabNodes, group: str) -> None:
    lab = health_lab
    result = s2s(lab, "n1", "start", group)
    assert result.ok, result.stdout + result.stderr
    lab.exec("n2", ["touch", DIE_MARK])
    began = time.monotonic()
    result = s2s(lab, "n1", "move", group, "--to", "n2")
    took = time.monotonic() - began
    assert result.returncode == 1, result.stdout + result.stderr
    states = status_states(lab, group)
    assert states["n1"] == "up" and states["n2"] != "up", states
    report = json.loads(s2s(lab, "n1", "status", "--json", group).stdout)
    assert next(g for g in report["groups"] if g["group"] == group)["assigned"] == "n1"
    # the target said why, in the member's journal
    unit = f"s2s-{group}-{'app' if group == 'dies' else 'web'}.service"
    journal = lab.exec("n2", ["journalctl", "-u", unit, "--no-pager", "-n", "30"]).stdout
    expected = "ended" if group == "dies" else "start-post operation timed out"
    assert expected in journal, journal
    # a failed start gives up at once (no local retries on the target)
    assert any(call[0] == "give-up" and call[1] == group and call[3] == "n2"
               for call in notified(lab, "n2")), notified(lab, "n2")
    assert took < 60, took


# -- monitoring and local recovery ------------------------------------------------------

def test_kill_9_of_an_exec_member_restarts_it_and_the_members_after_it(
        health_lab: LabNodes) -> None:
    lab = health_lab
    start_heal(lab)
    daemon_pid = lab.exec("n1", ["cat", DAEMON_PIDFILE]).stdout.strip()
    app = unit_show(lab, "n1", "s2s-heal-app.service")
    tail = unit_show(lab, "n1", "s2s-heal-tail.service")
    lab.exec("n1", ["kill", "-9", app["MainPID"]])
    took = wait_for("app and tail run again with new processes", lambda: (
        unit_show(lab, "n1", "s2s-heal-app.service")["MainPID"] not in ("0", app["MainPID"])
        and unit_show(lab, "n1", "s2s-heal-tail.service")["ActiveState"] == "active"
        and unit_show(lab, "n1", "s2s-heal-tail.service")["MainPID"] not in
        ("0", tail["MainPID"])
        and unit_show(lab, "n1", "s2s-heal-app.service")["ActiveState"] == "active"), 20)
    assert took < 2 + 1 + 2 + 3, took  # monitor_interval + RestartSec + settle x2, slack
    assert unit_show(lab, "n1", "s2s-heal-app.service")["NRestarts"] == "1"
    # the member before it was left alone
    assert lab.exec("n1", ["cat", DAEMON_PIDFILE]).stdout.strip() == daemon_pid
    assert status_states(lab, "heal")["n1"] == "up"
    calls = notified(lab, "n1")
    assert calls[0][:4] == ["failure", "heal", "app", "n1"], calls
    assert "signal" in calls[0][4] and calls[0][5] == "failure", calls
    assert calls[1][:4] == ["restart", "heal", "app", "n1"], calls
    assert "failure 1 of 3" in calls[1][4], calls


def test_a_script_member_whose_daemon_dies_is_restarted_by_its_monitor(
        health_lab: LabNodes) -> None:
    lab = health_lab
    start_heal(lab)
    daemon_pid = lab.exec("n1", ["cat", DAEMON_PIDFILE]).stdout.strip()
    app = unit_show(lab, "n1", "s2s-heal-app.service")
    lab.exec("n1", ["kill", "-9", daemon_pid])
    took = wait_for("the daemon and the members after it run again", lambda: (
        lab.exec("n1", ["cat", DAEMON_PIDFILE], check=False).stdout.strip()
        not in ("", daemon_pid)
        and unit_show(lab, "n1", "s2s-heal-app.service")["MainPID"] not in
        ("0", app["MainPID"])
        and unit_show(lab, "n1", "s2s-heal-tail.service")["ActiveState"] == "active"), 20)
    assert took < 2 + 1 + 2 + 2 + 4, took  # interval + RestartSec + settle x2 + starts
    assert unit_show(lab, "n1", "s2s-heal-daemon.service")["NRestarts"] == "1"
    assert status_states(lab, "heal")["n1"] == "up"
    calls = notified(lab, "n1")
    assert calls[0][:4] == ["failure", "heal", "daemon", "n1"], calls
    assert "monitor: its status says 7 (not running)" in calls[0][4], calls
    assert calls[1][:4] == ["restart", "heal", "daemon", "n1"], calls


def test_an_exec_member_whose_readiness_check_fails_is_restarted(health_lab: LabNodes) -> None:
    lab = health_lab
    result = s2s(lab, "n1", "start", "watched")
    assert result.ok, result.stdout + result.stderr
    unit = "s2s-watched-svc.service"
    before = unit_show(lab, "n1", unit)
    lab.exec("n1", ["touch", UNREADY_MARK])
    took = wait_for("the failed check noticed", lambda: any(
        call[0] == "failure" for call in notified(lab, "n1")), 15)
    assert took < 2 + 2 + 2, took  # monitor_interval (2 s) + the check + slack
    lab.exec("n1", ["rm", UNREADY_MARK])
    wait_for("svc runs again, restarted by systemd", lambda: (
        unit_show(lab, "n1", unit)["ActiveState"] == "active"
        and unit_show(lab, "n1", unit)["MainPID"] not in ("0", before["MainPID"])), 30)
    assert unit_show(lab, "n1", unit)["NRestarts"] == "1"
    calls = notified(lab, "n1")
    assert calls[0][:4] == ["failure", "watched", "svc", "n1"], calls
    assert "readiness check failed (/bin/sh fails)" in calls[0][4], calls
    assert calls[1][0] == "restart", calls


def test_migration_threshold_failures_stop_the_group_on_that_host(
        health_lab: LabNodes) -> None:
    lab = health_lab
    start_heal(lab)
    for failure in range(1, 4):
        app = unit_show(lab, "n1", "s2s-heal-app.service")
        assert app["ActiveState"] == "active", app
        lab.exec("n1", ["kill", "-9", app["MainPID"]])
        if failure < 3:
            wait_for(f"app restarted after failure {failure}", lambda count=failure: (
                unit_show(lab, "n1", "s2s-heal-tail.service")["ActiveState"] == "active"
                and unit_show(lab, "n1", "s2s-heal-app.service")["NRestarts"] == str(count)
                and unit_show(lab, "n1", "s2s-heal-app.service")["ActiveState"] == "active"),
                20)
    wait_for("the group stopped on n1", lambda: all(
        unit_show(lab, "n1", unit)["ActiveState"] in ("inactive", "failed")
        for unit in ("s2s-heal.target", "s2s-heal-daemon.service", "s2s-heal-app.service",
                     "s2s-heal-tail.service")), 30)
    assert unit_show(lab, "n1", "s2s-heal-app.service")["ActiveState"] == "failed"
    assert not lab.exec("n1", ["pgrep", "-f", "sleep infinity"], check=False).ok
    time.sleep(3)  # and it stays down: no restart after the give-up
    assert unit_show(lab, "n1", "s2s-heal-app.service")["ActiveState"] == "failed"
    assert status_states(lab, "heal")["n1"] == "failed"
    events = [call[0] for call in notified(lab, "n1") if call[2] == "app"]
    assert events == ["failure", "restart", "failure", "restart", "failure", "give-up"], events
    give_up = notified(lab, "n1")[-1]
    assert "3 failures within 600 s reach migration_threshold 3" in give_up[4], give_up
    # the observation carries the count and the reason, for status and cleanup
    seen = observe(lab, "n1", "heal")
    assert seen["restarts"]["app"] == 2, seen
    assert "signal" in seen["last_failures"]["app"], seen


def test_a_frozen_group_is_not_restarted(health_lab: LabNodes) -> None:
    lab = health_lab
    start_heal(lab)
    lab.exec("n1", ["touch", FROZEN_MARK])
    app = unit_show(lab, "n1", "s2s-heal-app.service")
    tail = unit_show(lab, "n1", "s2s-heal-tail.service")
    lab.exec("n1", ["kill", "-9", app["MainPID"]])
    time.sleep(6)  # longer than RestartSec + settle
    after = unit_show(lab, "n1", "s2s-heal-app.service")
    assert after["ActiveState"] in ("failed", "inactive") and after["NRestarts"] == "0", after
    # and nothing else of the group was touched
    assert unit_show(lab, "n1", "s2s-heal-tail.service")["MainPID"] == tail["MainPID"]
    assert unit_show(lab, "n1", "s2s-heal.target")["ActiveState"] == "active"
    calls = notified(lab, "n1")
    assert [c[0] for c in calls] == ["failure"], calls
    lab.exec("n1", ["rm", FROZEN_MARK])


def vip_on(lab: LabNodes, node: str) -> bool:
    return FLOATING_VIP in lab.exec(node, ["ip", "-o", "addr", "show", "dev", "host0"]).stdout


def journal_since(lab: LabNodes, node: str, unit: str, since: float) -> str:
    return lab.exec(node, ["journalctl", "-q", "-o", "cat", "-u", unit,
                           f"--since=@{since:.3f}"], check=False).stdout


def test_an_ip_member_is_put_back_by_its_monitor_and_takes_its_vip_down_itself(
        health_lab: LabNodes) -> None:
    lab = health_lab
    unit = "s2s-floating-vip.service"
    result = s2s(lab, "n1", "start", "floating")
    assert result.ok, result.stdout + result.stderr
    assert vip_on(lab, "n1")
    # gone behind its back: the monitor (every second) fails the member, ExecStopPost='s
    # `vip down` finds nothing left, systemd restarts it and `member run` adds it again
    lab.exec("n1", ["ip", "addr", "del", FLOATING_VIP, "dev", "host0"])

    def back() -> bool:
        shown = unit_show(lab, "n1", unit)
        return shown["NRestarts"] == "1" and shown["ActiveState"] == "active" and vip_on(
            lab, "n1")

    wait_for("the VIP put back on n1", back, 20)
    assert [c[0] for c in notified(lab, "n1")] == ["failure", "restart"]
    # a stop is SIGTERM to `member run`, which takes the VIP down in its own process: a
    # clean stop, so no `vip down` program runs after it
    stopped_at = time.time()
    assert s2s(lab, "n1", "stop", "floating").ok
    assert not vip_on(lab, "n1")
    assert unit_show(lab, "n1", unit)["Result"] == "success"
    said = journal_since(lab, "n1", unit, stopped_at)
    assert "192.168.77.44/24 removed on host0 (host0:floating)" in said, said
    assert "was not up here" not in said, said


def observe(lab: LabNodes, node: str, group: str) -> dict[str, Any]:
    request = json.dumps({"version": PROTOCOL_VERSION, "op": "observe",
                          "args": {"groups": [group]}})
    answer = lab.exec(node, ["s2s-sd", "agent", "--stream"], input=request + "\n").stdout
    result: dict[str, Any] = json.loads(answer.splitlines()[0])["result"]["groups"][group]
    return result
