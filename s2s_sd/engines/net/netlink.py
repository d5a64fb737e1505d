"""Network namespaces and the kernel's view of links, addresses and connected routes,
through pyroute2 (netlink); adding and deleting an address.

Everything happens on sockets opened inside the namespace asked for (see netns_path).
"""

from __future__ import annotations

import errno
import fcntl
import importlib
import ipaddress
import os
import re
import socket
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s2s_sd.engines.net import packets
from s2s_sd.engines.net.vip import MAX_LABEL, IPAddress, IPInterface, Vip
from s2s_sd.errors import BadInput, OperationFailed, S2SError

if TYPE_CHECKING:  # pyroute2 is imported where used: ~0.1 s every other command need not pay
    from pyroute2.netlink.exceptions import NetlinkError

NetnsPath = str | os.PathLike[str]
NETNS_RUN_DIR = Path("/run/netns")
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


def prepare_netlink() -> None:
    """Import pyroute2 (a tenth of a second: its package imports all of it) in the
    background, for a process that will need it soon but has other work first (an
    agent session, whose first requests need no netlink; the admin, waiting for its
    sessions). A later import waits for this one instead of starting over."""
    threading.Thread(target=importlib.import_module, args=("pyroute2",),
                     name="import pyroute2", daemon=True).start()


@contextmanager
def open_netlink(netns: str | None) -> Iterator[Any]:
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


def netlink_failure(exc: NetlinkError, what: str, vip: Vip, ifname: str | None) -> S2SError:
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


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    mac: bytes | None
    up: bool


@dataclass(frozen=True)
class Address:
    link: Link
    address: IPInterface
    label: str | None
    flags: int
    proto: int | None = None
    created: int | None = None  # IFA_CACHEINFO cstamp: 1/100 s since boot, at creation


def read_links(ipr: Any) -> dict[int, Link]:
    links = {}
    for msg in ipr.link("dump"):
        mac_text = msg.get_attr("IFLA_ADDRESS")
        mac = packets.mac_bytes(mac_text) if mac_text and mac_text.count(":") == 5 else None
        index = int(msg["index"])
        links[index] = Link(index, str(msg.get_attr("IFLA_IFNAME")), mac,
                             bool(msg["flags"] & IFF_UP))
    return links


def address_family(vip: Vip) -> int:
    return socket.AF_INET if vip.address.version == 4 else socket.AF_INET6


def read_addresses(ipr: Any, links: dict[int, Link], family: int) -> list[Address]:
    found = []
    for msg in ipr.addr("dump", family=family):
        link = links.get(int(msg["index"]))
        ip = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if link is None or ip is None:
            continue
        flags = msg.get_attr("IFA_FLAGS")
        cacheinfo = msg.get_attr("IFA_CACHEINFO")
        found.append(Address(
            link,
            ipaddress.ip_interface(f"{ip}/{msg['prefixlen']}"),
            msg.get_attr("IFA_LABEL") if family == socket.AF_INET else None,
            int(flags if flags is not None else msg["flags"]),
            msg.get_attr("IFA_PROTO"),
            int(cacheinfo["cstamp"]) if cacheinfo else None,
        ))
    return found


def holders(ipr: Any, links: dict[int, Link], vip: Vip) -> list[Address]:
    return [a for a in read_addresses(ipr, links, address_family(vip)) if a.address.ip == vip.ip]


def vip_holders(ipr: Any, vip: Vip) -> list[Address]:
    """The addresses here with the VIP's IP, whatever their prefix; the interface the VIP
    names must exist even where the address is not (BadInput, naming those there)."""
    links = read_links(ipr)
    if vip.interface is not None:
        link_by_name(links, vip.interface)
    return holders(ipr, links, vip)


def netns_id(path: str | None) -> str:
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


def address_protocol_supported(ipr: Any) -> bool:
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
    with open_netlink(netns_path(netns)) as ipr:
        return address_protocol_supported(ipr)


def link_by_name(links: dict[int, Link], name: str) -> Link:
    for link in links.values():
        if link.name == name:
            return link
    raise BadInput(f"no interface {name!r} here (interfaces: "
                   f"{', '.join(sorted(link.name for link in links.values()))})")


def connected_link(ipr: Any, links: dict[int, Link], vip: Vip) -> Link:
    """The interface whose connected route covers the VIP, longest prefix first.

    Connected routes are those of the main table without a gateway; a default route is
    never one (an address must belong to a subnet someone configured). Equal prefixes on
    two interfaces are ambiguous: the user must say which one.
    """
    best: dict[int, list[Link]] = {}
    for msg in ipr.route("dump", family=address_family(vip)):
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


def own_source_address(ipr: Any, links: dict[int, Link], link: Link, vip: Vip,
                       avoid: Collection[IPAddress]) -> IPAddress | None:
    """An address of this host's own on LINK to ask for the VIP from, or None.

    Never one of AVOID (the host group's VIPs: asking from a VIP about to move would look
    like its holder), nor the VIP, nor a tentative or failed address; IPv4 only one
    without a label of its own (s2s-sd labels every VIP it adds) and in the VIP's subnet:
    a holder with rp_filter=1 or arp_ignore=2 ignores a request from outside it, and a
    rogue must answer. IPv6: the link-local address first (what address resolution uses
    anyway), else one of the VIP's prefix.
    """
    usable = [a for a in read_addresses(ipr, links, address_family(vip))
              if a.link.index == link.index and a.address.ip not in avoid
              and a.address.ip != vip.ip and a.label in (None, link.name)
              and not a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)]
    if isinstance(vip.ip, ipaddress.IPv6Address):
        usable = sorted(usable, key=lambda a: not a.address.ip.is_link_local)
        usable = [a for a in usable
                  if a.address.ip.is_link_local or vip.ip in a.address.network]
    else:
        usable = [a for a in usable if vip.ip in a.address.network]
    return usable[0].address.ip if usable else None


def choose_link(ipr: Any, links: dict[int, Link], vip: Vip) -> Link:
    if vip.interface is not None:
        return link_by_name(links, vip.interface)
    # already up somewhere with the asked prefix: that is where it belongs
    for held in holders(ipr, links, vip):
        if held.address == vip.address:
            return held.link
    return connected_link(ipr, links, vip)


def add_address(ipr: Any, link: Link, vip: Vip, label: str | None, with_protocol: bool) -> None:
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
        raise netlink_failure(exc, "adding", vip, link.name) from exc


def delete_address(ipr: Any, link: Link, vip: Vip) -> None:
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        ipr.addr("del", index=link.index, address=str(vip.ip),
                 prefixlen=vip.address.network.prefixlen)
    except NetlinkError as exc:
        # gone between our look and the delete: the wanted state, not a failure
        if int(exc.code) != errno.EADDRNOTAVAIL:
            raise netlink_failure(exc, "removing", vip, link.name) from exc

