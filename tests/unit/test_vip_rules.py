"""The rules of what can be a VIP and what is an interface name (vip_rules.py), which the
definitions' validation and the `vip` command's input share: the rules themselves, and
that make_vip refuses exactly what they refuse (test_bad_definitions.py has the
validation's side, with FILE:LINE: KEY)."""

from __future__ import annotations

import ipaddress

import pytest

from s2s_sd.engines.net.vip import make_vip
from s2s_sd.errors import BadInput
from s2s_sd.vip_rules import interface_name_ok, network_or_broadcast, never_a_vip

pytestmark = pytest.mark.unit

INTERFACE_NAMES = [
    ("eth0", True), ("enp0s31f6", True), ("bond0.100", True), ("a" * 15, True),
    ("..x", True), ("", False), ("a" * 16, False), (".", False), ("..", False),
    ("eth0:vip", False), ("eth/0", False), ("eth 0", False), ("eth0\n", False),
    ("eth\u00a00", False),  # a no-break space is white space too
]


@pytest.mark.parametrize(("name", "valid"), INTERFACE_NAMES)
def test_interface_names(name: str, valid: bool) -> None:
    assert interface_name_ok(name) is valid
    if valid:
        assert make_vip("10.1.2.3/24", interface=name).interface == name
    else:
        with pytest.raises(BadInput, match="not a valid interface name"):
            make_vip("10.1.2.3/24", interface=name)


ADDRESSES = [
    ("10.1.2.3/24", None), ("10.1.2.0/31", None), ("10.1.2.255/32", None),
    ("fd00::1/64", None), ("fd00::/64", None),  # IPv6 has no broadcast: left to the kernel
    ("10.1.2.0/24", "network or broadcast"), ("10.1.2.255/24", "network or broadcast"),
    ("0.0.0.0/8", "cannot be a virtual IP"), ("224.0.0.5/24", "cannot be a virtual IP"),
    ("127.0.0.2/8", "cannot be a virtual IP"), ("169.254.7.7/16", "cannot be a virtual IP"),
    ("fe80::7/64", "cannot be a virtual IP"), ("::1/128", "cannot be a virtual IP"),
    ("ff02::1/64", "cannot be a virtual IP"),
]


@pytest.mark.parametrize(("text", "refused"), ADDRESSES)
def test_addresses(text: str, refused: str | None) -> None:
    address = ipaddress.ip_interface(text)
    assert (never_a_vip(address.ip) or network_or_broadcast(address)) is (refused is not None)
    if refused is None:
        assert make_vip(text).address == address
    else:
        with pytest.raises(BadInput, match=refused):
            make_vip(text)
