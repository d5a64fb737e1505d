"""The fire drill on real hosts: examples/ installed on n1..n3 (base dir on n1, synced),
nothing running. Each test breaks one thing on one node, runs `s2s-sd drill --json` on
n1 and sees exactly that failure, on that host, for that group, and nothing else failing;
then repairs it. The drill itself must change nothing: no group starts anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from tests.lab.drill_support import broken, drill, failures, reason
from tests.lab.runtime_support import NODES, clean_node, install_site, s2s

pytestmark = pytest.mark.lab

# web's exec member runs this program (a link to python3, which s2s-sd itself needs)
WEB_PROGRAM = "/usr/local/bin/s2s-webd"


@pytest.fixture(scope="module")
def site(lab_manager: Any) -> Iterator[LabNodes]:
    lab = lab_manager.get(cluster=False)
    install_site(lab)
    for node in NODES:
        lab.exec(node, ["ln", "-sf", "/usr/bin/python3", WEB_PROGRAM])
    lab.exec("n1", ["sed", "-i", f"s|\"/usr/bin/python3\", \"-m\", \"http.server\", \"8081\"|"
                    f"\"{WEB_PROGRAM}\", \"-m\", \"http.server\", \"8081\"|",
                    "/etc/s2s-sd/groups/web.toml"])
    assert WEB_PROGRAM in lab.exec("n1", ["cat", "/etc/s2s-sd/groups/web.toml"]).stdout
    synced = s2s(lab, "n1", "sync")
    assert synced.ok, synced.stdout + synced.stderr
    yield lab
    for node in NODES:
        lab.exec(node, ["rm", "-f", WEB_PROGRAM], check=False)
        clean_node(lab, node)


@pytest.fixture
def drill_lab(site: LabNodes, lab: LabNodes) -> Iterator[LabNodes]:
    """The site, every node up; afterwards nothing of any group runs anywhere (the drill
    starts nothing; each host's concurrency watcher and agent server run whatever the
    groups do)."""
    yield lab
    for node in NODES:
        active = lab.exec(node, ["sh", "-c", "systemctl list-units --plain --no-legend "
                                 "--state=active,activating 's2s-*' | grep -v -e sampler "
                                 "-e '^s2s-watch' -e '^s2s-agent\\.service'; "
                                 "findmnt -rn -o TARGET | grep '^/disk/'; "
                                 "ip -o addr show | grep -o '192\\.168\\.77\\.2[0-9]/'"],
                          check=False).stdout.strip()
        assert active == "", f"{node} runs something after the drill: {active}"


def test_the_examples_pass_on_three_nodes_asked_in_parallel(drill_lab: LabNodes) -> None:
    code, report = drill(drill_lab)
    assert (code, failures(report)) == (0, set()), report
    assert report["schema_version"] == 1
    assert report["hosts"] == ["n1", "n2", "n3"]
    assert report["cells"]["n2"]["web"] == "-"  # web may not run on n2
    # every host answered every check kind of every group allowed there
    checks = {(f["host"], f["group"], f["check"]) for f in report["findings"]}
    for check in ("host.generation", "host.installed", "host.version", "host.clock",
                  "mount.device", "mount.fstab", "ip.interface", "ip.answered",
                  "script.file", "systemd.unit", "hooks.pre_move"):
        assert ("n3", "ora", check) in checks, check
    assert ("n3", "web", "exec.program") in checks and ("n1", "web", "exec.user") in checks
    # hosts asked in parallel: the whole drill, VIP probes included, well under 5 s
    assert report["seconds"] < 5.0, report["seconds"]
    print(f"drill of examples/ on 3 nodes: {report['seconds']:.2f} s")
    # status shows how long ago each group was drilled, and with which result
    shown = s2s(drill_lab, "n1", "status").stdout
    assert re.search(r"last drill: censhare OK \d+ s ago, ora OK \d+ s ago, web OK \d+ s ago",
                     shown), shown


def test_a_missing_program(drill_lab: LabNodes) -> None:
    with broken(drill_lab, "n3", f"rm {WEB_PROGRAM}",
                f"ln -sf /usr/bin/python3 {WEB_PROGRAM}"):
        code, report = drill(drill_lab, "web")
    assert code == 1
    assert failures(report) == {("n3", "web", "httpd", "exec.program")}
    assert WEB_PROGRAM in reason(report, "n3", "exec.program")


def test_an_unparsable_twin_edited_on_its_host(drill_lab: LabNodes) -> None:
    # `check` on the admin host refuses to sync a broken twin, so it can only come from a
    # hand edit there: the drill names the script and the edit
    twin = "/etc/s2s-sd/init.d/ora_listener.n2"
    with broken(drill_lab, "n2", f"printf '#!/bin/bash\\nif then\\n' > {twin} && chmod 755 {twin}",
                f"rm -f {twin}"):
        code, report = drill(drill_lab, "ora")
    assert code == 1
    assert failures(report) == {("n2", "ora", "listener", "script.file"),
                                ("n2", "ora", None, "host.generation")}
    assert reason(report, "n2", "script.file").startswith("init.d/ora_listener.n2: bash -n")
    assert "changed by hand" in reason(report, "n2", "host.generation")
    code, report = drill(drill_lab, "ora")
    assert (code, failures(report)) == (0, set())


def test_no_interface_for_the_vip(drill_lab: LabNodes) -> None:
    # n2 loses the connected route that would choose host0 for the VIPs; host routes keep
    # it reachable for the admin's ssh
    peers = "192.168.77.11 192.168.77.13 192.168.77.100"
    with broken(drill_lab, "n2", "ip route del 192.168.77.0/24 dev host0 && "
                f"for a in {peers}; do ip route add $a/32 dev host0; done",
                "ip route replace 192.168.77.0/24 dev host0 proto kernel "
                f"scope link src 192.168.77.12; for a in {peers}; do ip route del $a/32; done"):
        code, report = drill(drill_lab, "censhare")
    assert code == 1
    assert failures(report) == {("n2", "censhare", "vip", "ip.interface")}
    assert "no interface has a connected route" in reason(report, "n2", "ip.interface")


def test_the_vip_on_another_node(drill_lab: LabNodes) -> None:
    with broken(drill_lab, "n3", "ip addr add 192.168.77.21/24 dev host0",
                "ip addr del 192.168.77.21/24 dev host0"):
        code, report = drill(drill_lab, "censhare")
    assert code == 1
    # n3 holds it without running the group; n1 and n2 hear n3 answer for it
    assert failures(report) == {(h, "censhare", "vip", "ip.answered") for h in NODES}
    assert "not run here" in reason(report, "n3", "ip.answered")
    for host in ("n1", "n2"):
        assert "answered by n3 (which does not run censhare)" in reason(report, host,
                                                                         "ip.answered")


def test_the_vip_answered_by_the_host_running_the_group(drill_lab: LabNodes) -> None:
    lab = drill_lab
    started = s2s(lab, "n1", "start", "censhare")
    assert started.ok, started.stdout + started.stderr
    try:
        code, report = drill(lab, "censhare")
    finally:
        stopped = s2s(lab, "n1", "stop", "censhare")
    assert stopped.ok, stopped.stdout + stopped.stderr
    assert (code, failures(report)) == (0, set()), failures(report)
    answered = {f["host"]: f["reason"] for f in report["findings"]
                if f["check"] == "ip.answered"}
    assert "up here: the group runs here" in answered["n1"]
    assert "answered by n1, which runs the group now" in answered["n2"]
    assert "answered by n1, which runs the group now" in answered["n3"]


def test_an_fstab_entry_for_a_mount_members_device(drill_lab: LabNodes) -> None:
    # by the file system's label (blkid on n3 knows it): not the path the group uses
    with broken(drill_lab, "n3", "cp /etc/fstab /etc/fstab.drill-test; "
                "echo 'LABEL=ora_redo /srv/redo ext4 defaults 0 2' >> /etc/fstab",
                "mv /etc/fstab.drill-test /etc/fstab"):
        code, report = drill(drill_lab, "ora")
    assert code == 1
    assert failures(report) == {("n3", "ora", "redo", "mount.fstab")}
    assert "LABEL=ora_redo on /srv/redo" in reason(report, "n3", "mount.fstab")


def test_an_uninstalled_systemd_unit(drill_lab: LabNodes) -> None:
    with broken(drill_lab, "n3", "mv /etc/systemd/system/ora-db.service /root/ora-db.service.moved "
                "&& systemctl daemon-reload",
                "mv /root/ora-db.service.moved /etc/systemd/system/ora-db.service "
                "&& systemctl daemon-reload"):
        code, report = drill(drill_lab, "ora")
    assert code == 1
    assert failures(report) == {("n3", "ora", "db", "systemd.unit")}
    assert "ora-db.service: not installed here" in reason(report, "n3", "systemd.unit")


def test_a_desynchronised_generation(drill_lab: LabNodes) -> None:
    state = "/var/lib/s2s-sd/c07/generation.json"
    with broken(drill_lab, "n2", f"cp {state} /root/generation.json.drill-test && "
                f"sed -i 's/\"generation\": [0-9]*/\"generation\": 999/' {state}",
                f"mv /root/generation.json.drill-test {state}"):
        code, report = drill(drill_lab, "ora")
    assert code == 1
    assert failures(report) == {("n2", "ora", None, "host.generation")}
    assert "has generation 999" in reason(report, "n2", "host.generation")


def test_move_dry_run_shows_the_targets_drill(drill_lab: LabNodes) -> None:
    result = s2s(drill_lab, "n1", "move", "ora", "--to", "n3", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "plan (nothing changed)" in result.stdout
    assert "HOST  ora" in result.stdout and "n3    OK" in result.stdout
    with broken(drill_lab, "n3", "cp /etc/fstab /etc/fstab.drill-test; "
                "echo '/dev/mapper/ora_data /disk/ora/00 ext4 defaults 0 2' >> /etc/fstab",
                "mv /etc/fstab.drill-test /etc/fstab"):
        result = s2s(drill_lab, "n1", "move", "ora", "--to", "n3", "--dry-run")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "plan (nothing changed)" in result.stdout
    assert "n3    FAIL" in result.stdout and "mount.fstab" in result.stdout

