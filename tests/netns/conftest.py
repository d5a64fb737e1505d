"""Fixtures of the netns tier: a fresh three-node segment per test, always torn down."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.netns.netns_lab import Lab, lab


@pytest.fixture
def segment() -> Iterator[Lab]:
    """host1, host2 and client on one bridge; removed even when the test fails."""
    if os.geteuid() != 0:
        pytest.fail("the netns tier needs root (ip netns add, CAP_NET_ADMIN); run as root")
    with lab() as created:
        yield created
