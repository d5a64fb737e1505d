"""Names and addresses every lab backend shares (nspawn here, Vagrant for KVM users).

The examples and the Vagrantfile use the same figures: n1=.11, n2=.12, n3=.13, and a
client at .100 for VIP reachability tests.
"""

from __future__ import annotations

import ipaddress

SUBNET = ipaddress.IPv4Network("192.168.77.0/24")
NODE_NAMES = ("n1", "n2", "n3")
CLIENT_ADDRESS = "192.168.77.100"
FIRST_NODE_HOST_NUMBER = 11
# node numbers stay below the client's .100
MAX_NODES = 100 - FIRST_NODE_HOST_NUMBER
CLUSTER_NAME = "c07"  # the host group of examples/


def node_names(count: int) -> tuple[str, ...]:
    """n1..nCOUNT, the naming of examples/ and vagrant/."""
    if not 1 <= count <= MAX_NODES:
        raise ValueError(f"a lab has 1..{MAX_NODES} nodes, not {count}")
    return tuple(f"n{i}" for i in range(1, count + 1))


def node_address(name: str) -> str:
    """The static IPv4 address of node nK: .(10+K) of the lab subnet."""
    if not (name.startswith("n") and name[1:].isdigit() and int(name[1:]) >= 1):
        raise ValueError(f"lab node names are n1, n2, ...: {name!r}")
    number = FIRST_NODE_HOST_NUMBER - 1 + int(name[1:])
    if int(name[1:]) > MAX_NODES:
        raise ValueError(f"a lab has at most {MAX_NODES} nodes: {name}")
    return str(SUBNET.network_address + number)


def prefixed(address: str) -> str:
    """ADDRESS/PREFIXLEN as systemd-networkd and `ip addr add` want it."""
    return f"{address}/{SUBNET.prefixlen}"
