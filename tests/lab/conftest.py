"""Fixtures of the lab tier: real multi-node hosts (systemd-nspawn nodes, or Vagrant VMs).

`lab` is a 3-node lab without cluster stack (systemd-engine tests); `cluster_lab` the same
nodes with corosync + Pacemaker, quorate. Both live for the whole session, but at most one
is up at a time: a session-scoped manager owns the one running lab and swaps it when a
test asks for the other kind, and the tests are ordered so that this happens once (all
`lab` tests, then all `cluster_lab` tests). Each test gets the lab after a health check
that restarts stopped nodes and heals partitions a failed test may have left, so one
broken test does not cascade. The manager tears the lab down at the end of the session,
after failures and Ctrl-C included; a run killed outright is cleaned by the next `up`.

The lab never skips: when it cannot come up (not root, a tool missing, a node that does
not boot), every lab test fails with the reason.

S2S_SD_LAB_BACKEND=vagrant runs the same tests against the boxes of vagrant/ (see
vagrant/README.md); tests that need nspawn-only features say so.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# `lab` is a top-level package of the repository, not installed in the venv.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lab import Lab, VagrantLab  # noqa: E402
from lab.backend import LabNodes  # noqa: E402
from s2s_sd.errors import S2SError  # noqa: E402

BACKEND_ENV = "S2S_SD_LAB_BACKEND"
# SAN stand-ins shared by all nodes, where the mount members of examples/ expect them.
SHARED_DISKS = {
    "/dev/mapper/censhare_data": 64,
    "/dev/mapper/ora_data": 32,
    "/dev/mapper/ora_redo": 32,
}
LAB_FIXTURES = ("lab", "cluster_lab")


def backend() -> str:
    return os.environ.get(BACKEND_ENV, "nspawn")


class LabManager:
    """Owns the one lab that is up; boots, swaps and repairs it on request."""

    def __init__(self) -> None:
        self.current: LabNodes | None = None
        self.cluster: bool | None = None
        self.package: Path | None = None
        self.failure: str | None = None

    def get(self, cluster: bool, package: Path | None = None) -> LabNodes:
        """The lab of this kind; `package`: the nodes run that .deb instead of the venv."""
        if self.failure is None:
            try:
                if (self.current is None or self.cluster != cluster
                        or self.package != package):
                    self.release()
                    self.current = self._boot(cluster, package)
                    self.cluster = cluster
                    self.package = package
                else:
                    self._repair(self.current)
            except (S2SError, OSError) as exc:
                kind = "cluster lab" if cluster else "lab"
                self.failure = f"{kind} ({backend()}): {exc}"
                with contextlib.suppress(S2SError, OSError):
                    self.release()
        if self.failure is not None or self.current is None:
            # Fail (never skip), outside the except block so the reason is not buried in
            # a chained traceback; later tests fail fast with the same reason.
            pytest.fail(self.failure or "no lab", pytrace=False)
        return self.current

    def _boot(self, cluster: bool, package: Path | None) -> LabNodes:
        if backend() == "vagrant":
            vagrant = VagrantLab(cluster=True)  # the boxes always run the cluster stack
            for node in vagrant.nodes:
                vagrant.wait_running(node)
            vagrant.wait_quorum()
            return vagrant
        nspawn = Lab(cluster=cluster, disks=SHARED_DISKS, package=package)
        nspawn.up()
        return nspawn

    @staticmethod
    def _repair(lab: LabNodes) -> None:
        """Undo what a failed test may have left: cut links and stopped nodes."""
        restarted = False
        for node in lab.nodes:
            lab.heal(node)
            if not lab.is_running(node):
                lab.start(node)
                restarted = True
        for node in lab.nodes:
            lab.wait_running(node)
        if lab.cluster and (restarted or isinstance(lab, Lab)):
            lab.wait_quorum()

    def release(self) -> None:
        if isinstance(self.current, Lab):
            self.current.down()
        self.current = None
        self.cluster = None
        self.package = None


@pytest.fixture(scope="session")
def lab_manager() -> Iterator[LabManager]:
    manager = LabManager()
    try:
        yield manager
    finally:
        manager.release()
        if backend() == "nspawn" and os.geteuid() == 0:
            Lab().down()  # also what a failed boot may have left


@pytest.fixture
def lab(lab_manager: LabManager) -> LabNodes:
    """Nodes n1..n3 without cluster stack, booted once per session."""
    return lab_manager.get(cluster=False)


@pytest.fixture
def cluster_lab(lab_manager: LabManager) -> LabNodes:
    """Nodes n1..n3 with corosync + Pacemaker, quorate, booted once per session."""
    return lab_manager.get(cluster=True)


@pytest.fixture
def shared_disk() -> str:
    """The in-node path of a shared disk of `lab` and `cluster_lab` (nspawn backend)."""
    return "/dev/mapper/censhare_data"


@pytest.fixture
def release_lab(lab_manager: LabManager) -> Callable[[], None]:
    """Take the session's lab down now (for tests that need the host to themselves)."""
    return lab_manager.release


@pytest.fixture
def nspawn_lab(lab: LabNodes) -> Lab:
    """`lab`, for tests of nspawn-only features (PID 1, overlay roots, loop devices)."""
    if not isinstance(lab, Lab):
        pytest.skip("needs the nspawn backend (it looks into the host side of the nodes)")
    return lab


def _lab_kind(item: pytest.Item) -> int:
    """venv lab, package-mode lab, package-mode cluster, venv cluster, teardown check: the
    lab is booted four times per session, never more."""
    names = getattr(item, "fixturenames", ())
    package = "/tests/lab/package/" in str(item.path)
    if item.get_closest_marker("lab_teardown") is not None:
        return 4
    if "cluster_lab" in names:
        return 2 if package else 3
    return 1 if package else 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order lab tests by the kind of lab they need (stable otherwise), so the one lab that
    is up is swapped as rarely as possible."""
    lab_items = [item for item in items if "/tests/lab/" in str(item.path)]
    if not lab_items:
        return
    ordered = sorted(lab_items, key=_lab_kind)
    positions = [i for i, item in enumerate(items) if item in lab_items]
    for position, item in zip(positions, ordered, strict=True):
        items[position] = item


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "lab_teardown: runs after every other lab test (checks teardown)"
    )
