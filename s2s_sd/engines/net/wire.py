"""The VIP on the wire: duplicate probes (RFC 5227 ARP probe, RFC 4862 duplicate address
detection) and announcements (gratuitous ARP, unsolicited neighbour advertisement) on
packet sockets inside the namespace; the frames are built in packets.py."""

from __future__ import annotations

import errno
import ipaddress
import socket
import time

from s2s_sd.engines.net import announcer, netlink, packets
from s2s_sd.engines.net.vip import Announce, IPAddress, Probe, Vip
from s2s_sd.errors import OperationFailed


def packet_socket(netns: str | None, ifname: str, ethertype: int) -> socket.socket:
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


def _listen_for_conflict(
    sock: socket.socket, vip: Vip, own_mac: bytes, until: float, probes_count: bool
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
            mac = (packets.arp_conflict(arp, vip.ip, own_mac, probes_count=probes_count)
                   if arp else None)
        else:
            nd = packets.parse_neighbour_discovery(frame)
            mac = (packets.neighbour_conflict(nd, vip.ip, own_mac, probes_count=probes_count)
                   if nd else None)
        if mac:
            return mac
    return None


def require_mac(link: netlink.Link) -> bytes:
    if link.mac is None:
        raise OperationFailed(f"{link.name} has no Ethernet address: "
                              "cannot probe or announce a VIP on it")
    if not link.up:
        raise OperationFailed(f"{link.name} is down: bring it up before adding a VIP on it")
    return link.mac


def _ethertype(vip: Vip) -> int:
    return packets.ETH_P_ARP if vip.address.version == 4 else packets.ETH_P_IPV6


def _frame(vip: Vip, own_mac: bytes, *, probing: bool) -> bytes:
    """The frame of the VIP's family: the duplicate probe (PROBING) or the announcement."""
    if isinstance(vip.ip, ipaddress.IPv4Address):
        return (packets.arp_probe(own_mac, vip.ip) if probing
                else packets.arp_announcement(own_mac, vip.ip))
    return (packets.dad_solicitation(own_mac, vip.ip) if probing
            else packets.unsolicited_advertisement(own_mac, vip.ip))


def _question(vip: Vip, own_mac: bytes, source: IPAddress | None) -> bytes:
    """Who has the VIP: asked from SOURCE (a plain ARP request, a neighbour solicitation)
    or, without one, as the duplicate probe."""
    if source is None:
        return _frame(vip, own_mac, probing=True)
    if isinstance(vip.ip, ipaddress.IPv4Address) and isinstance(source, ipaddress.IPv4Address):
        return packets.arp_request(own_mac, source, vip.ip)
    if isinstance(vip.ip, ipaddress.IPv6Address) and isinstance(source, ipaddress.IPv6Address):
        return packets.neighbour_solicitation(own_mac, source, vip.ip)
    raise ValueError(f"asking for {vip.ip} from {source}: not the same family")


def answering_mac(netns: str | None, link: netlink.Link, vip: Vip, probe: Probe,
                  source: IPAddress | None = None) -> str | None:
    """The MAC of another host answering for the VIP on LINK's segment, or None.

    Without SOURCE the question is the duplicate probe, which a host about to take the
    address must send. With SOURCE (an address of this host's own) it is a plain
    address-resolution request: what a host that only checks sends, so that its question
    never looks like a rival's probe to a host probing for the address at that moment;
    and a checker counts only answers and announcements, not others' probes (a probe is
    a host about to take the address: if we hold it, our kernel's answer stops it)."""
    own_mac = require_mac(link)
    frame = _question(vip, own_mac, source)
    sock = packet_socket(netns, link.name, _ethertype(vip))
    try:
        for number in range(probe.count):
            _send(sock, frame, link)
            last = number == probe.count - 1
            until = time.monotonic() + (probe.wait if last else probe.interval)
            mac = _listen_for_conflict(sock, vip, own_mac, until, probes_count=source is None)
            if mac:
                return packets.mac_text(mac)
        return None
    finally:
        sock.close()


def _send(sock: socket.socket, frame: bytes, link: netlink.Link) -> None:
    try:
        sock.send(frame)
    except OSError as exc:
        if exc.errno == errno.ENETDOWN:
            raise OperationFailed(f"{link.name} is down") from exc
        raise OperationFailed(f"sending on {link.name}: {exc.strerror or exc}") from exc


def send_announcements(netns: str | None, link: netlink.Link, vip: Vip, announce: Announce,
                       netns_id: str) -> int:
    """The first announcement now, the others from a background process (announcer.py)
    that stops as soon as this host no longer holds the address."""
    if announce.count == 0:
        return 0
    frame = _frame(vip, require_mac(link), probing=False)
    sock = packet_socket(netns, link.name, _ethertype(vip))
    try:
        _send(sock, frame, link)

        def still_held() -> bool:
            with netlink.open_netlink(netns) as ipr:
                return any(h.address == vip.address and h.link.index == link.index
                           for h in netlink.holders(ipr, netlink.read_links(ipr), vip))

        announcer.start(announcer.pid_path(netns_id, vip.ip.compressed), announce.count - 1,
                        announce.interval, still_held, lambda: _send(sock, frame, link))
    finally:
        sock.close()
    return announce.count

