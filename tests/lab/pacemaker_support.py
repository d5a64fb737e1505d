"""Helpers of the Pacemaker-engine lab tests: the examples as a cluster site (base dir
/etc/s2s-sd on n1, engine = "pacemaker", synced), real fencing through the lab host
(tests/lab/fencing.py), reading `s2s-sd status --json`, and taking s2s-sd's part out of
the cluster again so the other cluster tests find it as they expect."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from typing import Any

from lab.backend import LabNodes
from tests.lab.fencing import FENCE_PORT
from tests.lab.runtime_support import (
    BASEDIR,
    EXAMPLES,
    NODES,
    SAMPLER_SCRIPT,
    SAMPLER_UNIT,
    VIPS,
    clean_node,
    s2s,
)

GROUPS = ("censhare", "ora", "web")
HOSTS = {"censhare": ["n1", "n2", "n3"], "ora": ["n2", "n3", "n1"], "web": ["n3", "n1"]}
LAB_FENCING = f"""[fencing]
enabled = true

  [[fencing.devices]]
  name   = "lab_fence"
  agent  = "fence_s2slab"
  hosts  = ["n1", "n2", "n3"]
  params = {{ ipaddr = "192.168.77.100", ipport = "{FENCE_PORT}", pcmk_reboot_action = "off" }}
"""


def site_toml(engine: str, fencing: bool) -> str:
    """examples/s2s.toml with the engine switched and, for the cluster tests, the lab's
    fence device instead of `enabled = false`."""
    text = (EXAMPLES / "s2s.toml").read_text()
    text = re.sub(r'^engine = "\w+"', f'engine = "{engine}"', text, count=1, flags=re.M)
    if fencing:
        text = re.sub(r"^\[fencing\]\nenabled = false\n", LAB_FENCING, text, count=1,
                      flags=re.M)
        assert "lab_fence" in text, "examples/s2s.toml changed: adapt LAB_FENCING"
    return text


def real_device_nodes(lab: LabNodes) -> None:
    """Make the shared disks real device nodes in every running node.

    The lab binds the host's loop device onto /dev/mapper/NAME, so that path is itself a
    mount point. ocf:heartbeat:Filesystem's stop unmounts every "bind mount" of the
    device it finds, and takes that one for one: the disk would vanish from the node.
    On real hosts /dev/mapper/NAME is a device node; here too after this (idempotent;
    again after a node boots)."""
    devices = getattr(lab, "disk_devices", {})
    for path, host_device in devices.items():
        rdev = os.stat(host_device).st_rdev
        major, minor = os.major(rdev), os.minor(rdev)
        script = (f"if mountpoint -q {path}; then umount {path}; fi; "
                  f"if [ ! -b {path} ]; then rm -f {path} && "
                  f"mknod -m 600 {path} b {major} {minor}; fi")
        for node in NODES:
            if lab.is_running(node):
                lab.exec(node, ["sh", "-c", script])


def ensure_samplers(lab: LabNodes) -> None:
    """The sampler running on every node again after a reboot (its log is kept)."""
    for node in NODES:
        if lab.is_running(node) and not lab.exec(
                node, ["systemctl", "is-active", "--quiet", SAMPLER_UNIT], check=False).ok:
            lab.exec(node, ["systemctl", "reset-failed", SAMPLER_UNIT], check=False)
            lab.exec(node, ["systemd-run", f"--unit={SAMPLER_UNIT}", "/bin/sh", "-c",
                            SAMPLER_SCRIPT])


def after_boot(lab: LabNodes) -> None:
    """What a node that booted again needs for these tests: real device nodes for the
    shared disks, and its sampler."""
    real_device_nodes(lab)
    ensure_samplers(lab)


def install_site(lab: LabNodes, engine: str = "pacemaker", fencing: bool = True) -> None:
    for node in NODES:
        clean_node(lab, node)
        lab.exec(node, ["sh", "-c", "rm -rf /run/s2s-sd/hooks /var/log/s2s-sd"], check=False)
        lab.exec(node, ["cp", str(EXAMPLES / "systemd" / "ora-db.service"),
                        "/etc/systemd/system/ora-db.service"])
        lab.exec(node, ["systemctl", "daemon-reload"])
    lab.exec("n1", ["sh", "-c", f"mkdir -p {BASEDIR} && cp -a {EXAMPLES}/. {BASEDIR}/ && "
                    f"rm -rf {BASEDIR}/systemd"])
    lab.exec("n1", ["sh", "-c", f"cat > {BASEDIR}/s2s.toml"],
             input=site_toml(engine, fencing))
    result = s2s(lab, "n1", "sync")
    assert result.ok, f"sync: {result.stdout}{result.stderr}"


def status(lab: LabNodes, node: str = "n1") -> tuple[int, dict[str, Any]]:
    result = s2s(lab, node, "status", "--json")
    assert result.stdout.strip().startswith("{"), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def group_status(lab: LabNodes, group: str, node: str = "n1") -> dict[str, Any]:
    report = status(lab, node)[1]
    return dict(next(g for g in report["groups"] if g["group"] == group))


def wait_running(lab: LabNodes, group: str, host: str, timeout: float = 90,
                 node: str = "n1") -> dict[str, Any]:
    """Until `group` runs on `host` only (asked on `node`)."""
    deadline = time.monotonic() + timeout
    entry: dict[str, Any] = {}
    while time.monotonic() < deadline:
        entry = group_status(lab, group, node)
        states = {h: e["state"] for h, e in entry["hosts"].items()}
        if entry["running"] == host and all(s in ("down", "offline") for h, s in
                                            states.items() if h != host):
            return entry
        time.sleep(0.5)
    raise AssertionError(f"{group} does not run on {host} only within {timeout} s: {entry}")


def cli_constraints(lab: LabNodes) -> list[str]:
    text = lab.exec("n1", ["cibadmin", "--query", "--scope", "constraints"]).stdout
    return re.findall(r'<rsc_location id="(cli-[^"]+)"', text)


def vip_answered_by(lab: LabNodes, group: str, host: str) -> None:
    vip = VIPS[group]
    lab.client(["ip", "neigh", "flush", "to", vip], check=False)
    ping = lab.client(["ping", "-c", "1", "-W", "2", vip], check=False)
    assert ping.ok, f"client cannot reach {vip}: {ping.stdout}"
    neigh = lab.client(["ip", "neigh", "show", vip]).stdout
    mac = lab.exec(host, ["cat", "/sys/class/net/host0/address"]).stdout.strip()
    assert mac in neigh, f"{vip} answered by {neigh!r}, not {host} ({mac})"


def hooks_log(lab: LabNodes, node: str) -> str:
    return lab.exec(node, ["cat", "/var/log/s2s-sd/hooks.log"], check=False).stdout


def remove_from_cluster(lab: LabNodes, groups: Sequence[str] = GROUPS) -> None:
    """s2s-sd's resources and constraints out of the CIB, fencing back to the lab's
    `stonith-enabled=false`, maintenance mode off: the cluster as the lab made it."""
    node = next(n for n in NODES if lab.is_running(n))
    lab.exec(node, ["crm_attribute", "--type", "crm_config", "--name", "maintenance-mode",
                    "--delete"], check=False)
    for group in groups:
        lab.exec(node, ["crm_resource", "--resource", group, "--meta", "--set-parameter",
                        "target-role", "--parameter-value", "Stopped"], check=False)
    lab.exec(node, ["crm_resource", "--wait", "--timeout=120s"], check=False, timeout=180)
    constraints = lab.exec(node, ["cibadmin", "--query", "--scope", "constraints"],
                           check=False).stdout
    for cid in re.findall(r'<rsc_location id="((?:s2s-sd-|cli-)[^"]+)"', constraints):
        lab.exec(node, ["cibadmin", "--delete", "--scope", "constraints", "--xml-text",
                        f'<rsc_location id="{cid}"/>'], check=False)
    for group in groups:
        lab.exec(node, ["cibadmin", "--delete", "--scope", "resources", "--xml-text",
                        f'<group id="{group}"/>'], check=False)
    lab.exec(node, ["cibadmin", "--delete", "--scope", "resources", "--xml-text",
                    '<primitive id="lab_fence"/>'], check=False)
    lab.exec(node, ["crm_attribute", "--type", "crm_config", "--name", "stonith-enabled",
                    "--update", "false"], check=False)
    lab.exec(node, ["crm_resource", "--cleanup"], check=False, timeout=120)
    lab.exec(node, ["crm_resource", "--wait", "--timeout=120s"], check=False, timeout=180)
    for each in NODES:
        if lab.is_running(each):
            clean_node(lab, each)
            lab.exec(each, ["sh", "-c", "rm -rf /run/s2s-sd/hooks"], check=False)
