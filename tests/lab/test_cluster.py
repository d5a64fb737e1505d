"""corosync (knet) + Pacemaker over the lab nodes: quorum, node loss, partition."""

from __future__ import annotations

import time

import pytest

from lab.backend import LabNodes

pytestmark = pytest.mark.lab


def quorum_status(lab: LabNodes, node: str) -> str:
    return lab.exec(node, ["corosync-quorumtool", "-s"], check=False).stdout


def wait_for(condition_text: str, probe: object, timeout: float = 30.0) -> str:
    assert callable(probe)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = str(probe())
        if condition_text in last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{condition_text!r} not seen within {timeout} s:\n{last}")


def test_cluster_is_quorate_with_three_nodes_online(cluster_lab: LabNodes) -> None:
    crm_mon = cluster_lab.wait_quorum()
    assert "partition with quorum" in crm_mon
    assert "Online: [ n1 n2 n3 ]" in crm_mon
    quorum = quorum_status(cluster_lab, "n1")
    assert "Quorate:          Yes" in quorum
    assert "Total votes:      3" in quorum
    settings = cluster_lab.exec("n1", ["crm_attribute", "--type", "crm_config", "--name",
                                       "stonith-enabled", "--query"]).stdout
    assert "value=false" in settings  # the lab-only setting, never on real hosts


def test_cluster_keeps_quorum_without_a_killed_node_and_takes_it_back(
    cluster_lab: LabNodes,
) -> None:
    cluster_lab.kill("n3")
    crm_mon = cluster_lab.wait_quorum(["n1", "n2"])
    assert "OFFLINE: [ n3 ]" in wait_for("OFFLINE: [ n3 ]",
                                         lambda: cluster_lab.exec("n1", ["crm_mon", "-1"],
                                                                  check=False).stdout)
    assert "partition with quorum" in crm_mon
    cluster_lab.start("n3")
    assert "Online: [ n1 n2 n3 ]" in cluster_lab.wait_quorum(["n1", "n2", "n3"])


def test_partitioned_node_loses_quorum_and_rejoins(cluster_lab: LabNodes) -> None:
    cluster_lab.partition("n1")
    try:
        wait_for("Quorate:          No", lambda: quorum_status(cluster_lab, "n1"))
        wait_for("Quorate:          Yes", lambda: quorum_status(cluster_lab, "n2"))
        cluster_lab.wait_quorum(["n2", "n3"])
    finally:
        cluster_lab.heal("n1")
    wait_for("Total votes:      3", lambda: quorum_status(cluster_lab, "n1"))
    assert "Online: [ n1 n2 n3 ]" in cluster_lab.wait_quorum(["n1", "n2", "n3"])
