"""The Pacemaker live apply (and a move) of tests/lab/test_pacemaker_runtime.py, run
unchanged on nodes that installed the .deb (package mode, see conftest.py): Pacemaker
finds ocf:s2s:* where the package put them."""

from __future__ import annotations

import pytest

from lab.backend import LabNodes
from tests.lab import test_pacemaker_runtime as venv_mode
from tests.lab.package.package_checks import assert_nodes_run_the_package

# Fixtures and tests of the venv-mode module, in its order (the live apply comes first)
site = venv_mode.site
cluster = venv_mode.cluster
never_two_actives = venv_mode.never_two_actives
test_live_apply_starts_every_group_on_its_first_host_then_is_a_noop = (
    venv_mode.test_live_apply_starts_every_group_on_its_first_host_then_is_a_noop)
test_move_across_all_nodes_leaves_no_constraint = (
    venv_mode.test_move_across_all_nodes_leaves_no_constraint)

pytestmark = pytest.mark.lab


def test_cluster_nodes_run_the_package(cluster: LabNodes) -> None:
    assert_nodes_run_the_package(cluster)
