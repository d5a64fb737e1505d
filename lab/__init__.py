"""The s2s-sd lab: real multi-node hosts for the lab test tier.

Nodes are systemd-nspawn containers booting a real systemd as PID 1, on a private bridge
inside a network namespace of their own (see lab/README.md). `Lab` is the API used by the
pytest fixtures in tests/lab and by `python -m lab`; `VagrantLab` offers the same exec API
for users who run the Vagrant boxes of vagrant/ on a machine with KVM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lab.errors import LabError
from lab.nspawn import Lab
from lab.topology import CLIENT_ADDRESS, NODE_NAMES, SUBNET, node_address
from lab.vagrant import VagrantLab

__all__ = [
    "CLIENT_ADDRESS",
    "NODE_NAMES",
    "SUBNET",
    "Lab",
    "LabError",
    "VagrantLab",
    "node_address",
]


if TYPE_CHECKING:
    from lab.backend import LabNodes

    def _both_backends_offer_the_lab_api(nspawn: Lab, vagrant: VagrantLab) -> list[LabNodes]:
        """Never called: makes mypy check that Lab and VagrantLab fit LabNodes."""
        return [nspawn, vagrant]
