"""ocf:s2s:unit on real systemd (PID 1 of the lab nodes) and in a real cluster.

The agent alone, on n3 (outside the cluster's resources): ocf-tester, the runtime drop-in
and what it does (a unit with Restart=always is not restarted by systemd), the state
mapping (failed, activating, not loaded), a unit that dies right after its start.

In the cluster: a group `unitlab` on n1 (then n2) with a packaged-style unit that says
Restart=always (a `systemd` member) and an exec member that dies right after its start on
a host with a marker file. Pacemaker, not systemd, recovers a killed member; a start that
dies sends the group to its next host; Pacemaker stops before the running members at
shutdown (the drop-in's Before=pacemaker.service).
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from s2s_sd.run import Result
from tests.lab.pacemaker_support import remove_from_cluster
from tests.lab.runtime_support import NODES, REPO, s2s

pytestmark = pytest.mark.lab

AGENT = REPO / "s2s_sd" / "ocf" / "unit"
DROPIN = "50-s2s-pacemaker.conf"
OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_NOT_RUNNING = 0, 1, 5, 7
RECURRING = {"interval": "30000"}

LAB_UNITS = {
    # a packaged unit that would restart itself: under the cluster it must not
    "unitlab-ok.service": "[Service]\nType=exec\nExecStart=/bin/sleep infinity\n"
                          "Restart=always\nRestartSec=100ms\n",
    # dies 0.1 s after its exec: after `systemctl start` returned, before the settle check
    "unitlab-dies.service": "[Service]\nType=exec\nExecStart=/bin/sh -c 'sleep 0.1; exit 3'\n",
    "unitlab-slow.service": "[Service]\nType=exec\nExecStartPre=/bin/sleep 3\n"
                            "ExecStart=/bin/sleep infinity\n",
}
NODE = "n3"


def agent(lab: LabNodes, action: str, unit: str, node: str = NODE,
          **meta: str) -> Result:
    env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
           "OCF_RESOURCE_INSTANCE=unitlab", f"OCF_RESKEY_unit={unit}",
           *[f"OCF_RESKEY_CRM_meta_{name}={value}" for name, value in meta.items()]]
    return lab.exec(node, [*env, str(AGENT), action], check=False, timeout=120)


def prop(lab: LabNodes, node: str, unit: str, name: str) -> str:
    return lab.exec(node, ["systemctl", "show", "--value", f"--property={name}", unit]
                    ).stdout.strip()


def install_units(lab: LabNodes, units: dict[str, str], nodes: tuple[str, ...]) -> None:
    for node in nodes:
        for name, text in units.items():
            lab.exec(node, ["sh", "-c", f"cat > /etc/systemd/system/{name}"], input=text)
        lab.exec(node, ["systemctl", "daemon-reload"])


def remove_units(lab: LabNodes, units: list[str], nodes: tuple[str, ...]) -> None:
    for node in nodes:
        if not lab.is_running(node):
            continue
        lab.exec(node, ["systemctl", "stop", *units], check=False)
        lab.exec(node, ["systemctl", "reset-failed", *units], check=False)
        paths = [f"/etc/systemd/system/{u}" for u in units]
        paths += [f"/run/systemd/system/{u}.d" for u in units]
        lab.exec(node, ["rm", "-rf", *paths])
        lab.exec(node, ["systemctl", "daemon-reload"])


@pytest.fixture
def units(cluster_lab: LabNodes) -> Iterator[LabNodes]:
    install_units(cluster_lab, LAB_UNITS, (NODE,))
    try:
        yield cluster_lab
    finally:
        remove_units(cluster_lab, list(LAB_UNITS), (NODE,))


# -- the agent on real units -------------------------------------------------------------

def test_ocf_tester_passes_on_a_real_unit(units: LabNodes) -> None:
    result = units.exec(NODE, ["ocf-tester", "-n", "unitlab", "-o", "unit=unitlab-ok.service",
                               str(AGENT)], check=False, timeout=300)
    output = result.stdout + result.stderr
    assert result.ok and "passed all tests" in output, output
    assert prop(units, NODE, "unitlab-ok.service", "ActiveState") == "inactive"


def test_start_writes_the_dropin_and_systemd_never_restarts_the_unit(units: LabNodes) -> None:
    lab, unit = units, "unitlab-ok.service"
    assert agent(lab, "start", unit).returncode == OCF_SUCCESS
    dropin = lab.exec(NODE, ["cat", f"/run/systemd/system/{unit}.d/{DROPIN}"]).stdout
    assert "Before=pacemaker.service pacemaker_remote.service" in dropin
    assert "Restart=no" in dropin
    assert prop(lab, NODE, unit, "Restart") == "no"  # the unit file says always
    assert unit in prop(lab, NODE, "pacemaker.service", "After").split()
    pid = prop(lab, NODE, unit, "MainPID")
    lab.exec(NODE, ["kill", "-9", pid])
    time.sleep(1.0)  # ten times its RestartSec
    assert prop(lab, NODE, unit, "ActiveState") == "failed"
    assert agent(lab, "monitor", unit, **RECURRING).returncode == OCF_ERR_GENERIC
    assert agent(lab, "monitor", unit).returncode == OCF_NOT_RUNNING  # a probe
    assert agent(lab, "stop", unit).returncode == OCF_SUCCESS  # of a failed unit
    assert agent(lab, "start", unit).returncode == OCF_SUCCESS
    assert prop(lab, NODE, unit, "MainPID") != pid
    assert agent(lab, "monitor", unit, **RECURRING).returncode == OCF_SUCCESS
    assert agent(lab, "stop", unit).returncode == OCF_SUCCESS
    assert agent(lab, "stop", unit).returncode == OCF_SUCCESS
    assert agent(lab, "monitor", unit).returncode == OCF_NOT_RUNNING
    # kept after the stop (documented): it changes nothing on a stopped unit
    assert lab.exec(NODE, ["test", "-f", f"/run/systemd/system/{unit}.d/{DROPIN}"],
                    check=False).ok


def test_a_unit_that_dies_right_after_its_start_fails_the_start(units: LabNodes) -> None:
    lab, unit = units, "unitlab-dies.service"
    result = agent(lab, "start", unit)
    assert result.returncode == OCF_ERR_GENERIC, result.stderr
    # the settle check names it; on a loaded machine systemd may see the death before the
    # start job completes, and then systemctl start itself fails: the same outcome
    assert ("right after its start" in result.stderr
            or "systemctl start failed" in result.stderr), result.stderr
    assert agent(lab, "monitor", unit).returncode == OCF_NOT_RUNNING
    assert agent(lab, "monitor", unit, **RECURRING).returncode == OCF_ERR_GENERIC
    assert agent(lab, "stop", unit).returncode == OCF_SUCCESS


def test_activating_is_waited_for_within_the_timeout(units: LabNodes) -> None:
    lab, unit = units, "unitlab-slow.service"
    lab.exec(NODE, ["systemctl", "start", "--no-block", unit])
    # a probe with 1 s to spare finds it still activating: not "not running"
    short = agent(lab, "monitor", unit, timeout="6000")
    assert short.returncode == OCF_ERR_GENERIC, short.stderr
    assert "activating" in short.stderr
    started = time.monotonic()
    assert agent(lab, "monitor", unit, timeout="20000", **RECURRING).returncode == OCF_SUCCESS
    assert time.monotonic() - started < 5
    assert agent(lab, "stop", unit).returncode == OCF_SUCCESS
    assert agent(lab, "monitor", unit).returncode == OCF_NOT_RUNNING


def test_a_unit_not_loaded_here(units: LabNodes) -> None:
    lab, unit = units, "unitlab-nowhere.service"
    assert agent(lab, "monitor", unit).returncode == OCF_NOT_RUNNING
    assert agent(lab, "monitor", unit, **RECURRING).returncode == OCF_NOT_RUNNING
    assert agent(lab, "stop", unit).returncode == OCF_SUCCESS
    assert agent(lab, "start", unit).returncode == OCF_ERR_INSTALLED
    assert agent(lab, "validate-all", unit).returncode == OCF_ERR_INSTALLED
    assert agent(lab, "validate-all", "unitlab-ok").returncode == OCF_SUCCESS  # .service


# -- in the cluster ----------------------------------------------------------------------

BASEDIR = "/etc/s2s-unitlab"
GROUP = "unitlab"
MARKER = "/run/unitlab-broken"  # member b dies right after its start where this exists
PKG_UNIT = "unitlab-pkg.service"
B_UNIT = "s2s-unitlab-b.service"
DEFINITIONS = f"""[hostgroup]
name = "unitlab"
engine = "pacemaker"
hosts = ["n1", "n2", "n3"]

[hosts.n1]
address = "192.168.77.11"
[hosts.n2]
address = "192.168.77.12"
[hosts.n3]
address = "192.168.77.13"

[fencing]
enabled = false

[groups.{GROUP}]
hosts = ["n1", "n2"]

[[groups.{GROUP}.services]]
name = "pkg"
type = "systemd"
unit = "{PKG_UNIT}"
monitor_interval = 2

[[groups.{GROUP}.services]]
name = "b"
type = "exec"
command = ["/bin/sh", "-c", "test -e {MARKER} && exit 1; exec sleep infinity"]
monitor_interval = 2
"""


def where(lab: LabNodes) -> dict[str, str]:
    """member -> node it is started on (crm_mon)."""
    text = lab.exec("n1", ["crm_mon", "-1", "--output-as=xml"]).stdout
    found: dict[str, str] = {}
    for resource in ET.fromstring(text).iter("resource"):
        node = resource.find("node")
        if resource.get("id", "").startswith(f"{GROUP}_") and node is not None \
                and resource.get("role") == "Started":
            found[resource.get("id", "")] = node.get("name", "")
    return found


def failures(lab: LabNodes) -> list[tuple[str, str]]:
    """(operation key, node) of every failed action crm_mon lists."""
    text = lab.exec("n1", ["crm_mon", "-1", "--output-as=xml", "--include=failures"]).stdout
    return [(f.get("op_key", ""), f.get("node", "")) for f in ET.fromstring(text).iter("failure")]


def wait_group_on(lab: LabNodes, node: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    now: dict[str, str] = {}
    while time.monotonic() < deadline:
        now = where(lab)
        if len(now) == 2 and set(now.values()) == {node}:
            return
        time.sleep(0.3)
    raise AssertionError(f"{GROUP} not fully on {node} within {timeout} s: {now}")


@pytest.fixture(scope="module")
def unit_site(lab_manager: Any) -> Iterator[LabNodes]:
    lab: LabNodes = lab_manager.get(cluster=True)
    install_units(lab, {PKG_UNIT: LAB_UNITS["unitlab-ok.service"]}, NODES)
    try:
        lab.exec("n1", ["sh", "-c", f"mkdir -p {BASEDIR} && cat > {BASEDIR}/s2s.toml"],
                 input=DEFINITIONS)
        for args in (("sync",), ("apply", "pacemaker")):
            result = s2s(lab, "n1", *args, "--basedir", BASEDIR, timeout=600)
            assert result.ok, f"{args}: {result.stdout}{result.stderr}"
        wait_group_on(lab, "n1")
        yield lab
    finally:
        for node in NODES:
            if lab.is_running(node):
                lab.exec(node, ["rm", "-rf", MARKER, BASEDIR], check=False)
        remove_from_cluster(lab, groups=(GROUP,))
        remove_units(lab, [PKG_UNIT, B_UNIT], NODES)


@pytest.fixture
def unit_cluster(unit_site: LabNodes, cluster_lab: LabNodes) -> LabNodes:
    return cluster_lab


def test_running_members_carry_the_dropin_and_stop_after_pacemaker(
        unit_cluster: LabNodes) -> None:
    lab = unit_cluster
    wait_group_on(lab, "n1", timeout=10)
    stops_first = prop(lab, "n1", "pacemaker.service", "After").split()
    for unit in (PKG_UNIT, B_UNIT):
        assert prop(lab, "n1", unit, "ActiveState") == "active"
        assert lab.exec("n1", ["test", "-f", f"/run/systemd/system/{unit}.d/{DROPIN}"],
                        check=False).ok
        assert prop(lab, "n1", unit, "Restart") == "no"
        # Before=pacemaker.service: at shutdown systemd stops Pacemaker (which stops
        # the group) before it would stop the unit itself
        assert unit in stops_first, stops_first
        assert prop(lab, "n2", unit, "ActiveState") != "active"


def test_a_killed_member_is_recovered_by_pacemaker_not_by_systemd(
        unit_cluster: LabNodes) -> None:
    lab = unit_cluster
    wait_group_on(lab, "n1", timeout=10)
    since = lab.exec("n1", ["date", "+%Y-%m-%d %H:%M:%S"]).stdout.strip()
    pid = prop(lab, "n1", PKG_UNIT, "MainPID")
    lab.exec("n1", ["kill", "-9", pid])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if prop(lab, "n1", PKG_UNIT, "MainPID") not in ("0", pid):
            break
        time.sleep(0.2)
    wait_group_on(lab, "n1", timeout=30)
    assert prop(lab, "n1", PKG_UNIT, "MainPID") != pid
    # the unit says Restart=always, RestartSec=100ms: systemd scheduled no restart, the
    # cluster's monitor saw the failure and recovered the member in place
    journal = lab.exec("n1", ["journalctl", "--no-pager", "-u", PKG_UNIT, "--since", since]
                       ).stdout
    assert "Scheduled restart job" not in journal, journal
    assert (f"{GROUP}_pkg_monitor_2000", "n1") in failures(lab)
    lab.exec("n1", ["crm_resource", "--cleanup", "-r", GROUP])


def test_a_member_dying_right_after_its_start_sends_the_group_to_the_next_host(
        unit_cluster: LabNodes) -> None:
    lab = unit_cluster
    wait_group_on(lab, "n1", timeout=30)
    lab.exec("n1", ["touch", MARKER])
    # b dies; Pacemaker recovers it, its start on n1 dies right away: the group moves
    lab.exec("n1", ["kill", "-9", prop(lab, "n1", B_UNIT, "MainPID")])
    wait_group_on(lab, "n2", timeout=60)
    assert (f"{GROUP}_b_start_0", "n1") in failures(lab)
    for unit in (PKG_UNIT, B_UNIT):
        assert prop(lab, "n1", unit, "ActiveState") != "active"
        assert prop(lab, "n2", unit, "ActiveState") == "active"
    lab.exec("n1", ["rm", "-f", MARKER])
    lab.exec("n1", ["crm_resource", "--cleanup", "-r", GROUP])
    time.sleep(2)
    wait_group_on(lab, "n2", timeout=30)  # stickiness: it stays where it runs now
