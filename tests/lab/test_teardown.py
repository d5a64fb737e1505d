"""`down` leaves nothing of the lab on the host (runs after every other lab test)."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from lab import Lab, host

pytestmark = [pytest.mark.lab, pytest.mark.lab_teardown]


def test_down_leaves_nothing_behind(release_lab: Callable[[], None]) -> None:
    if os.environ.get("S2S_SD_LAB_BACKEND", "nspawn") != "nspawn":
        pytest.skip("checks the nspawn host side")
    lab = Lab(nodes=("n1", "n2"), disks={"/dev/mapper/teardown_check": 16})
    release_lab()
    lab.up()
    assert host.leftovers(), "an up lab must be visible to the leftover check"
    # A crashed run: the process that brought the lab up is gone, only its nodes remain.
    Lab().down()
    assert host.leftovers() == []
    nspawns = [p for p in host.children(1) if p.comm == "systemd-nspawn"]
    assert all(not host.alive(p.pid) for p in nspawns)
