"""Fixtures of the netns tier: a fresh three-node segment per test, always torn down."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from s2s_sd import paths
from tests.netns.netns_lab import Lab, lab


@pytest.fixture(autouse=True)
def private_run_dir(tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> Path:
    """Records of IPv6 VIPs go to a run dir of the test's own (the commands it runs
    inherit it), never to the machine's /run/s2s-sd."""
    run_dir = tmp_path_factory.mktemp("run")
    monkeypatch.setenv(paths.RUN_DIR.env, str(run_dir))
    return run_dir


@pytest.fixture
def segment() -> Iterator[Lab]:
    """host1, host2 and client on one bridge; removed even when the test fails."""
    if os.geteuid() != 0:
        pytest.fail("the netns tier needs root (ip netns add, CAP_NET_ADMIN); run as root")
    with lab() as created:
        yield created
