"""`s2s-sd migrate`: a host group running under the systemd engine is adopted by the
corosync/Pacemaker cluster its hosts form, and handed back, without any group stopping.

The proof: samplers on every node (every 100 ms) show each running group active on its
host in every sample of the migration and never on another node; the processes of the
groups (the script's daemon, the exec member, the bound database unit) keep their PIDs.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from tests.lab.pacemaker_support import (
    after_boot,
    cli_constraints,
    install_site,
    remove_from_cluster,
    status,
)
from tests.lab.runtime_support import (
    NODES,
    double_actives,
    read_samples,
    s2s,
    start_samplers,
    stop_samplers,
)

pytestmark = pytest.mark.lab

# where the groups run when the migration starts: censhare not on its first host, web down
PLACEMENT = {"censhare": "n3", "ora": "n2", "web": None}


@pytest.fixture(scope="module")
def systemd_site(lab_manager: Any) -> Iterator[LabNodes]:
    lab = lab_manager.get(cluster=True)
    try:
        after_boot(lab)
        install_site(lab, engine="systemd", fencing=False)
        for args in (("start", "censhare"), ("move", "censhare", "--to", "n3"),
                     ("start", "ora")):
            result = s2s(lab, "n1", *args)
            assert result.ok, f"{args}: {result.stdout}{result.stderr}"
        start_samplers(lab)
        yield lab
    finally:
        for node in NODES:
            if not lab.is_running(node):
                lab.start(node)
        lab.wait_quorum()
        stop_samplers(lab)
        remove_from_cluster(lab)


@pytest.fixture
def site(systemd_site: LabNodes, cluster_lab: LabNodes) -> LabNodes:
    after_boot(cluster_lab)
    return cluster_lab


CENSHARE_APP_DROPIN = "/run/systemd/system/s2s-censhare-app.service.d/50-s2s-pacemaker.conf"


def pids(lab: LabNodes) -> dict[str, str]:
    """The processes of the running groups: they must survive a migration."""
    found = {
        "censhare_db": lab.exec("n3", ["cat", "/run/censhare_db.pid"]).stdout.strip(),
        "censhare_app": lab.exec("n3", ["systemctl", "show", "-P", "MainPID",
                                        "s2s-censhare-app.service"]).stdout.strip(),
        "ora_db": lab.exec("n2", ["systemctl", "show", "-P", "MainPID",
                                  "ora-db.service"]).stdout.strip(),
    }
    assert all(p and p != "0" for p in found.values()), found
    return found


def continuously_up(lab: LabNodes, since: float, until: float) -> None:
    """Every sample of the migration shows each running group on its host, and none on
    another node; a group that was down stayed down everywhere."""
    samples = read_samples(lab, since)
    assert not double_actives(samples)
    for group, host in PLACEMENT.items():
        for node in NODES:
            window = [s for s in samples[node] if since <= s.time <= until]
            assert len(window) > 5, f"too few samples on {node}"
            if node == host:
                gaps = [s.time for s in window if not s.active(group)]
                assert not gaps, f"{group} was down on {host} at {gaps[:3]}"
            else:
                seen = [s.time for s in window if s.active(group)]
                assert not seen, f"{group} was active on {node} at {seen[:3]}"


def cluster_placement(lab: LabNodes) -> dict[str, str | None]:
    report = status(lab)[1]
    return {g["group"]: g["running"] for g in report["groups"]}


def test_migrate_refuses_an_unclean_state_and_dry_run_changes_nothing(site: LabNodes) -> None:
    lab = site
    # web partly up on n1: its VIP, without the rest
    lab.exec("n1", ["ip", "addr", "add", "192.168.77.23/24", "dev", "host0"])
    try:
        result = s2s(lab, "n1", "migrate", "--to", "pacemaker")
        assert result.returncode == 3, result.stdout + result.stderr
        assert "not in a clean state" in result.stderr and "web" in result.stderr
    finally:
        lab.exec("n1", ["ip", "addr", "del", "192.168.77.23/24", "dev", "host0"])
    plan = s2s(lab, "n1", "migrate", "--to", "pacemaker", "--dry-run")
    assert plan.ok, plan.stdout + plan.stderr
    assert "censhare on n3" in plan.stdout and "web on (down)" in plan.stdout
    assert 'engine = "systemd"' in lab.exec("n1", ["cat", "/etc/s2s-sd/s2s.toml"]).stdout
    cib = lab.exec("n1", ["cibadmin", "--query", "--scope", "resources"]).stdout
    assert "censhare" not in cib
    wrong = s2s(lab, "n1", "migrate", "--to", "systemd")
    assert wrong.returncode == 2 and "already" in wrong.stderr, wrong.stderr


def test_migrate_to_pacemaker_and_back_stops_nothing(site: LabNodes) -> None:
    lab = site
    before = pids(lab)
    since = time.time()
    result = s2s(lab, "n1", "migrate", "--to", "pacemaker", timeout=600)
    assert result.ok, result.stdout + result.stderr
    adopted = time.time()
    # the cluster owns the groups, where they were; web stays down
    assert cluster_placement(lab) == PLACEMENT
    code, report = status(lab)
    assert code == 0, report["alarms"]
    assert report["engine"] == "pacemaker" and not report["cluster"]["maintenance_mode"]
    assert next(g for g in report["groups"] if g["group"] == "web")["target_role"] == \
        "Stopped"
    assert pids(lab) == before
    for node in NODES:
        units = lab.exec(node, ["sh", "-c", "ls /etc/systemd/system /run/systemd/system "
                                "/etc/systemd/system/multi-user.target.wants"]).stdout
        assert not re.search(r"s2s-\w+\.target|s2s-guard@", units), (node, units)
        listed = lab.exec(node, ["systemctl", "list-units", "--plain", "--no-legend",
                                 "--state=active", "s2s-*"]).stdout
        active = [line.split()[0] for line in listed.splitlines() if line.strip()]
        assert not [u for u in active if u.endswith(".target") or "guard" in u], active
    time.sleep(1)
    continuously_up(lab, since, adopted)
    # someone's maintenance is not a clean state to hand over in
    assert s2s(lab, "n1", "maintenance", "on").ok
    try:
        refused = s2s(lab, "n1", "migrate", "--to", "systemd", "--dry-run")
        assert refused.returncode == 3 and "maintenance mode" in refused.stderr, \
            refused.stdout + refused.stderr
    finally:
        assert s2s(lab, "n1", "maintenance", "off").ok
    # the cluster really drives them now
    moved = s2s(lab, "n1", "move", "censhare", "--to", "n2")
    assert moved.ok, moved.stdout + moved.stderr
    back = s2s(lab, "n1", "move", "censhare", "--to", "n3")
    assert back.ok, back.stdout + back.stderr
    assert cli_constraints(lab) == []
    # started by ocf:s2s:unit: its runtime drop-in is there
    assert lab.exec("n3", ["test", "-f", CENSHARE_APP_DROPIN], check=False).ok

    before = pids(lab)
    since = time.time()
    result = s2s(lab, "n1", "migrate", "--to", "systemd", timeout=600)
    assert result.ok, result.stdout + result.stderr
    handed_back = time.time()
    assert pids(lab) == before
    report = status(lab)[1]
    assert report.get("engine") != "pacemaker"
    for group, host in PLACEMENT.items():
        entry = next(g for g in report["groups"] if g["group"] == group)
        states = {h: e["state"] for h, e in entry["hosts"].items()}
        if host is None:
            assert set(states.values()) == {"down"}, (group, states)
        else:
            assert entry["assigned"] == host and states[host] == "up", (group, entry)
            assert all(s == "down" for h, s in states.items() if h != host), states
    assert not report["alarms"], report["alarms"]
    cib = lab.exec("n1", ["cibadmin", "--query", "--scope", "resources"]).stdout
    assert "censhare" not in cib and "s2s-sd-managed" not in cib
    maintenance = lab.exec("n1", ["crm_attribute", "--type", "crm_config", "--name",
                                  "maintenance-mode", "--query"], check=False).stdout
    assert "value=true" not in maintenance
    # ocf:s2s:unit's drop-ins (Restart=no, Before=pacemaker.service) went with the cluster
    for node in NODES:
        left = lab.exec(node, ["sh", "-c", "ls /run/systemd/system/*.d/50-s2s-pacemaker.conf"
                               " 2>/dev/null"], check=False).stdout
        assert not left.strip(), (node, left)
    # the systemd engine's boot links are back on the hosts the groups run on
    links = lab.exec("n3", ["ls", "/etc/systemd/system/multi-user.target.wants"]).stdout
    assert "s2s-censhare.target" in links
    time.sleep(1)
    continuously_up(lab, since, handed_back)
    # and the systemd engine moves them again
    moved = s2s(lab, "n1", "move", "ora", "--to", "n3")
    assert moved.ok, moved.stdout + moved.stderr
