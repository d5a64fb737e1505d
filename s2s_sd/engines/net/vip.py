"""A virtual IP as requested, and what the operations report: the value types, and the
rules for the input (address with prefix, interface name, label, alias). Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from s2s_sd.engines.net import hosts_file
from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions, IpService
from s2s_sd.naming import alias_hostname, vip_label_suffix
from s2s_sd.vip_rules import (
    MAX_INTERFACE_NAME,
    interface_name_ok,
    network_or_broadcast,
    never_a_vip,
)

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# a label has the room of an interface name: the kernel refuses longer ones with ERANGE
MAX_LABEL = MAX_INTERFACE_NAME
DEFAULT_LABEL_SUFFIX = "vip"
_LABEL_SUFFIX = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Announce:
    """Gratuitous ARP / unsolicited NA: COUNT packets, INTERVAL seconds apart."""

    count: int = 5
    interval: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.count <= 100:
            raise BadInput(f"announcement count must be 0..100, not {self.count}")
        if not 0 <= self.interval <= 10:
            raise BadInput(f"announcement interval must be 0..10000 ms, not {self.interval}")


@dataclass(frozen=True)
class Probe:
    """Duplicate check: COUNT probes INTERVAL s apart, answers awaited WAIT s after the last.

    RFC 5227 suggests seconds; on a LAN an owner answers within a millisecond, and a
    failover should not stand still for seconds, so the defaults total 0.3 s.
    """

    count: int = 3
    interval: float = 0.1
    wait: float = 0.1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 20:
            raise BadInput(f"probe count must be 1..20, not {self.count}")
        if not (0 <= self.interval <= 10 and 0 <= self.wait <= 10):
            raise BadInput("probe interval and wait must be 0..10000 ms")

    @property
    def seconds(self) -> float:
        return (self.count - 1) * self.interval + self.wait


@dataclass(frozen=True)
class Vip:
    """A virtual IP as requested: address with prefix, optional interface/label/alias."""

    address: IPInterface
    interface: str | None = None
    # the part after "IFNAME:" (or the whole "IFNAME:SUFFIX"); None: derived
    label: str | None = None
    # True when `label` was derived from a group name and may be shortened to fit
    label_may_shorten: bool = False
    # the full /etc/hosts name, e.g. "oracle_c07"; None: no alias
    hostname: str | None = None
    # GROUP.SERVICE when taken from the definitions (kept in the IPv6 record)
    owner: str | None = None

    @property
    def ip(self) -> IPAddress:
        return self.address.ip

    @property
    def text(self) -> str:
        return self.address.with_prefixlen


@dataclass(frozen=True)
class VipStatus:
    address: str  # as requested, "10.1.2.3/24"
    present: bool  # the address with this prefix is on an interface
    interface: str | None
    label: str | None  # IPv4 only
    # the same address with another prefix, e.g. "10.1.2.3/32": present, but not as asked
    held_as: str | None = None
    tentative: bool = False  # IPv6: kernel duplicate detection running or failed
    hostname: str | None = None
    hostname_addresses: tuple[str, ...] = ()  # what the hosts file maps the alias to
    # how s2s-sd knows the address is its own ("label eth0:ora", "address protocol 83",
    # "record PATH"), or None: present but not s2s-sd's, or absent
    owned_by: str | None = None
    not_ours: str | None = None  # present but not s2s-sd's: why not

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "present": self.present,
            "interface": self.interface,
            "label": self.label,
            "held_as": self.held_as,
            "tentative": self.tentative,
            "alias": self.hostname,
            "alias_addresses": list(self.hostname_addresses),
            "owned_by": self.owned_by,
            "not_ours": self.not_ours,
        }


Action = Literal["added", "already-present", "removed", "absent"]


@dataclass(frozen=True)
class VipResult:
    address: str
    action: Action
    interface: str | None
    label: str | None
    announcements: int = 0
    hostname: str | None = None
    hosts_file_changed: bool = False
    probe_seconds: float = 0.0
    announce_seconds: float = 0.0
    total_seconds: float = 0.0
    warnings: tuple[str, ...] = ()
    probed_ahead: str | None = None  # why no probe was made (net/probed_ahead.py)

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "action": self.action,
            "interface": self.interface,
            "label": self.label,
            "announcements": self.announcements,
            "alias": self.hostname,
            "hosts_file_changed": self.hosts_file_changed,
            "probe_seconds": round(self.probe_seconds, 4),
            "announce_seconds": round(self.announce_seconds, 4),
            "total_seconds": round(self.total_seconds, 4),
            "warnings": list(self.warnings),
        }


# -- input ------------------------------------------------------------------------------


def parse_address(text: str) -> IPInterface:
    """ADDRESS/PREFIX as users write it; a host or network address alone is refused."""
    if "/" not in text:
        raise BadInput(f"{text!r}: give the address with its prefix length, e.g. 10.1.2.3/24")
    if "%" in text:  # a zone only makes sense for link-local addresses, never a VIP
        raise BadInput(f"{text!r}: no %zone in a virtual IP")
    try:
        address = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise BadInput(f"{text!r} is not an IP address with prefix length: {exc}") from exc
    prefix = text.rsplit("/", 1)[1]
    if not prefix.isdigit():  # ip_interface also takes netmasks; the definitions do not
        raise BadInput(f"{text!r}: the prefix must be a length such as /24")
    if never_a_vip(address.ip):
        raise BadInput(f"{text!r} cannot be a virtual IP (unspecified/multicast/loopback/"
                       "link-local address)")
    if network_or_broadcast(address):
        raise BadInput(f"{text!r} is the network or broadcast address of its subnet")
    return address


def check_interface_name(name: str) -> None:
    if not interface_name_ok(name):
        raise BadInput(f"{name!r} is not a valid interface name (at most {MAX_INTERFACE_NAME} "
                       "characters, no '/', ':' or spaces)")


def make_vip(
    address: str,
    *,
    interface: str | None = None,
    label: str | None = None,
    hostname: str | None = None,
) -> Vip:
    """A Vip from user input; raises BadInput for anything malformed."""
    parsed = parse_address(address)
    if interface is not None:
        check_interface_name(interface)
    if label is not None:
        suffix = label.split(":", 1)[1] if ":" in label else label
        if not _LABEL_SUFFIX.fullmatch(suffix):
            raise BadInput(f"label {label!r}: use letters, digits, '_', '-', '.' after 'IFNAME:'")
        if len(label) > MAX_LABEL:
            raise BadInput(f"label {label!r} is {len(label)} characters; Linux allows "
                           f"{MAX_LABEL}")
    if hostname is not None:
        hosts_file.check_name(hostname)
    return Vip(parsed, interface, label, False, hostname)


def vip_for_service(definitions: Definitions, group: str, service: str) -> Vip:
    """The VIP of service SERVICE of group GROUP, as the generated units name it."""
    found = definitions.group(group)
    if found is None:
        known = ", ".join(g.name for g in definitions.groups) or "none"
        raise BadInput(f"no group {group!r} in the definitions (groups: {known})")
    ip_services = [s for s in found.services if isinstance(s, IpService)]
    match = next((s for s in ip_services if s.name == service), None)
    if match is None:
        if any(s.name == service for s in found.services):
            raise BadInput(f"service {group}.{service} is not of type \"ip\"")
        known = ", ".join(s.name for s in ip_services) or "none"
        raise BadInput(f"group {group} has no ip service {service!r} (ip services: {known})")
    suffix = vip_label_suffix(group, service, len(ip_services))
    vip = make_vip(
        match.address,
        interface=match.interface,
        hostname=alias_hostname(match.alias, definitions.hostgroup.name) if match.alias else None,
    )
    return Vip(vip.address, vip.interface, suffix, True, vip.hostname, f"{group}.{service}")


def host_group_vips(definitions: Definitions) -> frozenset[IPAddress]:
    """The addresses of every VIP of the host group's groups."""
    return frozenset(make_vip(s.address).ip for g in definitions.groups for s in g.services
                     if isinstance(s, IpService))


def full_label(vip: Vip, ifname: str) -> str | None:
    """The IPv4 label to store: IFNAME:SUFFIX, at most 15 characters.

    The kernel only limits the length, but `ip` documents (and net-tools relies on) labels
    that are the interface name or start with "IFNAME:"; others would be invisible to
    `ip addr show label eth0:*` and confuse ifconfig. A derived label is shortened to fit;
    a label the user gave is not (it is refused instead). When even one character does
    not fit after "IFNAME:", the address gets the plain interface name, as without label.
    """
    if isinstance(vip.address, ipaddress.IPv6Interface):
        return None
    if vip.label is not None and ":" in vip.label:
        if not vip.label.startswith(f"{ifname}:"):
            raise BadInput(f"label {vip.label!r} must start with the interface name: "
                           f"'{ifname}:...'")
        return vip.label
    suffix = vip.label or DEFAULT_LABEL_SUFFIX
    label = f"{ifname}:{suffix}"
    if len(label) <= MAX_LABEL:
        return label
    if vip.label is not None and not vip.label_may_shorten:
        raise BadInput(f"label {label!r} is {len(label)} characters; Linux allows {MAX_LABEL}"
                       " (give a shorter --label)")
    room = MAX_LABEL - len(ifname) - 1
    return f"{ifname}:{suffix[:room]}" if room >= 1 else None

