"""Faults the lab can inject: hard kill, clean stop, restart, network partition."""

from __future__ import annotations

import pytest

from lab import Lab
from lab.backend import LabNodes

pytestmark = pytest.mark.lab


def reachable(lab: LabNodes, source: str, target: str) -> bool:
    ping = ["ping", "-c", "1", "-W", "1", lab.address(target)]
    return lab.exec(source, ping, check=False).returncode == 0


def test_hard_kill_and_restart_keeps_the_node_root(lab: LabNodes) -> None:
    lab.exec("n3", ["sh", "-c", "echo before-crash > /root/marker"])
    lab.kill("n3")
    assert not lab.is_running("n3")
    assert not reachable(lab, "n1", "n3")
    assert lab.start("n3") == "running", lab.failed_units("n3")
    assert lab.exec("n3", ["cat", "/root/marker"]).stdout == "before-crash\n"
    assert reachable(lab, "n1", "n3")
    assert lab.ssh("n1", "n3", ["hostname"]).stdout.strip() == "n3"


def test_kill_is_a_crash_not_a_shutdown(nspawn_lab: Lab) -> None:
    old_pid1 = nspawn_lab.leader_pid("n2")
    nspawn_lab.kill("n2")
    # Nothing ran at shutdown: systemd wrote no clean-shutdown record in the journal.
    nspawn_lab.start("n2")
    assert nspawn_lab.leader_pid("n2") != old_pid1
    boots = nspawn_lab.exec("n2", ["journalctl", "--list-boots", "--no-pager"], check=False)
    assert boots.returncode == 0


def test_clean_stop_and_start(lab: LabNodes) -> None:
    lab.stop("n2")
    assert not lab.is_running("n2")
    assert not reachable(lab, "n1", "n2")
    assert lab.start("n2") == "running", lab.failed_units("n2")
    assert reachable(lab, "n1", "n2")


def test_partition_and_heal(lab: LabNodes) -> None:
    assert reachable(lab, "n1", "n2")
    lab.partition("n2")
    try:
        assert not reachable(lab, "n1", "n2")
        assert not reachable(lab, "n2", "n3")
        assert reachable(lab, "n1", "n3"), "only n2 is cut off"
        assert lab.is_running("n2"), "a partitioned node keeps running"
    finally:
        lab.heal("n2")
    assert reachable(lab, "n1", "n2")
    assert lab.ssh("n1", "n2", ["hostname"]).stdout.strip() == "n2"
