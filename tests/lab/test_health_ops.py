"""Health operations on real hosts, systemd engine (issue 13 items 4-6): freeze,
concurrency violations seen by every host's watcher within the documented bound, the
`on_concurrency = "stop"` option, cleanup. The Pacemaker engine's side is in
test_health_ops_pacemaker.py (a module boots one kind of lab).

examples/ is installed as test_systemd_runtime.py does it. The violation tests make a
group active on two nodes on purpose, so they do not run under the sampler's
never-two-actives check; the freeze test does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from tests.lab.runtime_support import (
    BASEDIR,
    NODES,
    VIPS,
    alarm_texts,
    double_actives,
    examples_site,
    read_samples,
    s2s,
)

pytestmark = pytest.mark.lab

WATCH_BOUND = 10.0  # seconds: the documented bound of the watcher (s2s-sd.toml(5))
WATCH_FILE = "/var/lib/s2s-sd/c07/watch.json"


# -- systemd engine ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(lab_manager: Any) -> Iterator[LabNodes]:
    yield from examples_site(lab_manager)


@pytest.fixture
def health_lab(site: LabNodes, lab: LabNodes) -> LabNodes:
    return lab


def status(lab: LabNodes, node: str = "n1") -> tuple[int, dict[str, Any]]:
    result = s2s(lab, node, "status", "--json")
    assert result.stdout.strip().startswith("{"), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def group_entry(lab: LabNodes, group: str) -> dict[str, Any]:
    return next(g for g in status(lab)[1]["groups"] if g["group"] == group)


def runs_on(lab: LabNodes, group: str, host: str) -> None:
    entry = group_entry(lab, group)
    if entry["assigned"] == host and entry["hosts"][host]["state"] != "up":
        result = s2s(lab, "n1", "start", group)
    elif entry["assigned"] != host or entry["hosts"][host]["state"] != "up":
        result = s2s(lab, "n1", "move", group, "--to", host)
    else:
        return
    assert result.ok, result.stdout + result.stderr
    assert group_entry(lab, group)["hosts"][host]["state"] == "up"


def violations(lab: LabNodes, node: str) -> list[dict[str, Any]]:
    text = lab.exec(node, ["cat", WATCH_FILE], check=False).stdout
    return list(json.loads(text)["alarms"]) if text.strip() else []


def wait_violations(lab: LabNodes, group: str, nodes: tuple[str, ...],
                    timeout: float) -> float:
    """Seconds until every node's watcher records a violation of group (or fail)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(any(v["group"] == group for v in violations(lab, n)) for n in nodes):
            return time.monotonic() - started
        time.sleep(0.2)
    seen = {n: violations(lab, n) for n in nodes}
    raise AssertionError(f"no violation of {group} on {nodes} within {timeout} s: {seen}")


def wait_cleared(lab: LabNodes, nodes: tuple[str, ...]) -> None:
    deadline = time.monotonic() + 3 * WATCH_BOUND
    while time.monotonic() < deadline:
        if not any(violations(lab, n) for n in nodes):
            return
        time.sleep(0.5)
    raise AssertionError({n: violations(lab, n) for n in nodes})


def actions_log(lab: LabNodes, node: str) -> str:
    return lab.exec(node, ["cat", "/var/log/s2s-sd/actions.log"], check=False).stdout


def test_freeze_refuses_moves_leaves_maintenance_alone_and_boot(health_lab: LabNodes
                                                                ) -> None:
    lab = health_lab
    since = time.time()
    runs_on(lab, "web", "n3")
    frozen = s2s(lab, "n1", "freeze", "web")
    assert frozen.ok and "web frozen on n1, n2, n3" in frozen.stdout, frozen.stdout + \
        frozen.stderr
    try:
        code, report = status(lab)
        web = next(g for g in report["groups"] if g["group"] == "web")
        assert web["frozen"]["by"] == "n1" and code == 0, report["alarms"]
        assert "FROZEN (since" in s2s(lab, "n1", "status", "web").stdout
        for command in (["move", "web", "--to", "n1"], ["stop", "web"], ["start", "web"]):
            refused = s2s(lab, "n1", *command)
            assert refused.returncode == 3, (command, refused.stdout, refused.stderr)
            assert "web is frozen (since" in refused.stderr, refused.stderr
        # maintenance by hand: stop and start with systemctl, s2s-sd does not fight back
        lab.exec("n3", ["systemctl", "stop", "s2s-web.target"], timeout=120)
        assert group_entry(lab, "web")["hosts"]["n3"]["state"] == "down"
        lab.exec("n3", ["systemctl", "start", "s2s-web.target"], timeout=120)
        assert group_entry(lab, "web")["hosts"]["n3"]["state"] == "up"
        # boot: the guard does not start a frozen group
        lab.stop("n3")
        lab.start("n3")
        lab.wait_running("n3")
        time.sleep(2)
        entry = group_entry(lab, "web")
        assert entry["hosts"]["n3"]["state"] == "down", entry
        guard_log = lab.exec("n3", ["journalctl", "--no-pager", "-b", "-u",
                                    "s2s-guard@web.service"]).stdout
        assert "web is frozen" in guard_log and "not started at boot" in guard_log, guard_log
        code, report = status(lab)
        assert code == 1
        assert "web is down on n3, where it is assigned (frozen)" in alarm_texts(report), \
            report["alarms"]
    finally:
        thawed = s2s(lab, "n1", "unfreeze", "web")
        assert thawed.ok, thawed.stdout + thawed.stderr
    started = s2s(lab, "n1", "start", "web")
    assert started.ok, started.stdout + started.stderr
    code, report = status(lab)
    assert code == 0 and group_entry(lab, "web")["frozen"] is None, report["alarms"]
    lab.exec("n3", ["systemctl", "start", "s2s-test-sampler"], check=False)  # rebooted
    findings = double_actives(read_samples(lab, since))
    assert not findings, findings


def test_every_host_runs_its_watcher(health_lab: LabNodes) -> None:
    for node in NODES:
        state = health_lab.exec(node, ["systemctl", "is-active", "s2s-watch.service"],
                                check=False).stdout.strip()
        enabled = health_lab.exec(node, ["systemctl", "is-enabled", "s2s-watch.service"],
                                  check=False).stdout.strip()
        assert (state, enabled) == ("active", "enabled"), node


def test_a_vip_added_by_hand_elsewhere_is_an_alarm_on_both_hosts(health_lab: LabNodes
                                                                ) -> None:
    lab = health_lab
    runs_on(lab, "web", "n3")
    vip = f"{VIPS['web']}/24"
    lab.exec("n1", ["ip", "addr", "add", vip, "dev", "host0"])
    try:
        seconds = wait_violations(lab, "web", ("n1", "n3"), timeout=3 * WATCH_BOUND)
        print(f"VIP added by hand on n1: alarm on n1 and n3 after {seconds:.1f} s")
        assert seconds <= WATCH_BOUND, seconds
        code, report = status(lab)
        texts = alarm_texts(report)
        assert code == 1
        assert any(t.startswith("n1 sees: web is active on n1 and on n3") for t in texts), texts
        assert any(t.startswith("n3 sees: ") and "answered by another host" in t
                   for t in texts), texts
        for node in ("n1", "n3"):
            assert "event concurrency web:" in actions_log(lab, node), node
        # alarm only (the default): nothing was stopped
        assert group_entry(lab, "web")["hosts"]["n3"]["state"] == "up"
        assert vip in lab.exec("n1", ["ip", "-o", "addr", "show", "dev", "host0"]).stdout
    finally:
        lab.exec("n1", ["ip", "addr", "del", vip, "dev", "host0"], check=False)
    wait_cleared(lab, ("n1", "n3"))
    assert "event concurrency-ended web" in actions_log(lab, "n1")


def set_on_concurrency(lab: LabNodes, value: str | None) -> None:
    script = (f"sed -i '/^on_concurrency/d' {BASEDIR}/s2s.toml"
              + (f" && sed -i '/^\\[hostgroup\\]/a on_concurrency = \"{value}\"' "
                 f"{BASEDIR}/s2s.toml" if value else ""))
    lab.exec("n1", ["sh", "-c", script])
    synced = s2s(lab, "n1", "sync")
    assert synced.ok, synced.stdout + synced.stderr


ROGUE_DISK = ("/dev/mapper/ora_data", "/disk/ora/00")  # ora's first member, data


def start_rogue_member(lab: LabNodes, node: str) -> None:
    """ora's first member brought up by hand: its disk mounted. (Its unit cannot be kept
    up by hand: without its guard and target, systemd stops it again at once, BindsTo=.)
    One kernel under the lab's nodes: the mount shares its superblock, so this harms no
    data (on real hosts it would)."""
    device, mountpoint = ROGUE_DISK
    lab.exec(node, ["sh", "-c", f"mkdir -p {mountpoint} && mount {device} {mountpoint}"])


def stop_rogue_member(lab: LabNodes, node: str) -> None:
    lab.exec(node, ["umount", ROGUE_DISK[1]], check=False)


def rogue_state(lab: LabNodes, node: str) -> str:
    mounted = lab.exec(node, ["findmnt", "-rn", "--mountpoint", ROGUE_DISK[1]], check=False).ok
    return "active" if mounted else "inactive"


def test_a_member_started_by_hand_elsewhere_alarm_then_stopped_with_the_option(
        health_lab: LabNodes) -> None:
    lab = health_lab
    runs_on(lab, "ora", "n2")
    start_rogue_member(lab, "n1")
    try:
        seconds = wait_violations(lab, "ora", ("n1", "n2"), timeout=3 * WATCH_BOUND)
        print(f"ora's disk mounted by hand on n1: alarm on n1 and n2 after {seconds:.1f} s")
        assert seconds <= WATCH_BOUND, seconds
        code, report = status(lab)
        assert code == 1 and any("ora is active on n2 and on n1" in t
                                 for t in alarm_texts(report)), report["alarms"]
        time.sleep(2)
        assert rogue_state(lab, "n1") == "active"  # alarm only: nothing stopped
    finally:
        stop_rogue_member(lab, "n1")
    wait_cleared(lab, ("n1", "n2"))
    set_on_concurrency(lab, "stop")
    try:
        start_rogue_member(lab, "n1")
        started = time.monotonic()
        while rogue_state(lab, "n1") == "active" and time.monotonic() - started < 3 * WATCH_BOUND:
            time.sleep(0.2)
        seconds = time.monotonic() - started
        print(f"on_concurrency = stop: the disk mounted by hand on n1 unmounted after "
              f"{seconds:.1f} s")
        assert rogue_state(lab, "n1") != "active" and seconds <= WATCH_BOUND + 2, seconds
        assert "event concurrency-stopped ora: ora: stopped its units; unmounted " \
            "/disk/ora/00" in actions_log(lab, "n1")
        assert group_entry(lab, "ora")["hosts"]["n2"]["state"] == "up"  # not where assigned
    finally:
        stop_rogue_member(lab, "n1")
        set_on_concurrency(lab, None)


def test_cleanup_clears_a_failed_member(health_lab: LabNodes) -> None:
    """httpd killed until local recovery gives up (migration_threshold, 3 by default on
    the systemd engine): the group is down on n3 where it is assigned, an alarm naming
    the member and its reason; cleanup clears it and a start brings it back."""
    lab = health_lab
    runs_on(lab, "web", "n3")
    unit = "s2s-web-httpd.service"
    for failure in range(3):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and lab.exec(
                "n3", ["systemctl", "is-active", unit], check=False).stdout.strip() != "active":
            time.sleep(0.2)
        assert time.monotonic() < deadline, f"httpd not up again before failure {failure + 1}"
        lab.exec("n3", ["systemctl", "kill", "--signal=KILL", unit])
        time.sleep(0.5)  # the failure is handled (ExecStopPost=) before the next look
    deadline = time.monotonic() + 30
    entry = group_entry(lab, "web")
    while entry["hosts"]["n3"]["state"] == "up" and time.monotonic() < deadline:
        time.sleep(0.5)
        entry = group_entry(lab, "web")
    code, report = status(lab)
    assert code == 1, report
    alarm = next(a for a in report["alarms"] if a["kind"] == "down_where_assigned")
    assert alarm["host"] == "n3" and alarm["member"] == "httpd", alarm
    httpd = next(m for m in entry["members"] if m["name"] == "httpd")
    assert httpd["last_failure"] and "signal" in httpd["last_failure"], httpd
    cleaned = s2s(lab, "n1", "cleanup", "web")
    assert cleaned.ok and "[n3] web: cleared" in cleaned.stdout, cleaned.stdout + \
        cleaned.stderr
    assert group_entry(lab, "web")["hosts"]["n3"]["state"] != "failed"
    started = s2s(lab, "n1", "start", "web")
    assert started.ok, started.stdout + started.stderr
    assert status(lab)[0] == 0
