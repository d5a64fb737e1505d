"""The lab itself: nodes boot a real systemd, reach each other, run this tree's s2s-sd."""

from __future__ import annotations

import pytest

from lab import Lab
from lab.backend import LabNodes

pytestmark = pytest.mark.lab


def test_every_node_boots_to_a_running_systemd(lab: LabNodes) -> None:
    for node in lab.nodes:
        state = lab.system_state(node)
        assert state == "running", f"{node} is {state}; failed units: {lab.failed_units(node)}"
        assert lab.exec(node, ["cat", "/proc/1/comm"]).stdout.strip() == "systemd"


def test_nodes_have_their_own_hostname_machine_id_and_address(lab: LabNodes) -> None:
    machine_ids = set()
    for node in lab.nodes:
        assert lab.exec(node, ["hostname"]).stdout.strip() == node
        machine_ids.add(lab.exec(node, ["cat", "/etc/machine-id"]).stdout.strip())
        addresses = lab.exec(node, ["ip", "-4", "-o", "addr", "show"]).stdout
        assert f" {lab.address(node)}/24 " in addresses
    assert len(machine_ids) == len(lab.nodes), "machine-ids must differ between nodes"


@pytest.mark.parametrize("target", ["n2", "n3"])
def test_ssh_from_n1_with_batch_mode_and_known_host_keys(lab: LabNodes, target: str) -> None:
    # BatchMode: no password and no host-key prompt; a missing key or known_hosts entry
    # fails here instead of hanging.
    assert lab.ssh("n1", target, ["hostname"]).stdout.strip() == target
    by_address = lab.ssh("n1", lab.address(target), ["hostname"])
    assert by_address.stdout.strip() == target


def test_working_tree_s2s_sd_runs_in_the_nodes(lab: LabNodes) -> None:
    for node in lab.nodes:
        imports = lab.exec(node, ["/usr/local/bin/s2s-sd", "--version"], check=False)
        assert imports.returncode == 0, f"s2s-sd on {node}: {imports.stderr}"
        modules = lab.exec(node, ["sh", "-c",
                                  "$(dirname $(readlink /usr/local/bin/s2s-sd))/python "
                                  "-c 'import pystemd.systemd1, pyroute2, s2s_sd'"],
                           check=False)
        assert modules.returncode == 0, f"imports on {node}: {modules.stderr}"


def test_s2s_sd_help_runs_in_a_node(lab: LabNodes) -> None:
    result = lab.exec("n1", ["s2s-sd", "--help"], check=False)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_client_namespace_reaches_every_node(lab: LabNodes) -> None:
    for node in lab.nodes:
        lab.client(["ping", "-c", "1", "-W", "2", node])


def test_shared_disk_is_the_same_block_device_on_every_node(
    nspawn_lab: Lab, shared_disk: str
) -> None:
    path = shared_disk
    lab = nspawn_lab
    lab.exec("n1", ["mkdir", "-p", "/mnt/shared"])
    lab.exec("n1", ["mount", path, "/mnt/shared"])
    try:
        lab.exec("n1", ["sh", "-c", "echo written-on-n1 > /mnt/shared/proof"])
    finally:
        lab.exec("n1", ["umount", "/mnt/shared"])
    lab.exec("n2", ["mkdir", "-p", "/mnt/shared"])
    lab.exec("n2", ["mount", "-o", "ro", path, "/mnt/shared"])
    try:
        assert lab.exec("n2", ["cat", "/mnt/shared/proof"]).stdout == "written-on-n1\n"
    finally:
        lab.exec("n2", ["umount", "/mnt/shared"])


def test_busy_mount_refuses_umount_like_a_real_host(nspawn_lab: Lab, shared_disk: str) -> None:
    path = shared_disk
    lab = nspawn_lab
    lab.exec("n3", ["mkdir", "-p", "/mnt/busy"])
    lab.exec("n3", ["mount", path, "/mnt/busy"])
    try:
        lab.exec("n3", ["systemd-run", "--unit=lab-holder", "--working-directory=/mnt/busy",
                        "sleep", "600"])
        busy = lab.exec("n3", ["umount", "/mnt/busy"], check=False)
        assert busy.returncode == 32 and "busy" in busy.stderr
        holders = lab.exec("n3", ["fuser", "-m", "/mnt/busy"], check=False)
        assert holders.stdout.split(), "fuser must name the holder"
    finally:
        lab.exec("n3", ["systemctl", "stop", "lab-holder.service"], check=False)
        lab.exec("n3", ["umount", "/mnt/busy"], check=False)


# Run in a node: which of the modules a move loads there would be compiled at every start
# (byte code missing, or recorded for another version of the source)?
_STALE_BYTE_CODE = """
import os, struct, sys
import s2s_sd.agent.dispatch, s2s_sd.checks, s2s_sd.cli.runtime, s2s_sd.engines.choose
stale = []
for name, module in sorted(sys.modules.items()):
    if not name.startswith("s2s_sd") or not getattr(module, "__cached__", None):
        continue
    source = os.stat(module.__file__)
    try:
        with open(module.__cached__, "rb") as handle:
            header = handle.read(16)
    except FileNotFoundError:
        stale.append(name + ": no byte code")
        continue
    mtime, size = struct.unpack("<II", header[8:16])
    if (mtime, size) != (int(source.st_mtime) & 0xFFFFFFFF, source.st_size & 0xFFFFFFFF):
        stale.append(name + ": byte code of another source")
print("\\n".join(stale))
"""


def test_the_nodes_run_byte_code_compiled_for_the_trees_sources(lab: LabNodes) -> None:
    # the tree is mounted read-only: what `lab up` did not compile on the host is
    # compiled anew by every s2s-sd process in the nodes (0.06 s of every move's start)
    python = lab.exec("n1", ["readlink", "-f", "/usr/local/bin/s2s-sd"]).stdout.strip()
    result = lab.exec("n1", [python.rsplit("/", 1)[0] + "/python", "-c", _STALE_BYTE_CODE])
    assert result.stdout.strip() == ""
