"""Package mode of the lab tier: the tests of this directory get nodes that installed the
built .deb with apt (/usr/bin/s2s-sd, /usr/lib/s2s-sd/s2s-mount, the OCF agents in
/usr/lib/ocf/resource.d/s2s, Debian's python3 modules with pystemd 0.11) instead of the
repository's venv, so the layout users install is the one the lab proves.

The existing test functions run unchanged: this directory's `lab_manager` hands out the
session's one lab in package mode, and `lab`, `cluster_lab` and the modules' `site`
fixtures take their lab from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.backend import LabNodes


class PackageLabs:
    """The session's lab manager, asked for package-mode labs only."""

    def __init__(self, manager: Any, package: Path) -> None:
        self.manager = manager
        self.package = package

    def get(self, cluster: bool) -> LabNodes:
        lab: LabNodes = self.manager.get(cluster, package=self.package)
        return lab

    def release(self) -> None:
        self.manager.release()


@pytest.fixture(scope="session")
def lab_manager(lab_manager: Any, deb_package: Path) -> PackageLabs:
    return PackageLabs(lab_manager, deb_package)
