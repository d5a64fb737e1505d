"""What can be a virtual IP, and what is an interface name: the rules that the validation
of the definitions (validate.py) and the input of `s2s-sd vip` (engines/net/vip.py)
both apply, each with its own message (the one names FILE:LINE: KEY, the other the
command's argument). Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re

MAX_INTERFACE_NAME = 15  # Linux IFNAMSIZ is 16 bytes including the NUL
# the characters and length the kernel accepts in a link's name (dev_valid_name); it
# refuses "." and ".." besides, which interface_name_ok adds
INTERFACE_NAME = re.compile(rf"[^/:\s]{{1,{MAX_INTERFACE_NAME}}}")


def interface_name_ok(name: str) -> bool:
    return INTERFACE_NAME.fullmatch(name) is not None and name not in (".", "..")


def never_a_vip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """The unspecified, multicast, loopback and link-local addresses: none of them is
    one host's address that another host can take over."""
    return ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip.is_link_local


def network_or_broadcast(address: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> bool:
    """The network or broadcast address of an IPv4 subnet (/31 and /32 have neither);
    IPv6 has no broadcast, and its subnet-router anycast address is left to the kernel."""
    network = address.network
    return (isinstance(address, ipaddress.IPv4Interface) and network.prefixlen < 31
            and address.ip in (network.network_address, network.broadcast_address))
