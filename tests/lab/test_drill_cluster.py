"""The fire drill with the Pacemaker engine: examples/ applied to the lab cluster (fencing
off), every group running where the cluster put it. A node in standby fails the
`pacemaker.node` check on that node, for every group, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from tests.lab.drill_support import drill, failures, reason
from tests.lab.pacemaker_support import install_site, real_device_nodes, remove_from_cluster
from tests.lab.runtime_support import s2s

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def cluster_site(lab_manager: Any) -> Iterator[LabNodes]:
    """examples/ with engine = "pacemaker" (lab fencing off), applied to the cluster and
    settled: every group runs where the cluster put it."""
    lab = lab_manager.get(cluster=True)
    try:
        real_device_nodes(lab)
        install_site(lab, fencing=False)
        applied = s2s(lab, "n1", "apply", "pacemaker", timeout=600)
        assert applied.ok, applied.stdout + applied.stderr
        settle(lab)
        yield lab
    finally:
        remove_from_cluster(lab)


def settle(lab: LabNodes) -> None:
    lab.exec("n1", ["crm_resource", "--wait", "--timeout=120s"], timeout=180)


def test_pacemaker_node_in_standby(cluster_site: LabNodes, cluster_lab: LabNodes) -> None:
    lab = cluster_lab
    code, report = drill(lab)
    assert (code, failures(report)) == (0, set()), failures(report)
    agents = {f["reason"] for f in report["findings"] if f["check"] == "pacemaker.agent"}
    assert {"ocf:heartbeat:Filesystem is installed", "ocf:s2s:script is installed",
            "ocf:s2s:unit is installed"} <= agents
    lab.exec("n1", ["crm_attribute", "--node", "n3", "--name", "standby", "--update", "on"])
    try:
        settle(lab)
        code, report = drill(lab)
    finally:
        lab.exec("n1", ["crm_attribute", "--node", "n3", "--name", "standby", "--delete"])
        settle(lab)
    assert code == 1
    assert failures(report) == {("n3", group, None, "pacemaker.node")
                                for group in ("censhare", "ora", "web")}
    assert "node n3 is standby" in reason(report, "n3", "pacemaker.node")
