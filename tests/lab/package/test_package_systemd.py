"""The systemd-engine lab tests of tests/lab/test_systemd_runtime.py (sync, moves, rollback,
busy mount, guard), run unchanged on nodes that installed the .deb (package mode, see
conftest.py): the units call /usr/bin/s2s-sd and /usr/lib/s2s-sd/s2s-mount."""

from __future__ import annotations

import pytest

from lab.backend import LabNodes
from tests.lab import test_systemd_runtime as venv_mode
from tests.lab.package.package_checks import assert_nodes_run_the_package
from tests.lab.runtime_support import NODES

# Fixtures and tests of the venv-mode module, in its order: each test leaves the groups
# where the next one expects them.
site = venv_mode.site
runtime_lab = venv_mode.runtime_lab
never_two_actives = venv_mode.never_two_actives
test_sync_and_a_host_offline_during_sync_refuses_to_act = (
    venv_mode.test_sync_and_a_host_offline_during_sync_refuses_to_act)
test_move_around_the_hosts = venv_mode.test_move_around_the_hosts
test_mount_and_data_follow_the_group = venv_mode.test_mount_and_data_follow_the_group
test_dry_run_changes_nothing = venv_mode.test_dry_run_changes_nothing
test_failed_start_on_target_rolls_back = venv_mode.test_failed_start_on_target_rolls_back
test_busy_mount_on_source_does_not_block_the_move = (
    venv_mode.test_busy_mount_on_source_does_not_block_the_move)
test_bare_systemctl_start_elsewhere_is_refused = (
    venv_mode.test_bare_systemctl_start_elsewhere_is_refused)

pytestmark = pytest.mark.lab


def test_units_call_the_packaged_program(runtime_lab: LabNodes) -> None:
    assert_nodes_run_the_package(runtime_lab)
    for node in NODES:
        vip = runtime_lab.exec(node, ["cat", "/etc/systemd/system/s2s-censhare-vip.service"])
        # the member's monitor loop (member run) starts it and takes the VIP down at its
        # stop; after a stop that was not clean, the packaged `vip down` makes sure
        assert "ExecStart=/usr/bin/s2s-sd --basedir /etc/s2s-sd member run censhare vip" \
            in vip.stdout, vip.stdout
        assert "\nExecStop=" not in vip.stdout, vip.stdout
        assert "vip-down /usr/bin/s2s-sd vip down censhare vip" in vip.stdout, vip.stdout
        mount = runtime_lab.exec(node, ["cat",
                                        "/etc/systemd/system/s2s-censhare-data.service"])
        assert "ExecStop=/usr/lib/s2s-sd/s2s-mount stop" in mount.stdout, mount.stdout
        assert not runtime_lab.exec(node, ["test", "-e", "/usr/local/lib/s2s-sd"],
                                    check=False).ok


def test_apply_and_sync_refuse_a_host_without_the_program(
        runtime_lab: LabNodes) -> None:
    """A host where /usr/bin/s2s-sd is gone gets no units, from `apply systemd` run there
    or from a `sync` (exit 3, naming the path and the host)."""
    lab = runtime_lab
    away = "/usr/local/bin/s2s-sd-away"  # the program, under a name the units do not use
    lab.exec("n3", ["mv", "/usr/bin/s2s-sd", away])
    for node in ("n1", "n2"):
        lab.exec(node, ["ln", "-sfn", "/usr/bin/s2s-sd", away])
    manifest = "/etc/systemd/system/.s2s-sd-manifest"
    try:
        before = lab.exec("n3", ["cat", manifest]).stdout
        result = lab.exec("n3", [away, "apply", "systemd"], check=False)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "/usr/bin/s2s-sd is not installed on n3" in result.stderr, result.stderr
        # a new generation (sync does nothing for an unchanged base dir), sent to n3 by a
        # remote command that exists there: n3's side refuses to install the units
        lab.exec("n1", ["sh", "-c", "echo '# package-mode test' > /etc/s2s-sd/NOTE"])
        result = lab.exec("n1", ["env", f"S2S_SD_REMOTE_COMMAND={away}", "s2s-sd", "sync"],
                          check=False, timeout=300)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "n3: /usr/bin/s2s-sd is not installed on n3" in result.stderr, result.stderr
        assert lab.exec("n3", ["cat", manifest]).stdout == before
    finally:
        lab.exec("n3", ["mv", away, "/usr/bin/s2s-sd"], check=False)
        for node in ("n1", "n2"):
            lab.exec(node, ["rm", "-f", away], check=False)
        lab.exec("n1", ["rm", "-f", "/etc/s2s-sd/NOTE"])
        result = lab.exec("n1", ["s2s-sd", "sync"], check=False, timeout=300)
        assert result.ok, result.stdout + result.stderr
