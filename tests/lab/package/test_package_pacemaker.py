"""The Pacemaker live apply (and a move) of tests/lab/test_pacemaker_runtime.py, run
unchanged on nodes that installed the .deb (package mode, see conftest.py): Pacemaker
finds ocf:s2s:* where the package put them."""

from __future__ import annotations

import pytest

from lab.backend import LabNodes
from tests.lab.package.package_checks import assert_nodes_run_the_package
from tests.lab.test_pacemaker_runtime import (  # noqa: F401  (fixtures and tests, reused)
    cluster,
    never_two_actives,
    site,
    test_live_apply_starts_every_group_on_its_first_host_then_is_a_noop,
    test_move_across_all_nodes_leaves_no_constraint,
)

pytestmark = pytest.mark.lab


def test_cluster_nodes_run_the_package(cluster: LabNodes) -> None:  # noqa: F811
    assert_nodes_run_the_package(cluster)
