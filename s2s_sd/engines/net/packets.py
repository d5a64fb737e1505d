"""Ethernet frames for address probes and announcements: building and parsing, no I/O.

IPv4 uses ARP (RFC 826) in the forms of RFC 5227: a *probe* asks "who has X?" with the
sender address 0.0.0.0 so that nobody's cache learns from it; an *announcement*
(gratuitous ARP) is a request whose sender and target address are both X, which makes
every host that already has an entry for X replace its MAC, whatever the entry's age.

IPv6 uses neighbour discovery (RFC 4861/4862): duplicate address detection sends a
neighbour solicitation from the unspecified address to X's solicited-node multicast
group; the owner of X answers with an advertisement to all nodes. The announcement is
an unsolicited advertisement with the Override flag, which replaces cached MACs.

Frames are complete Ethernet frames for an AF_PACKET SOCK_RAW socket, so the probe can
use source addresses the IP stack would not let us use (0.0.0.0, ::).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
ETHERNET_HEADER = struct.Struct("!6s6sH")
BROADCAST_MAC = b"\xff" * 6
ZERO_MAC = b"\x00" * 6
# Shorter frames are padded by NICs on the wire; veth does not, and some stacks drop
# runts, so pad ourselves.
MIN_FRAME = 60

ARP_REQUEST = 1
ARP_REPLY = 2
ARP_ETHERNET_IPV4 = struct.Struct("!HHBBH6s4s6s4s")

IPPROTO_ICMPV6 = 58
ICMPV6_NEIGHBOUR_SOLICITATION = 135
ICMPV6_NEIGHBOUR_ADVERTISEMENT = 136
ND_OPTION_SOURCE_LINK_ADDRESS = 1
ND_OPTION_TARGET_LINK_ADDRESS = 2
NA_FLAG_OVERRIDE = 0x20000000
# Neighbour discovery packets must arrive with hop limit 255: proof they were not routed.
ND_HOP_LIMIT = 255
UNSPECIFIED_V6 = ipaddress.IPv6Address("::")
ALL_NODES_V6 = ipaddress.IPv6Address("ff02::1")


def mac_text(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def mac_bytes(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return bytes(int(p, 16) for p in parts)


def _pad(frame: bytes) -> bytes:
    return frame + b"\x00" * max(0, MIN_FRAME - len(frame))


def _arp_frame(
    op: int, sender_mac: bytes, sender_ip: bytes, target_mac: bytes, target_ip: bytes
) -> bytes:
    header = ETHERNET_HEADER.pack(BROADCAST_MAC, sender_mac, ETH_P_ARP)
    body = ARP_ETHERNET_IPV4.pack(
        1, 0x0800, 6, 4, op, sender_mac, sender_ip, target_mac, target_ip
    )
    return _pad(header + body)


def arp_probe(own_mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """RFC 5227 probe: "who has ADDRESS?" from 0.0.0.0, so no cache learns from it."""
    return _arp_frame(ARP_REQUEST, own_mac, b"\x00" * 4, ZERO_MAC, address.packed)


def arp_request(
    own_mac: bytes, own_ip: ipaddress.IPv4Address, address: ipaddress.IPv4Address
) -> bytes:
    """A plain "who has ADDRESS? tell OWN_IP", as any host's kernel asks: no probe (its
    sender is a real address) and no claim of ADDRESS, so a host probing for ADDRESS at
    the same moment does not take it for a rival."""
    return _arp_frame(ARP_REQUEST, own_mac, own_ip.packed, ZERO_MAC, address.packed)


def arp_announcement(own_mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """Gratuitous ARP request: sender = target = ADDRESS, broadcast."""
    return _arp_frame(ARP_REQUEST, own_mac, address.packed, ZERO_MAC, address.packed)


@dataclass(frozen=True)
class ArpPacket:
    op: int
    sender_mac: bytes
    sender_ip: ipaddress.IPv4Address
    target_ip: ipaddress.IPv4Address


def parse_arp(frame: bytes) -> ArpPacket | None:
    """The ARP payload of an Ethernet frame, or None if it is not Ethernet/IPv4 ARP."""
    if len(frame) < ETHERNET_HEADER.size + ARP_ETHERNET_IPV4.size:
        return None
    _, _, ethertype = ETHERNET_HEADER.unpack_from(frame)
    if ethertype != ETH_P_ARP:
        return None
    htype, ptype, hlen, plen, op, sha, spa, _tha, tpa = ARP_ETHERNET_IPV4.unpack_from(
        frame, ETHERNET_HEADER.size
    )
    if (htype, ptype, hlen, plen) != (1, 0x0800, 6, 4):
        return None
    return ArpPacket(op, sha, ipaddress.IPv4Address(spa), ipaddress.IPv4Address(tpa))


def arp_conflict(
    packet: ArpPacket, address: ipaddress.IPv4Address, own_mac: bytes, *,
    probes_count: bool = True,
) -> bytes | None:
    """The MAC of another host claiming ADDRESS in this packet, per RFC 5227 §2.1.1.

    A conflict is any ARP packet whose sender address is ADDRESS (the owner answering or
    announcing), or a probe for ADDRESS from someone else (both probing at once), unless
    PROBES_COUNT is false: a host that only checks is nobody's rival, and a probe it hears
    is a host about to take the address, which our answer (if we hold it) stops.
    """
    if packet.sender_mac == own_mac:
        return None
    if packet.sender_ip == address:
        return packet.sender_mac
    is_probe = packet.op == ARP_REQUEST and packet.sender_ip == ipaddress.IPv4Address(0)
    if probes_count and is_probe and packet.target_ip == address:
        return packet.sender_mac
    return None


# -- IPv6 ------------------------------------------------------------------------------

IPV6_HEADER = struct.Struct("!IHBB16s16s")


def solicited_node(address: ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    return ipaddress.IPv6Address(b"\xff\x02" + b"\x00" * 9 + b"\x01\xff" + address.packed[13:])


def multicast_mac(group: ipaddress.IPv6Address) -> bytes:
    """RFC 2464: 33:33 followed by the group's last 32 bits."""
    return b"\x33\x33" + group.packed[12:]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _icmpv6_frame(
    src_mac: bytes,
    dst_mac: bytes,
    src: ipaddress.IPv6Address,
    dst: ipaddress.IPv6Address,
    icmp_without_checksum: bytes,
) -> bytes:
    length = len(icmp_without_checksum)
    pseudo = src.packed + dst.packed + struct.pack("!I3xB", length, IPPROTO_ICMPV6)
    checksum = _checksum(pseudo + icmp_without_checksum)
    icmp = icmp_without_checksum[:2] + struct.pack("!H", checksum) + icmp_without_checksum[4:]
    ip_header = IPV6_HEADER.pack(
        6 << 28, length, IPPROTO_ICMPV6, ND_HOP_LIMIT, src.packed, dst.packed
    )
    return _pad(ETHERNET_HEADER.pack(dst_mac, src_mac, ETH_P_IPV6) + ip_header + icmp)


def _solicitation(own_mac: bytes, source: ipaddress.IPv6Address,
                  address: ipaddress.IPv6Address, options: bytes) -> bytes:
    group = solicited_node(address)
    icmp = struct.pack("!BBHI16s", ICMPV6_NEIGHBOUR_SOLICITATION, 0, 0, 0,
                       address.packed) + options
    return _icmpv6_frame(own_mac, multicast_mac(group), source, group, icmp)


def dad_solicitation(own_mac: bytes, address: ipaddress.IPv6Address) -> bytes:
    """RFC 4862 §5.4.2: solicitation from :: to the solicited-node group, no options."""
    return _solicitation(own_mac, UNSPECIFIED_V6, address, b"")


def neighbour_solicitation(
    own_mac: bytes, own_ip: ipaddress.IPv6Address, address: ipaddress.IPv6Address
) -> bytes:
    """RFC 4861 §7.2.2 address resolution: from OWN_IP (this host's link-local address)
    with its source link-layer option; not duplicate detection, so no rival's either."""
    option = struct.pack("!BB6s", ND_OPTION_SOURCE_LINK_ADDRESS, 1, own_mac)
    return _solicitation(own_mac, own_ip, address, option)


def unsolicited_advertisement(own_mac: bytes, address: ipaddress.IPv6Address) -> bytes:
    """RFC 4861 §7.2.6: advertisement to all nodes, Override set, our MAC as option."""
    option = struct.pack("!BB6s", ND_OPTION_TARGET_LINK_ADDRESS, 1, own_mac)
    icmp = struct.pack(
        "!BBHI16s", ICMPV6_NEIGHBOUR_ADVERTISEMENT, 0, 0, NA_FLAG_OVERRIDE, address.packed
    ) + option
    return _icmpv6_frame(own_mac, multicast_mac(ALL_NODES_V6), address, ALL_NODES_V6, icmp)


@dataclass(frozen=True)
class NeighbourPacket:
    icmp_type: int
    source_mac: bytes  # the link-layer address option if present, else the frame's source
    source_ip: ipaddress.IPv6Address
    target: ipaddress.IPv6Address


def parse_neighbour_discovery(frame: bytes) -> NeighbourPacket | None:
    """A neighbour solicitation/advertisement in an Ethernet frame, else None.

    Packets with extension headers before ICMPv6 are ignored: neighbour discovery does
    not use them.
    """
    start = ETHERNET_HEADER.size
    if len(frame) < start + IPV6_HEADER.size + 24:
        return None
    _, frame_source, ethertype = ETHERNET_HEADER.unpack_from(frame)
    if ethertype != ETH_P_IPV6:
        return None
    _, payload_length, next_header, hop_limit, src, _ = IPV6_HEADER.unpack_from(frame, start)
    if next_header != IPPROTO_ICMPV6 or hop_limit != ND_HOP_LIMIT:
        return None
    icmp = frame[start + IPV6_HEADER.size : start + IPV6_HEADER.size + payload_length]
    if len(icmp) < 24 or icmp[0] not in (
        ICMPV6_NEIGHBOUR_SOLICITATION,
        ICMPV6_NEIGHBOUR_ADVERTISEMENT,
    ):
        return None
    source_mac = frame_source
    options = icmp[24:]
    while len(options) >= 8:
        kind, units = options[0], options[1]
        if units == 0:
            break
        if kind in (ND_OPTION_SOURCE_LINK_ADDRESS, ND_OPTION_TARGET_LINK_ADDRESS):
            source_mac = bytes(options[2:8])
        options = options[units * 8 :]
    return NeighbourPacket(
        icmp[0], source_mac, ipaddress.IPv6Address(src), ipaddress.IPv6Address(icmp[8:24])
    )


def neighbour_conflict(
    packet: NeighbourPacket, address: ipaddress.IPv6Address, own_mac: bytes, *,
    probes_count: bool = True,
) -> bytes | None:
    """The MAC of another node claiming ADDRESS, per RFC 4862 §5.4.3 and §5.4.4.

    An advertisement for ADDRESS means someone owns it; a solicitation for it from the
    unspecified address means someone else is running duplicate detection right now
    (a conflict unless PROBES_COUNT is false, as in arp_conflict).
    """
    if packet.source_mac == own_mac or packet.target != address:
        return None
    if packet.icmp_type == ICMPV6_NEIGHBOUR_ADVERTISEMENT:
        return packet.source_mac
    if probes_count and packet.source_ip == UNSPECIFIED_V6:
        return packet.source_mac
    return None
