"""Virtual IP addresses over netlink (pyroute2): add, remove, probe, announce, report.

What an HA administrator expects of a VIP, in the spirit of IPaddr2:

- the interface is the one whose connected route covers the address, unless given;
- before adding, a probe (RFC 5227 ARP probe / RFC 4862 duplicate address detection)
  proves nobody else answers for the address; if someone does, refuse and name its MAC:
  two hosts answering for one VIP is how a group's data gets corrupted;
- IPv4 addresses get a label `IFNAME:SUFFIX` (ifconfig-era alias naming that `ip`,
  net-tools and operators recognise; at most 15 characters, the kernel's IFNAMSIZ-1);
  Linux stores no labels for IPv6;
- the new owner announces itself (gratuitous ARP / unsolicited neighbour advertisement)
  so clients switch over at once instead of waiting for their caches to expire; the
  announcements are sent synchronously, so nothing keeps running after `up` returns;
- up and down are idempotent; an optional /etc/hosts alias follows the address;
- up adopts and down removes only an address s2s-sd put there: IPv4 by its label (the
  one this VIP gets), IPv6 (which has no labels) by the address protocol s2s-sd adds it
  with (IFA_PROTO, Linux 6.3+, shown as `proto 83` by `ip -6 addr`) or, on kernels that
  ignore that attribute (Debian 12's 6.1), by the record s2s-sd keeps of it in
  RUN_DIR/vips (vip_records.py), checked against the address's flags and creation stamp.
  Anything else, such as the interface's primary address after a typo, is refused
  (exit 3, naming interface and address) unless forced.

Every operation can act on another network namespace (`netns`: a path such as
/proc/PID/ns/net or /run/netns/NAME, or a bare name under /run/netns), so the runtime
can handle the local host and lab nodes without a subprocess. Everything touching the
kernel happens on sockets opened inside that namespace.
"""

# Size: about 1,000 lines, kept whole in this round (issue 12) so that the parallel
# branches' edits merge by rename. It becomes the package engines/net/ next: the VIP
# input (parsing, labels; pure), namespaces and sockets, reading the kernel's view
# (pyroute2), the ARP/ND packets on the wire, and the up/down/status operations.

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import re
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from s2s_sd.engines import hosts_file, vip_records
from s2s_sd.engines import net_packets as packets
from s2s_sd.errors import BadInput, OperationFailed, Refused, S2SError
from s2s_sd.model import Definitions, IpService
from s2s_sd.naming import alias_hostname, vip_label_suffix

if TYPE_CHECKING:  # pyroute2 is imported where used: ~0.1 s every other command need not pay
    from pyroute2.netlink.exceptions import NetlinkError

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NetnsPath = str | os.PathLike[str]

DEFAULT_HOSTS_FILE = hosts_file.DEFAULT_HOSTS_FILE
NETNS_RUN_DIR = Path("/run/netns")
MAX_LABEL = 15  # IFNAMSIZ - 1: the kernel refuses longer labels with ERANGE
MAX_IFNAME = 15
DEFAULT_LABEL_SUFFIX = "vip"
MAIN_ROUTING_TABLE = 254
RTN_UNICAST = 1
IFF_UP = 0x1
IFA_F_NODAD = 0x02
# The address protocol (IFA_PROTO) s2s-sd marks its VIPs with: IPv6 has no labels, and
# every other mark (flags, lifetimes) is one an administrator's own address may carry too.
ADDRESS_PROTO = 83  # "S"
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
NS_GET_NSTYPE = 0xB703  # ioctl on a namespace file: which kind of namespace it is
CLONE_NEWNET = 0x40000000
_LABEL_SUFFIX = re.compile(r"[A-Za-z0-9_.-]+")
_IFNAME = re.compile(r"[^\s/:]+")


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
    ip = address.ip
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback or ip.is_link_local:
        raise BadInput(f"{text!r} cannot be a virtual IP (unspecified/multicast/loopback/"
                       "link-local address)")
    if isinstance(address, ipaddress.IPv4Interface) and address.network.prefixlen < 31 and (
        ip in (address.network.network_address, address.network.broadcast_address)
    ):
        raise BadInput(f"{text!r} is the network or broadcast address of its subnet")
    return address


def check_interface_name(name: str) -> None:
    if not name or len(name) > MAX_IFNAME or not _IFNAME.fullmatch(name) or name in (".", ".."):
        raise BadInput(f"{name!r} is not a valid interface name (at most {MAX_IFNAME} "
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


MIGRATE_NOTE = "migrate-take-over"  # in RUN_DIR, written by migrate --to systemd
MIGRATE_NOTE_SECONDS = 900


def write_migrate_note() -> None:
    """migrate --to systemd, on every host before the groups' targets start: for the next
    MIGRATE_NOTE_SECONDS, the group form of `vip up` takes over a group's VIP that the
    cluster's IPaddr2 added (it carries no s2s-sd label)."""
    from s2s_sd import paths
    from s2s_sd.writer import write_file_atomic

    run_dir = Path(paths.run_dir())
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_file_atomic(run_dir / MIGRATE_NOTE, f"{time.time():.0f}\n", 0o600)


def migrate_note_fresh() -> bool:
    """Is a migration to the systemd engine under way here (see write_migrate_note)?"""
    from s2s_sd import paths

    note = Path(paths.run_dir()) / MIGRATE_NOTE
    try:
        info = note.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return False
        written = float(note.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return 0 <= time.time() - written <= MIGRATE_NOTE_SECONDS


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


# -- namespaces and sockets ----------------------------------------------------------


def netns_path(netns: NetnsPath | None) -> str | None:
    """The namespace file for NETNS (a bare name means /run/netns/NAME), or None: here."""
    if netns is None:
        return None
    text = os.fspath(netns)
    path = text if "/" in text else str(NETNS_RUN_DIR / text)
    try:
        # O_NONBLOCK: a FIFO (or a device) at the path must be refused, not waited on
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError as exc:
        raise BadInput(f"no network namespace at {path}") from exc
    except OSError as exc:
        raise OperationFailed(f"cannot open network namespace {path}: {exc.strerror}") from exc
    try:
        kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        kind = None  # ENOTTY: an ordinary file, not a namespace
    finally:
        os.close(fd)
    if kind != CLONE_NEWNET:
        raise BadInput(f"{path} is not a network namespace")
    return path


@contextmanager
def _netlink(netns: str | None) -> Iterator[Any]:
    from pyroute2 import IPRoute

    try:
        # flags=0: never create a namespace (pyroute2's default would, for a typo)
        ipr = IPRoute() if netns is None else IPRoute(netns=netns, flags=0)
    except FileNotFoundError as exc:
        raise BadInput(f"no network namespace at {netns}") from exc
    except PermissionError as exc:
        raise OperationFailed(f"cannot enter network namespace {netns}: permission denied "
                              "(needs root)") from exc
    except OSError as exc:
        raise OperationFailed(f"cannot open netlink in {netns or 'this namespace'}: "
                              f"{exc.strerror or exc}") from exc
    try:
        yield ipr
    finally:
        ipr.close()


def _packet_socket(netns: str | None, ifname: str, ethertype: int) -> socket.socket:
    """A raw Ethernet socket on IFNAME for one ethertype, inside NETNS."""
    from pyroute2 import netns as pyroute2_netns

    proto = socket.htons(ethertype)
    try:
        if netns is None:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, proto)
        else:
            sock = pyroute2_netns.create_socket(
                netns, socket.AF_PACKET, socket.SOCK_RAW, proto, flags=0
            )
    except PermissionError as exc:
        raise OperationFailed("sending ARP/neighbour discovery packets needs CAP_NET_RAW "
                              "(run as root)") from exc
    except OSError as exc:
        raise OperationFailed(f"cannot open a packet socket: {exc.strerror or exc}") from exc
    try:
        sock.bind((ifname, ethertype))
    except OSError as exc:
        sock.close()
        raise OperationFailed(f"cannot bind a packet socket to {ifname}: "
                              f"{exc.strerror or exc}") from exc
    return sock


def _netlink_failure(exc: NetlinkError, what: str, vip: Vip, ifname: str | None) -> S2SError:
    """A netlink error as a sentence an administrator can act on."""
    code = int(exc.code)
    where = f" on {ifname}" if ifname else ""
    if code in (errno.EPERM, errno.EACCES):
        return OperationFailed(f"{what} {vip.text}{where}: permission denied "
                               "(changing addresses needs CAP_NET_ADMIN: run as root)")
    if code == errno.EEXIST:
        return OperationFailed(f"{what} {vip.text}{where}: the address already exists there "
                               "(added by someone else meanwhile?)")
    if code == errno.EADDRNOTAVAIL:
        return OperationFailed(f"{what} {vip.text}{where}: the address is not (or no longer) "
                               "on that interface")
    if code == errno.ENODEV:
        return BadInput(f"{what} {vip.text}: no such interface {ifname}")
    if code == errno.ERANGE:
        return BadInput(f"{what} {vip.text}{where}: label longer than {MAX_LABEL} characters")
    return OperationFailed(f"{what} {vip.text}{where}: {os.strerror(code)}")


# -- reading the kernel's view ---------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    index: int
    name: str
    mac: bytes | None
    up: bool


@dataclass(frozen=True)
class _Address:
    link: _Link
    address: IPInterface
    label: str | None
    flags: int
    proto: int | None = None
    created: int | None = None  # IFA_CACHEINFO cstamp: 1/100 s since boot, at creation


def _links(ipr: Any) -> dict[int, _Link]:
    links = {}
    for msg in ipr.link("dump"):
        mac_text = msg.get_attr("IFLA_ADDRESS")
        mac = packets.mac_bytes(mac_text) if mac_text and mac_text.count(":") == 5 else None
        index = int(msg["index"])
        links[index] = _Link(index, str(msg.get_attr("IFLA_IFNAME")), mac,
                             bool(msg["flags"] & IFF_UP))
    return links


def _family(vip: Vip) -> int:
    return socket.AF_INET if vip.address.version == 4 else socket.AF_INET6


def _addresses(ipr: Any, links: dict[int, _Link], family: int) -> list[_Address]:
    found = []
    for msg in ipr.addr("dump", family=family):
        link = links.get(int(msg["index"]))
        ip = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if link is None or ip is None:
            continue
        flags = msg.get_attr("IFA_FLAGS")
        cacheinfo = msg.get_attr("IFA_CACHEINFO")
        found.append(_Address(
            link,
            ipaddress.ip_interface(f"{ip}/{msg['prefixlen']}"),
            msg.get_attr("IFA_LABEL") if family == socket.AF_INET else None,
            int(flags if flags is not None else msg["flags"]),
            msg.get_attr("IFA_PROTO"),
            int(cacheinfo["cstamp"]) if cacheinfo else None,
        ))
    return found


def _holders(ipr: Any, links: dict[int, _Link], vip: Vip) -> list[_Address]:
    return [a for a in _addresses(ipr, links, _family(vip)) if a.address.ip == vip.ip]


@dataclass(frozen=True)
class _Ownership:
    """Did s2s-sd put this address here: how it knows (`by`), or why not (`why_not`)."""

    by: str | None
    why_not: str | None = None


def _ownership(held: _Address, vip: Vip, netns_id: str) -> _Ownership:
    """IPv4: the address carries the label s2s-sd gives this VIP. IPv6 has no labels: it
    carries s2s-sd's address protocol (Linux 6.3+), or s2s-sd's record of it matches."""
    if isinstance(held.address, ipaddress.IPv6Interface):
        if held.proto == ADDRESS_PROTO:
            return _Ownership(f"address protocol {ADDRESS_PROTO}")
        return _record_ownership(held, held.address, netns_id)
    label = full_label(vip, held.link.name)
    if label is not None and held.label == label:
        return _Ownership(f"label {label}")
    if label is None:
        return _Ownership(None, f"no s2s-sd label fits after the interface name "
                                f"{held.link.name}")
    return _Ownership(None, f"its label is {held.label or held.link.name}, s2s-sd's would "
                            f"be {label}")


def _record_ownership(held: _Address, address: ipaddress.IPv6Interface,
                      netns_id: str) -> _Ownership:
    """The record is believed only for the very address s2s-sd added: same interface
    index (a re-created interface took its addresses with it, so a record of the old
    index is stale; a renamed one kept them), s2s-sd's IFA_F_NODAD flag and the kernel's
    creation stamp recorded then (an address removed and added again by hand has a new
    one)."""
    protocol = f"its address protocol is {held.proto or 0}, not {ADDRESS_PROTO}"
    try:
        record = vip_records.read_record(netns_id, address)
    except vip_records.UntrustedRecord as exc:
        return _Ownership(None, f"{protocol}, and its record is not trusted: {exc}")
    path = vip_records.record_path(netns_id, address)
    if record is None:
        return _Ownership(None, f"{protocol}, and s2s-sd has no record of it in "
                                f"{path.parent}")
    if record.index != held.link.index:
        return _Ownership(None, f"{protocol}, and the record {path} is of interface index "
                                f"{record.index} ({record.interface}), not "
                                f"{held.link.index}: that interface was re-created since")
    if not held.flags & IFA_F_NODAD:
        return _Ownership(None, f"{protocol}, and it lacks the nodad flag s2s-sd adds with "
                                f"(record {path} is stale)")
    if record.created != held.created:
        return _Ownership(None, f"{protocol}, and it was created at {held.created}, not at "
                                f"{record.created} as recorded in {path}: added again by "
                                "someone else since")
    return _Ownership(f"record {path}: {record.owner or 'added as an address'}, since "
                      f"{record.since}")


def _refuse_unless_ours(held: _Address, vip: Vip, verb: str, force: bool,
                        netns_id: str) -> None:
    if force:
        return
    ownership = _ownership(held, vip, netns_id)
    if ownership.by is not None:
        return
    raise Refused(f"{held.address.with_prefixlen} on {held.link.name} was not added by s2s-sd "
                  f"({ownership.why_not}): not {verb} it. If it really is this VIP, give "
                  "--force")


def _netns_id(path: str | None) -> str:
    """The network namespace's identity for the records: its nsfs inode (unique while it
    exists; a reused one is caught by the creation stamp)."""
    try:
        return f"net{os.stat(path or '/proc/self/ns/net').st_ino}"
    except OSError as exc:
        raise OperationFailed(f"cannot identify network namespace {path or 'here'}: "
                              f"{exc.strerror}") from exc


# Whether this kernel keeps IFA_PROTO: detected once per process (the kernel is the same
# in every namespace); tests force it off to prove the record path on a new kernel.
_protocol_support: bool | None = None


def kernel_release_keeps_address_protocol(release: str) -> bool:
    """The last resort: Linux 6.3 added IFA_PROTO (uname -r, e.g. "6.1.0-18-amd64")."""
    match = re.match(r"(\d+)\.(\d+)", release)
    return match is not None and (int(match.group(1)), int(match.group(2))) >= (6, 3)


def _address_protocol_supported(ipr: Any) -> bool:
    """Does the kernel keep and report IFA_PROTO? Linux 6.3+ marks its own IPv6
    addresses (::1 as kernel_lo, fe80:: as kernel_ll), so an address dump carrying the
    attribute proves it; a namespace without any leaves the kernel release to decide."""
    global _protocol_support
    if _protocol_support is None:
        evidence = any(msg.get_attr("IFA_PROTO") is not None
                       for msg in ipr.addr("dump", family=socket.AF_INET6))
        _protocol_support = evidence or kernel_release_keeps_address_protocol(
            os.uname().release)
    return _protocol_support


def kernel_keeps_address_protocol(netns: NetnsPath | None = None) -> bool:
    """Does this kernel keep IFA_PROTO (asked in NETNS)? Decides whether IPv6 VIPs get
    address protocol 83; they get a record in RUN_DIR/vips either way."""
    with _netlink(netns_path(netns)) as ipr:
        return _address_protocol_supported(ipr)


def _link_by_name(links: dict[int, _Link], name: str) -> _Link:
    for link in links.values():
        if link.name == name:
            return link
    raise BadInput(f"no interface {name!r} here (interfaces: "
                   f"{', '.join(sorted(link.name for link in links.values()))})")


def _connected_link(ipr: Any, links: dict[int, _Link], vip: Vip) -> _Link:
    """The interface whose connected route covers the VIP, longest prefix first.

    Connected routes are those of the main table without a gateway; a default route is
    never one (an address must belong to a subnet someone configured). Equal prefixes on
    two interfaces are ambiguous: the user must say which one.
    """
    best: dict[int, list[_Link]] = {}
    for msg in ipr.route("dump", family=_family(vip)):
        table = msg.get_attr("RTA_TABLE") or msg["table"]
        oif = msg.get_attr("RTA_OIF")
        if (table != MAIN_ROUTING_TABLE or msg["type"] != RTN_UNICAST or oif is None
                or msg.get_attr("RTA_GATEWAY") or msg["dst_len"] == 0):
            continue
        network = ipaddress.ip_network(f"{msg.get_attr('RTA_DST')}/{msg['dst_len']}")
        link = links.get(int(oif))
        if link is not None and vip.ip in network:
            best.setdefault(network.prefixlen, []).append(link)
    if not best:
        raise BadInput(f"no interface has a connected route covering {vip.text}; "
                       "give the interface (--interface / `interface =`)")
    candidates = {link.name: link for link in best[max(best)]}
    if len(candidates) > 1:
        raise BadInput(f"{vip.text} is covered by connected routes on "
                       f"{', '.join(sorted(candidates))}; give the interface")
    return next(iter(candidates.values()))


def _choose_link(ipr: Any, links: dict[int, _Link], vip: Vip) -> _Link:
    if vip.interface is not None:
        return _link_by_name(links, vip.interface)
    # already up somewhere with the asked prefix: that is where it belongs
    for held in _holders(ipr, links, vip):
        if held.address == vip.address:
            return held.link
    return _connected_link(ipr, links, vip)


# -- on the wire ----------------------------------------------------------------------


def _listen_for_conflict(
    sock: socket.socket, vip: Vip, own_mac: bytes, until: float
) -> bytes | None:
    while (remaining := until - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            frame, sender = sock.recvfrom(2048)
        except TimeoutError:
            return None
        if sender[2] == socket.PACKET_OUTGOING:  # our own probes, looped back to us
            continue
        mac: bytes | None = None
        if isinstance(vip.ip, ipaddress.IPv4Address):
            arp = packets.parse_arp(frame)
            mac = packets.arp_conflict(arp, vip.ip, own_mac) if arp else None
        else:
            nd = packets.parse_neighbour_discovery(frame)
            mac = packets.neighbour_conflict(nd, vip.ip, own_mac) if nd else None
        if mac:
            return mac
    return None


def _require_mac(link: _Link) -> bytes:
    if link.mac is None:
        raise OperationFailed(f"{link.name} has no Ethernet address: "
                              "cannot probe or announce a VIP on it")
    if not link.up:
        raise OperationFailed(f"{link.name} is down: bring it up before adding a VIP on it")
    return link.mac


def _ethertype(vip: Vip) -> int:
    return packets.ETH_P_ARP if vip.address.version == 4 else packets.ETH_P_IPV6


def _probe(netns: str | None, link: _Link, vip: Vip, probe: Probe) -> str | None:
    """The MAC of another host answering for the VIP on LINK's segment, or None."""
    own_mac = _require_mac(link)
    if isinstance(vip.ip, ipaddress.IPv4Address):
        frame = packets.arp_probe(own_mac, vip.ip)
    else:
        frame = packets.dad_solicitation(own_mac, vip.ip)
    sock = _packet_socket(netns, link.name, _ethertype(vip))
    try:
        for number in range(probe.count):
            _send(sock, frame, link)
            last = number == probe.count - 1
            until = time.monotonic() + (probe.wait if last else probe.interval)
            mac = _listen_for_conflict(sock, vip, own_mac, until)
            if mac:
                return packets.mac_text(mac)
        return None
    finally:
        sock.close()


def _send(sock: socket.socket, frame: bytes, link: _Link) -> None:
    try:
        sock.send(frame)
    except OSError as exc:
        if exc.errno == errno.ENETDOWN:
            raise OperationFailed(f"{link.name} is down") from exc
        raise OperationFailed(f"sending on {link.name}: {exc.strerror or exc}") from exc


def _announce(netns: str | None, link: _Link, vip: Vip, announce: Announce) -> int:
    if announce.count == 0:
        return 0
    own_mac = _require_mac(link)
    if isinstance(vip.ip, ipaddress.IPv4Address):
        frame = packets.arp_announcement(own_mac, vip.ip)
    else:
        frame = packets.unsolicited_advertisement(own_mac, vip.ip)
    sock = _packet_socket(netns, link.name, _ethertype(vip))
    try:
        for number in range(announce.count):
            if number:
                time.sleep(announce.interval)
            _send(sock, frame, link)
    finally:
        sock.close()
    return announce.count


# -- the operations -------------------------------------------------------------------


def vip_status(
    vip: Vip, *, netns: NetnsPath | None = None, hosts: Path | None = DEFAULT_HOSTS_FILE
) -> VipStatus:
    """Is the VIP on an interface here, which one, with which label; what the alias maps to.

    HOSTS is only read (for the alias); None skips it.
    """
    path = netns_path(netns)
    with _netlink(path) as ipr:
        links = _links(ipr)
        if vip.interface is not None:
            _link_by_name(links, vip.interface)
        holders = _holders(ipr, links, vip)
    exact = next((h for h in holders if h.address == vip.address), None)
    other = holders[0] if holders and exact is None else None
    shown = exact or other
    ownership = _Ownership(None)
    if exact is not None:
        try:
            ownership = _ownership(exact, vip, _netns_id(path))
        except BadInput as exc:  # a --label that cannot be this interface's
            ownership = _Ownership(None, str(exc))
    alias_addresses: tuple[str, ...] = ()
    if vip.hostname and hosts is not None:
        alias_addresses = hosts_file.find_alias(hosts, vip.hostname)
    return VipStatus(
        address=vip.text,
        present=exact is not None,
        interface=shown.link.name if shown else None,
        label=shown.label if shown else None,
        held_as=other.address.with_prefixlen if other else None,
        tentative=bool(shown and shown.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)),
        hostname=vip.hostname,
        hostname_addresses=alias_addresses,
        owned_by=ownership.by,
        not_ours=ownership.why_not,
    )


def who_answers(
    vip: Vip, *, netns: NetnsPath | None = None, probe: Probe | None = None
) -> str | None:
    """The MAC of a host answering for the VIP on its segment, or None (moves use this).

    Sent from NETNS (a host without the VIP); answers from NETNS itself are not seen.
    """
    path = netns_path(netns)
    with _netlink(path) as ipr:
        links = _links(ipr)
        link = (_link_by_name(links, vip.interface) if vip.interface
                else _connected_link(ipr, links, vip))
    return _probe(path, link, vip, probe or Probe())


def vip_up(
    vip: Vip,
    *,
    netns: NetnsPath | None = None,
    hosts: Path = DEFAULT_HOSTS_FILE,
    announce: Announce | None = None,
    probe: Probe | None = None,
    force: bool = False,
    address_protocol: bool | None = None,
    take_over: bool = False,
) -> VipResult:
    """Bring the VIP up here: check, probe, add, announce, then set the hosts alias.

    TAKE_OVER (a migration from the Pacemaker engine, see migrate_note_fresh): an
    address already here that s2s-sd did not add (the cluster's IPaddr2 did) is removed
    and added again at once as s2s-sd's own, so the group's stop and moves know it.

    Already present with the same prefix on the chosen interface: announce again and
    succeed. HOSTS is the hosts file of the machine NETNS belongs to (for a node reached
    through /proc/PID/ns/net that is /proc/PID/root/etc/hosts, not ours).

    Raises BadInput (nothing changed) for unusable input; Refused (nothing changed) when
    another host answers for the address, or the address or alias is held in a way
    s2s-sd will not override (also: present already, but not added by s2s-sd, unless
    FORCE); OperationFailed for what went wrong on the way (an address
    added by this call is removed again first).

    An IPv6 VIP is added with address protocol 83 where the kernel keeps it
    (ADDRESS_PROTOCOL None: detected; False: never, as on Linux < 6.3) and recorded in
    RUN_DIR/vips either way, the record being what recognises it on older kernels.
    """
    announce = announce or Announce()
    probe = probe or Probe()
    started = time.monotonic()
    path = netns_path(netns)
    netns_id = _netns_id(path)
    if vip.hostname:
        hosts_file.check_alias(hosts, vip.hostname)
    with _netlink(path) as ipr:
        links = _links(ipr)
        link = _choose_link(ipr, links, vip)
        label = full_label(vip, link.name)
        holders = _holders(ipr, links, vip)
        exact = next((h for h in holders if h.address == vip.address), None)
        if exact is None and holders:
            held = holders[0]
            raise Refused(f"{vip.ip} is already on {held.link.name} as "
                          f"{held.address.with_prefixlen}; not adding {vip.text} on "
                          f"{link.name} as well (take it down first)")
        if exact is not None and exact.link.index != link.index:
            raise Refused(f"{vip.text} is already on {exact.link.name}, not on {link.name}")
        if exact is not None and exact.flags & IFA_F_DADFAILED:
            raise Refused(f"{vip.text} is on {link.name} but failed duplicate address "
                          "detection: another node owns it")
        taken_over = False
        if exact is not None and take_over and _ownership(exact, vip, netns_id).by is None:
            # same interface, same MAC: the address is gone for microseconds, no neighbour
            # cache changes; added again below with s2s-sd's label (IPv6: protocol, record)
            _delete(ipr, exact.link, vip)
            exact, taken_over = None, True
        if exact is not None:
            _refuse_unless_ours(exact, vip, "adopting", force, netns_id)
        _require_mac(link)
        probe_seconds = 0.0
        if exact is None:
            probe_started = time.monotonic()
            # a taken-over address was ours to answer for a moment ago: nobody to probe for
            answering = None if taken_over else _probe(path, link, vip, probe)
            probe_seconds = time.monotonic() - probe_started
            if answering:
                method = "ARP probe" if vip.address.version == 4 else "duplicate address detection"
                raise Refused(f"{vip.ip} is in use: {answering} answered our {method} on "
                              f"{link.name}; not adding it")
            with_protocol = vip.address.version == 4 or (
                address_protocol is not False and _address_protocol_supported(ipr))
            _add(ipr, link, vip, label, with_protocol)
            action: Action = "added"
        else:
            label = exact.label
            action = "already-present"
        try:
            if action == "added" and isinstance(vip.address, ipaddress.IPv6Interface):
                _record(ipr, links, link, vip, netns_id)
            announce_started = time.monotonic()
            sent = _announce(path, link, vip, announce)
            announce_seconds = time.monotonic() - announce_started
            changed = False
            if vip.hostname:
                changed = hosts_file.set_alias(hosts, vip.hostname, str(vip.ip)).changed
        except S2SError as failure:
            # An up that fails must not leave a VIP behind that nobody announced or
            # will take down (systemd runs no ExecStop= after a failed ExecStart=).
            if action == "added":
                _roll_back(ipr, link, vip, failure)
            raise
    return VipResult(
        address=vip.text, action=action, interface=link.name, label=label,
        announcements=sent, hostname=vip.hostname, hosts_file_changed=changed,
        probe_seconds=probe_seconds, announce_seconds=announce_seconds,
        total_seconds=time.monotonic() - started,
    )


def _add(ipr: Any, link: _Link, vip: Vip, label: str | None, with_protocol: bool) -> None:
    request: dict[str, Any] = {
        "index": link.index, "address": str(vip.ip), "prefixlen": vip.address.network.prefixlen,
    }
    if with_protocol:
        request["proto"] = ADDRESS_PROTO
    if isinstance(vip.address, ipaddress.IPv4Interface):
        if label is not None:
            request["label"] = label
        if vip.address.network.prefixlen < 31:
            request["broadcast"] = str(vip.address.network.broadcast_address)
    else:
        # We ran duplicate detection ourselves (and can name who answered); the kernel's
        # own would keep the address unusable for another second.
        request["flags"] = IFA_F_NODAD
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        ipr.addr("add", **request)
    except NetlinkError as exc:
        raise _netlink_failure(exc, "adding", vip, link.name) from exc


def _record(ipr: Any, links: dict[int, _Link], link: _Link, vip: Vip, netns_id: str) -> None:
    """Record the IPv6 address just added, with the creation stamp the kernel gave it."""
    added = next((h for h in _holders(ipr, links, vip)
                  if h.address == vip.address and h.link.index == link.index), None)
    if added is None or added.created is None:
        raise OperationFailed(f"{vip.text} vanished from {link.name} right after adding it")
    vip_records.write_record(vip_records.VipRecord(
        netns=netns_id, index=link.index, interface=link.name, address=vip.text,
        created=added.created, since=vip_records.now_text(), owner=vip.owner))


def _delete(ipr: Any, link: _Link, vip: Vip) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        ipr.addr("del", index=link.index, address=str(vip.ip),
                 prefixlen=vip.address.network.prefixlen)
    except NetlinkError as exc:
        # gone between our look and the delete: the wanted state, not a failure
        if int(exc.code) != errno.EADDRNOTAVAIL:
            raise _netlink_failure(exc, "removing", vip, link.name) from exc


def _roll_back(ipr: Any, link: _Link, vip: Vip, failure: S2SError) -> None:
    try:
        _delete(ipr, link, vip)
    except S2SError as cleanup:
        raise OperationFailed(f"{failure}; removing {vip.text} from {link.name} again failed "
                              f"too: {cleanup}") from failure


def vip_down(
    vip: Vip, *, netns: NetnsPath | None = None, hosts: Path = DEFAULT_HOSTS_FILE,
    force: bool = False,
) -> VipResult:
    """Take the VIP down here and remove its hosts alias. Absent already: success.

    The same address with another prefix, or on another interface than the one asked
    for, or one s2s-sd did not add (unless FORCE), is not ours to remove: Refused.
    """
    started = time.monotonic()
    path = netns_path(netns)
    netns_id = _netns_id(path)
    if vip.hostname:
        hosts_file.check_name(vip.hostname)
    with _netlink(path) as ipr:
        links = _links(ipr)
        if vip.interface is not None:
            _link_by_name(links, vip.interface)
        holders = _holders(ipr, links, vip)
        exact = next((h for h in holders if h.address == vip.address), None)
        if exact is None and holders:
            held = holders[0]
            raise Refused(f"{vip.ip} is on {held.link.name} as {held.address.with_prefixlen}, "
                          f"not as {vip.text}: not removing it")
        if exact is not None and vip.interface is not None and exact.link.name != vip.interface:
            raise Refused(f"{vip.text} is on {exact.link.name}, not on {vip.interface}: "
                          "not removing it")
        if exact is not None:
            _refuse_unless_ours(exact, vip, "removing", force, netns_id)
        # The alias goes first: a name must never point at an address being given away.
        warnings: list[str] = []
        changed = False
        if vip.hostname:
            alias = hosts_file.remove_alias(hosts, vip.hostname)
            changed = alias.changed
            warnings += [f"{hosts}:{line.number} still maps {vip.hostname} (together with "
                         "other names); left unchanged" for line in alias.foreign_lines]
        if exact is not None:
            _delete(ipr, exact.link, vip)
        if isinstance(vip.address, ipaddress.IPv6Interface):
            # removed now, or gone before: a record of it is stale either way
            problem = vip_records.remove_record(netns_id, vip.address)
            warnings += [problem] if problem else []
    return VipResult(
        address=vip.text, action="removed" if exact else "absent",
        interface=exact.link.name if exact else None, label=exact.label if exact else None,
        hostname=vip.hostname, hosts_file_changed=changed,
        total_seconds=time.monotonic() - started, warnings=tuple(warnings),
    )


__all__ = [
    "DEFAULT_HOSTS_FILE", "Announce", "Probe", "Vip", "VipResult", "VipStatus",
    "alias_hostname", "full_label", "kernel_keeps_address_protocol",
    "kernel_release_keeps_address_protocol", "make_vip", "netns_path", "parse_address",
    "vip_down", "vip_for_service", "vip_status", "vip_up", "who_answers",
]
