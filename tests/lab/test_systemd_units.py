"""The generated systemd units under a real systemd (PID 1 of the lab nodes).

examples/ (host group c07: n1 n2 n3, systemd engine) is installed on every node with
`s2s-sd apply systemd`, straight from the working tree (bind-mounted into the nodes). The
group under test is censhare: data (mount of the shared disk /dev/mapper/censhare_data),
vip (192.168.77.21), db (s2s init script keeping a heartbeat file on the disk), app
(python3 http.server on the VIP, serving the disk). Nobody moved it, so it is assigned to
its first preferred host, n1.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.backend import LabNodes

pytestmark = pytest.mark.lab

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GROUP = "censhare"
TARGET = f"s2s-{GROUP}.target"
MEMBERS = [f"s2s-{GROUP}-{name}.service" for name in ("data", "vip", "db", "app")]
MOUNTPOINT = "/disk/censhare/00"
VIP = "192.168.77.21"
ASSIGNED = "n1"  # first of the group's preferred hosts
NOT_ASSIGNED = "n2"


def unit_property(lab: LabNodes, node: str, unit: str, name: str) -> str:
    return lab.exec(node, ["systemctl", "show", "--value", "-p", name, unit]).stdout.strip()


def active_state(lab: LabNodes, node: str, unit: str) -> str:
    return unit_property(lab, node, unit, "ActiveState")


def is_mounted(lab: LabNodes, node: str) -> bool:
    return lab.exec(node, ["findmnt", "--mountpoint", MOUNTPOINT], check=False).ok


def has_vip(lab: LabNodes, node: str) -> bool:
    addresses = lab.exec(node, ["ip", "-4", "-o", "addr", "show"]).stdout
    return f" {VIP}/" in addresses


def wait_idle(lab: LabNodes, node: str, timeout: float = 60.0) -> None:
    """Wait until the node's systemd has no job left. `systemctl stop TARGET` returns when
    the target is down, which is before its members: the target is ordered after them, so
    it stops first and the members' stop jobs run on after the command returned."""
    tenths = int(timeout * 10)
    lab.exec(node, ["sh", "-c", f"for i in $(seq {tenths}); do "
                    "[ -z \"$(systemctl list-jobs --no-legend)\" ] && exit 0; sleep 0.1; "
                    "done; systemctl list-jobs; exit 1"], timeout=timeout + 10)


def group_debug(lab: LabNodes, node: str) -> str:
    status = lab.exec(node, ["systemctl", "status", "--no-pager", "--lines=5", TARGET,
                             *MEMBERS], check=False)
    return status.stdout + status.stderr


def assert_group_down(lab: LabNodes, node: str) -> None:
    for unit in [TARGET, *MEMBERS]:
        assert active_state(lab, node, unit) in ("inactive", "failed"), group_debug(lab, node)
    assert not is_mounted(lab, node), f"{MOUNTPOINT} still mounted on {node}"
    assert not has_vip(lab, node), f"{VIP} still on {node}"


def start_group(lab: LabNodes, node: str) -> None:
    result = lab.exec(node, ["systemctl", "start", TARGET], check=False, timeout=120)
    assert result.ok, result.stderr + group_debug(lab, node)
    wait_idle(lab, node)


def stop_group(lab: LabNodes, node: str) -> None:
    lab.exec(node, ["systemctl", "stop", TARGET], check=False, timeout=120)
    wait_idle(lab, node)
    lab.exec(node, ["systemctl", "reset-failed"], check=False)


# What `apply systemd` put on a node, and what the group leaves when stopped uncleanly:
# removed after the module so the other lab tests find plain nodes.
REMOVE_APPLIED = (
    "systemctl stop 's2s-*' 2>/dev/null; systemctl reset-failed; "
    f"umount {MOUNTPOINT} 2>/dev/null; ip addr del {VIP}/24 dev host0 2>/dev/null; "
    "rm -rf /etc/systemd/system/s2s-* /etc/systemd/system/ora-db.service.d "
    "/etc/systemd/system/.s2s-sd-manifest /etc/systemd/system/multi-user.target.wants/s2s-* "
    "/var/lib/s2s-sd; sed -i '/_c07$/d' /etc/hosts; systemctl daemon-reload"
)


@pytest.fixture(scope="module")
def examples_applied(lab_manager: Any) -> Iterator[None]:
    """examples/ applied once on every node with `s2s-sd apply systemd`, removed after."""
    lab: LabNodes = lab_manager.get(cluster=False)
    for node in lab.nodes:
        result = lab.exec(node, ["s2s-sd", "apply", "systemd", "--basedir", str(EXAMPLES)],
                          check=False)
        assert result.ok, f"apply on {node}: {result.stdout}{result.stderr}"
    yield
    lab = lab_manager.get(cluster=False)
    for node in lab.nodes:
        lab.exec(node, ["sh", "-c", REMOVE_APPLIED], check=False, timeout=120)


@pytest.fixture
def installed(examples_applied: None, lab: LabNodes) -> Iterator[LabNodes]:
    """The lab with examples/ applied and the group down before and after the test."""
    for node in lab.nodes:
        stop_group(lab, node)
    yield lab
    for node in lab.nodes:
        if lab.is_running(node):
            stop_group(lab, node)
            lab.exec(node, ["umount", MOUNTPOINT], check=False)


def test_start_brings_members_up_in_order(installed: LabNodes) -> None:
    lab = installed
    start_group(lab, ASSIGNED)
    assert active_state(lab, ASSIGNED, TARGET) == "active"
    started = [int(unit_property(lab, ASSIGNED, unit, "ActiveEnterTimestampMonotonic"))
               for unit in MEMBERS]
    assert all(started), f"every member active: {dict(zip(MEMBERS, started, strict=True))}"
    assert started == sorted(started), f"start order: {dict(zip(MEMBERS, started, strict=True))}"
    assert is_mounted(lab, ASSIGNED)
    assert has_vip(lab, ASSIGNED)
    heartbeat = lab.exec(ASSIGNED, ["cat", f"{MOUNTPOINT}/db/heartbeat"], check=False)
    assert heartbeat.ok, "the db member writes its heartbeat on the group's disk"
    # The VIP answers from outside the hosts: the app serves the disk on it.
    fetch = lab.client(["python3", "-c",
                        f"import urllib.request; print(urllib.request.urlopen("
                        f"'http://{VIP}:8080/', timeout=5).status)"], check=False)
    assert fetch.stdout.strip() == "200", fetch.stderr


def test_stop_takes_members_down_in_reverse_order(installed: LabNodes) -> None:
    lab = installed
    start_group(lab, ASSIGNED)
    lab.exec(ASSIGNED, ["systemctl", "stop", TARGET], timeout=120)
    wait_idle(lab, ASSIGNED)
    stopped = [int(unit_property(lab, ASSIGNED, unit, "InactiveEnterTimestampMonotonic"))
               for unit in MEMBERS]
    assert stopped == sorted(stopped, reverse=True), (
        f"stop order: {dict(zip(MEMBERS, stopped, strict=True))}")
    assert_group_down(lab, ASSIGNED)


def test_member_failing_at_start_leaves_nothing_half_up(installed: LabNodes) -> None:
    lab = installed
    # Something else sits on the group's mountpoint: the mount member must refuse.
    lab.exec(ASSIGNED, ["mkdir", "-p", MOUNTPOINT])
    lab.exec(ASSIGNED, ["mount", "-t", "tmpfs", "squatter", MOUNTPOINT])
    try:
        result = lab.exec(ASSIGNED, ["systemctl", "start", TARGET], check=False, timeout=120)
        assert not result.ok
        wait_idle(lab, ASSIGNED)
        assert active_state(lab, ASSIGNED, MEMBERS[0]) == "failed"
        for unit in [TARGET, *MEMBERS[1:]]:
            assert active_state(lab, ASSIGNED, unit) in ("inactive", "failed"), unit
        assert not has_vip(lab, ASSIGNED)
    finally:
        lab.exec(ASSIGNED, ["umount", MOUNTPOINT], check=False)


def test_member_dying_while_up_is_restarted_until_the_group_gives_up(
        installed: LabNodes) -> None:
    """Local recovery (issue 13): a member that dies is restarted in place while the
    target stays up; its migration_threshold-th failure (default 3) stops the group."""
    lab = installed
    start_group(lab, ASSIGNED)
    app = MEMBERS[-1]
    for failure in (1, 2):
        pid = unit_property(lab, ASSIGNED, app, "MainPID")
        lab.exec(ASSIGNED, ["systemctl", "kill", "--signal=KILL", app])
        lab.exec(ASSIGNED, ["sh", "-c", "for i in $(seq 150); do "
                            f"[ \"$(systemctl show -p NRestarts --value {app})\" = {failure} ] "
                            f"&& systemctl is-active --quiet {app} && exit 0; sleep 0.1; done; "
                            "exit 1"], timeout=30)
        assert unit_property(lab, ASSIGNED, app, "MainPID") != pid
        assert active_state(lab, ASSIGNED, TARGET) == "active", group_debug(lab, ASSIGNED)
    lab.exec(ASSIGNED, ["systemctl", "kill", "--signal=KILL", app])
    lab.exec(ASSIGNED, ["sh", "-c",
                        f"for i in $(seq 100); do systemctl is-active --quiet {TARGET} "
                        "|| break; sleep 0.1; done"])
    wait_idle(lab, ASSIGNED)
    assert active_state(lab, ASSIGNED, app) == "failed"
    assert_group_down(lab, ASSIGNED)


def test_holder_of_the_mount_is_killed_and_unmount_succeeds(installed: LabNodes) -> None:
    lab = installed
    start_group(lab, ASSIGNED)
    # Two processes outside the group keep the file system busy: one with a file open,
    # one in it as cwd that ignores SIGTERM (so only the KILL after the grace period works).
    lab.exec(ASSIGNED, ["systemd-run", "--unit=lab-reader", f"--working-directory={MOUNTPOINT}",
                        "sh", "-c", "exec 3<db/heartbeat; exec sleep 600"])
    lab.exec(ASSIGNED, ["systemd-run", "--unit=lab-stubborn",
                        f"--working-directory={MOUNTPOINT}",
                        "sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
    holders = lab.exec(ASSIGNED, ["fuser", "-m", MOUNTPOINT], check=False).stdout.split()
    assert len(holders) >= 2, holders
    stop = lab.exec(ASSIGNED, ["systemctl", "stop", TARGET], check=False, timeout=120)
    assert stop.ok, stop.stderr + group_debug(lab, ASSIGNED)
    wait_idle(lab, ASSIGNED)
    assert_group_down(lab, ASSIGNED)
    for holder in ("lab-reader.service", "lab-stubborn.service"):
        assert active_state(lab, ASSIGNED, holder) in ("inactive", "failed"), holder
    journal = lab.exec(ASSIGNED, ["journalctl", "--no-pager", "-u", MEMBERS[0]]).stdout
    assert "holder pid" in journal, journal


def test_group_does_not_start_at_boot_where_not_assigned(installed: LabNodes) -> None:
    lab = installed
    for node in (NOT_ASSIGNED, ASSIGNED):
        lab.stop(node)
        lab.start(node)
        wait_idle(lab, node)
    assert active_state(lab, NOT_ASSIGNED, TARGET) == "inactive", group_debug(lab, NOT_ASSIGNED)
    assert not is_mounted(lab, NOT_ASSIGNED)
    boot = lab.exec(ASSIGNED, ["systemctl", "is-active", TARGET], check=False)
    assert boot.stdout.strip() == "active", group_debug(lab, ASSIGNED)
    assert is_mounted(lab, ASSIGNED) and has_vip(lab, ASSIGNED)


def test_bare_start_is_refused_where_not_assigned(installed: LabNodes) -> None:
    lab = installed
    result = lab.exec(NOT_ASSIGNED, ["systemctl", "start", TARGET], check=False, timeout=120)
    assert not result.ok
    wait_idle(lab, NOT_ASSIGNED)
    guard = f"s2s-guard@{GROUP}.service"
    assert active_state(lab, NOT_ASSIGNED, guard) == "failed"
    # Exit 3: refused for safety (DESIGN.md), not a crash of the guard.
    assert unit_property(lab, NOT_ASSIGNED, guard, "ExecMainStatus") == "3"
    assert_group_down(lab, NOT_ASSIGNED)
    guard_log = lab.exec(NOT_ASSIGNED, ["journalctl", "--no-pager", "-u", guard]).stdout
    assert "refused" in guard_log and ASSIGNED in guard_log, guard_log
