"""vagrant/: what can be checked without KVM (the VMs themselves cannot run here)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lab import VagrantLab
from lab.backend import LabNodes
from lab.nodefiles import corosync_conf
from lab.topology import NODE_NAMES, node_address
from s2s_sd.run import run

pytestmark = pytest.mark.lab

VAGRANT = Path(__file__).resolve().parents[2] / "vagrant"


def test_vagrantfile_parses() -> None:
    result = run(["ruby", "-c", str(VAGRANT / "Vagrantfile")], check=False)
    assert result.returncode == 0 and "Syntax OK" in result.stdout, result.stderr


def test_vagrantfile_uses_the_lab_addresses() -> None:
    text = (VAGRANT / "Vagrantfile").read_text()
    for node in NODE_NAMES:
        assert f'"{node}" => "{node_address(node)}"' in text


def test_provisioning_script_is_valid_shell() -> None:
    script = str(VAGRANT / "provision.sh")
    assert run(["bash", "-n", script], check=False).ok
    if shutil.which("shellcheck"):
        result = run(["shellcheck", script], check=False)
        assert result.ok, result.stdout


def test_vms_get_the_same_corosync_config_as_nspawn_nodes() -> None:
    assert (VAGRANT / "corosync.conf").read_text() == corosync_conf(NODE_NAMES)


def test_vms_get_the_lab_only_cib_settings() -> None:
    cib = (VAGRANT / "cib.xml").read_text()
    assert 'name="stonith-enabled" value="false"' in cib
    assert 'name="dc-deadtime" value="2s"' in cib
    verify = run(["crm_verify", "--xml-file", str(VAGRANT / "cib.xml")], check=False)
    assert verify.ok, verify.stdout + verify.stderr


def test_vagrant_backend_offers_the_lab_api() -> None:
    backend: LabNodes = VagrantLab()  # mypy checks the protocol; here: nothing is missing
    for name in ("exec", "ssh", "client", "stop", "kill", "start", "partition", "heal",
                 "wait_running", "wait_quorum", "system_state", "failed_units"):
        assert callable(getattr(backend, name))
