"""The Pacemaker engine on a real corosync/Pacemaker cluster of 3 nodes: live apply,
moves without leftovers, status, start/stop, maintenance, cleanup, hooks, and what the
cluster does on its own: failover after a hard kill, and a network partition.

examples/ is installed as a cluster site would do it: engine = "pacemaker", the base dir
/etc/s2s-sd on n1, synced to n2 and n3 over real OpenSSH, then `s2s-sd apply pacemaker`.
The cluster fences for real: the lab's fence device powers a node off through the lab
host (tests/lab/fencing.py), as IPMI or fence_virt would. Samplers on every node record
every 100 ms what runs there; tests using `never_two_actives` prove from those samples
that no group was ever active on two nodes at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from tests.lab.fencing import LabFencer
from tests.lab.pacemaker_support import (
    HOSTS,
    after_boot,
    cli_constraints,
    group_status,
    hooks_log,
    install_site,
    real_device_nodes,
    remove_from_cluster,
    status,
    vip_answered_by,
    wait_running,
)
from tests.lab.runtime_support import (
    NODES,
    alarm_texts,
    double_actives,
    read_samples,
    s2s,
    start_samplers,
    stop_samplers,
)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def site(lab_manager: Any) -> Iterator[tuple[LabNodes, LabFencer]]:
    lab = lab_manager.get(cluster=True)
    fencer = LabFencer(lab).start()
    try:
        fencer.install()
        real_device_nodes(lab)
        install_site(lab)
        start_samplers(lab)
        result = s2s(lab, "n1", "apply", "pacemaker", timeout=600)
        assert result.ok, f"apply:\n{result.stdout}{result.stderr}"
        yield lab, fencer
    finally:
        for node in NODES:
            if not lab.is_running(node):
                lab.start(node)
        lab.wait_quorum()
        stop_samplers(lab)
        remove_from_cluster(lab)
        fencer.stop()


@pytest.fixture
def cluster(site: tuple[LabNodes, LabFencer], cluster_lab: LabNodes) -> LabNodes:
    """The site, with every node up and in the cluster (cluster_lab repairs)."""
    _lab, fencer = site
    fencer.install()  # a node rebooted from its overlay keeps it; cheap to make sure
    after_boot(cluster_lab)  # again after a node booted
    return cluster_lab


@pytest.fixture
def never_two_actives(cluster: LabNodes) -> Iterator[None]:
    since = time.time()
    yield
    time.sleep(0.3)  # the last samples
    findings = double_actives(read_samples(cluster, since))
    assert not findings, "a group was active on two nodes at once:\n" + "\n".join(findings)


def ensure_on(lab: LabNodes, group: str, host: str) -> None:
    entry = group_status(lab, group)
    if entry["running"] != host:
        result = s2s(lab, "n1", "move", group, "--to", host)
        assert result.ok, result.stdout + result.stderr
    wait_running(lab, group, host, timeout=5)


# -- live apply -------------------------------------------------------------------------

def test_live_apply_starts_every_group_on_its_first_host_then_is_a_noop(
        cluster: LabNodes) -> None:
    lab = cluster
    for group, hosts in HOSTS.items():
        wait_running(lab, group, hosts[0], timeout=5)
    # the agents and exec units are on every node, nothing of the systemd engine is
    for node in NODES:
        assert lab.exec(node, ["test", "-x", "/usr/lib/ocf/resource.d/s2s/hook"],
                        check=False).ok
        assert lab.exec(node, ["test", "-f", "/etc/systemd/system/s2s-web-httpd.service"],
                        check=False).ok
        assert not lab.exec(node, ["test", "-e", "/etc/systemd/system/s2s-web.target"],
                            check=False).ok
    code, report = status(lab)
    assert code == 0, report["alarms"]
    assert report["engine"] == "pacemaker"
    again = s2s(lab, "n1", "apply", "pacemaker")
    assert again.ok, again.stdout + again.stderr
    assert "nothing to push" in again.stdout, again.stdout
    for group, hosts in HOSTS.items():
        wait_running(lab, group, hosts[0], timeout=5)


# -- moves ------------------------------------------------------------------------------

@pytest.mark.parametrize(("group", "path"), [
    ("censhare", ["n2", "n3", "n1"]),
    ("ora", ["n3", "n1", "n2"]),
    ("web", ["n1", "n3"]),
])
def test_move_across_all_nodes_leaves_no_constraint(cluster: LabNodes,
                                                    never_two_actives: None, group: str,
                                                    path: list[str]) -> None:
    lab = cluster
    source = group_status(lab, group)["running"]
    assert source in HOSTS[group]
    for target in path:
        if target == source:
            continue
        result = s2s(lab, "n1", "move", group, "--to", target)
        assert result.ok, f"move {group} {source} -> {target}:\n{result.stdout}{result.stderr}"
        assert f"{group} runs on {target}" in result.stdout
        assert "started" in result.stdout  # progress, member by member
        wait_running(lab, group, target, timeout=5)
        assert cli_constraints(lab) == []
        vip_answered_by(lab, group, target)
        if group in ("censhare", "ora"):
            assert f"pre-move {group} {source} -> {target} on {source}" in \
                hooks_log(lab, source)
            assert f"post-move {group} {source} -> {target} on {target}" in \
                hooks_log(lab, target)
        source = target
    assert status(lab)[0] == 0


def test_move_outside_the_groups_hosts_is_refused(cluster: LabNodes) -> None:
    before = group_status(cluster, "web")["running"]
    result = s2s(cluster, "n1", "move", "web", "--to", "n2")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not one of the hosts of group web" in result.stderr
    assert cli_constraints(cluster) == []
    assert group_status(cluster, "web")["running"] == before


def test_move_dry_run_and_lifetime(cluster: LabNodes, never_two_actives: None) -> None:
    lab = cluster
    ensure_on(lab, "web", "n3")
    plan = s2s(lab, "n1", "move", "web", "--to", "n1", "--dry-run")
    assert plan.ok and "cli-prefer-web" in plan.stdout, plan.stdout + plan.stderr
    assert cli_constraints(lab) == []
    # a temporary preference stays, is shown, raises no alarm, and expires by itself
    result = s2s(lab, "n1", "move", "web", "--to", "n1", "--lifetime", "1h")
    assert result.ok, result.stdout + result.stderr
    assert cli_constraints(lab) == ["cli-prefer-web"]
    code, report = status(lab)
    assert code == 0, report["alarms"]
    web = next(g for g in report["groups"] if g["group"] == "web")
    assert web["constraints"][0]["node"] == "n1" and web["constraints"][0]["expires"]
    # a second move refuses while the preference exists: it is the operator's to clear
    refused = s2s(lab, "n1", "move", "web", "--to", "n3")
    assert refused.returncode == 3 and "cli-prefer-web" in refused.stderr, refused.stderr
    assert "cli-prefer-web" in s2s(lab, "n1", "cleanup", "web").stdout
    assert cli_constraints(lab) == []
    wait_running(lab, "web", "n1", timeout=5)


def test_failed_move_says_what_was_left_and_removes_it(cluster: LabNodes,
                                                       never_two_actives: None) -> None:
    lab = cluster
    ensure_on(lab, "web", "n1")
    # the web server cannot bind its port on n3: its start fails there
    lab.exec("n3", ["systemd-run", "--unit=port-squatter", "/usr/bin/python3", "-c",
                    "import socket,time; s=socket.socket(); "
                    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                    "s.bind(('0.0.0.0', 8081)); s.listen(); time.sleep(3600)"])
    try:
        result = s2s(lab, "n1", "move", "web", "--to", "n3", "--timeout", "60")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "did not reach n3" in result.stderr
        assert "constraint cli-prefer-web removed" in result.stderr
        assert cli_constraints(lab) == []
        code, report = status(lab)
        assert code == 1
        assert any("web: start of web_httpd on n3 failed" in a for a in alarm_texts(report)), \
            report["alarms"]
    finally:
        lab.exec("n3", ["systemctl", "stop", "port-squatter"], check=False)
    cleaned = s2s(lab, "n1", "cleanup", "web")
    assert cleaned.ok and "web_httpd" in cleaned.stdout, cleaned.stdout + cleaned.stderr
    wait_running(lab, "web", "n1")
    assert status(lab)[0] == 0


# -- status, start/stop, maintenance, cleanup --------------------------------------------

def test_status_alarms_for_leftover_constraint_and_maintenance(cluster: LabNodes) -> None:
    lab = cluster
    ensure_on(lab, "web", "n3")
    # a move by hand that nobody cleared
    lab.exec("n1", ["crm_resource", "--move", "--resource", "web", "--node", "n1"])
    try:
        wait_running(lab, "web", "n1")
        code, report = status(lab)
        assert code == 1
        assert any("leftover constraint cli-prefer-web" in a for a in alarm_texts(report))
        text = s2s(lab, "n1", "status")
        assert text.returncode == 1 and "ALARM: web: leftover constraint" in text.stdout
    finally:
        assert s2s(lab, "n1", "cleanup", "web").ok
    assert cli_constraints(lab) == []
    on = s2s(lab, "n1", "maintenance", "on")
    assert on.ok, on.stdout + on.stderr
    try:
        code, report = status(lab)
        assert code == 1 and report["cluster"]["maintenance_mode"]
        assert any("MAINTENANCE MODE" in a for a in alarm_texts(report))
        refused = s2s(lab, "n1", "move", "web", "--to", "n3")
        assert refused.returncode == 3 and "maintenance mode" in refused.stderr
    finally:
        off = s2s(lab, "n1", "maintenance", "off")
    assert off.ok and "web: n1" in off.stdout, off.stdout + off.stderr
    assert status(lab)[0] == 0


def test_stop_and_start_through_target_role(cluster: LabNodes,
                                            never_two_actives: None) -> None:
    lab = cluster
    ensure_on(lab, "web", "n1")
    result = s2s(lab, "n2", "stop", "web")
    assert result.ok and "stopped on n1" in result.stdout, result.stdout + result.stderr
    entry = group_status(lab, "web")
    assert entry["target_role"] == "Stopped" and entry["running"] is None
    assert status(lab)[0] == 0  # stopped on purpose: no alarm
    role = lab.exec("n1", ["crm_resource", "--resource", "web", "--meta", "--get-parameter",
                           "target-role"]).stdout
    assert "Stopped" in role
    result = s2s(lab, "n2", "start", "web")
    assert result.ok and "web runs on" in result.stdout, result.stdout + result.stderr
    assert group_status(lab, "web")["running"] in HOSTS["web"]


def test_status_is_the_same_from_every_node(cluster: LabNodes) -> None:
    reports = [status(cluster, node)[1] for node in NODES]
    placements = [{g["group"]: g["running"] for g in r["groups"]} for r in reports]
    assert placements[0] == placements[1] == placements[2]


# -- what the cluster does on its own -----------------------------------------------------

def test_hard_kill_of_the_holder_fails_over_and_runs_the_post_move_hook(
        site: tuple[LabNodes, LabFencer], cluster: LabNodes,
        never_two_actives: None) -> None:
    lab, fencer = cluster, site[1]
    ensure_on(lab, "ora", "n2")
    killed_at = time.time()
    lab.kill("n2")
    try:
        entry = wait_running(lab, "ora", "n3", timeout=60)
        failover = time.time() - killed_at
        assert failover < 45, f"failover took {failover:.1f} s"
        assert entry["hosts"]["n2"]["state"] == "offline"
        code, report = status(lab)
        assert code == 1 and report["unreachable"] == ["n2"], report
        assert "OFFLINE: n2" in s2s(lab, "n1", "status").stdout
        log = hooks_log(lab, "n3")
        assert "post-move ora  -> n3 on n3" in log, log
        assert any(e.node == "n2" and e.answer == "ok" for e in fencer.log), fencer.log
        vip_answered_by(lab, "ora", "n3")
    finally:
        lab.start("n2")
        after_boot(lab)
        lab.wait_quorum()
    # n2 is back: the group stays where it runs (stickiness), nothing runs twice
    time.sleep(1)
    wait_running(lab, "ora", "n3", timeout=10)


def test_partition_of_the_holder(site: tuple[LabNodes, LabFencer], cluster: LabNodes,
                                 never_two_actives: None) -> None:
    lab, fencer = cluster, site[1]
    ensure_on(lab, "censhare", "n1")
    cut_at = time.time()
    lab.partition("n1")
    try:
        # the majority (n2, n3) fences n1 and starts the group on its next host
        wait_running(lab, "censhare", "n2", timeout=90, node="n2")
        fenced = [e for e in fencer.log if e.node == "n1" and e.time >= cut_at]
        assert fenced and fenced[0].answer == "ok", fencer.log
    finally:
        if lab.is_running("n1"):
            lab.heal("n1")
        else:
            lab.start("n1")
        after_boot(lab)
        lab.wait_quorum()
    # the isolated node's own record (kept on its disk): it ran the group when it was cut
    # off and ran it no more before the majority started it (never_two_actives checks the
    # overlap of every node's samples)
    samples = read_samples(lab, cut_at - 1)
    isolated = [s for s in samples["n1"] if s.time < fenced[0].time]
    assert isolated and isolated[0].active("censhare"), isolated[:3]
    majority = [s.time for s in samples["n2"] if s.active("censhare")]
    assert majority and all(s.time < majority[0] for s in isolated if s.active("censhare"))
    wait_running(lab, "censhare", "n2", timeout=30)
    assert status(lab)[0] == 0
