"""The frames of packets.py, parsed back, and which of them count as a rival's claim of an
address: the duplicate probe and any answer do, a checker's plain question does not (so
the watcher asking about a VIP never makes a move's target refuse)."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from s2s_sd.engines.net import packets

pytestmark = pytest.mark.unit

OURS = bytes.fromhex("525400000001")
THEIRS = bytes.fromhex("525400000002")
VIP4 = ipaddress.IPv4Address("192.168.77.22")
HOST4 = ipaddress.IPv4Address("192.168.77.12")
VIP6 = ipaddress.IPv6Address("fd77::22")
LINK_LOCAL = ipaddress.IPv6Address("fe80::5054:ff:fe00:2")


def arp(frame: bytes) -> packets.ArpPacket:
    parsed = packets.parse_arp(frame)
    assert parsed is not None
    return parsed


def nd(frame: bytes) -> packets.NeighbourPacket:
    parsed = packets.parse_neighbour_discovery(frame)
    assert parsed is not None
    return parsed


def test_arp_frames_parse_back() -> None:
    probe = arp(packets.arp_probe(THEIRS, VIP4))
    assert (probe.op, probe.sender_mac, probe.sender_ip, probe.target_ip) == (
        packets.ARP_REQUEST, THEIRS, ipaddress.IPv4Address(0), VIP4)
    question = arp(packets.arp_request(THEIRS, HOST4, VIP4))
    assert (question.sender_ip, question.target_ip) == (HOST4, VIP4)
    announcement = arp(packets.arp_announcement(THEIRS, VIP4))
    assert announcement.sender_ip == announcement.target_ip == VIP4
    assert len(packets.arp_request(THEIRS, HOST4, VIP4)) == packets.MIN_FRAME


@pytest.mark.parametrize(("frame", "rival"), [
    (packets.arp_probe(THEIRS, VIP4), True),  # both probing at once: RFC 5227 §2.1.1
    (packets.arp_announcement(THEIRS, VIP4), True),
    (packets.arp_request(THEIRS, HOST4, VIP4), False),  # a checker's question
    (packets.arp_probe(OURS, VIP4), False),  # our own
    (packets.arp_probe(THEIRS, ipaddress.IPv4Address("192.168.77.23")), False),
], ids=["probe", "announcement", "question", "own-probe", "other-address"])
def test_which_arp_frames_claim_the_address(frame: bytes, rival: bool) -> None:
    assert (packets.arp_conflict(arp(frame), VIP4, OURS) == THEIRS) is rival


def test_an_arp_reply_from_the_holder_is_a_claim() -> None:
    reply = packets.ArpPacket(packets.ARP_REPLY, THEIRS, VIP4, HOST4)
    assert packets.arp_conflict(reply, VIP4, OURS) == THEIRS


def test_neighbour_solicitation_from_link_local_carries_its_mac() -> None:
    question = nd(packets.neighbour_solicitation(THEIRS, LINK_LOCAL, VIP6))
    assert question.icmp_type == packets.ICMPV6_NEIGHBOUR_SOLICITATION
    assert (question.source_ip, question.target, question.source_mac) == (
        LINK_LOCAL, VIP6, THEIRS)
    frame = packets.neighbour_solicitation(THEIRS, LINK_LOCAL, VIP6)
    destination, _, _ = packets.ETHERNET_HEADER.unpack_from(frame)
    assert destination == packets.multicast_mac(packets.solicited_node(VIP6))


def test_icmpv6_checksums_verify() -> None:
    for frame in (packets.neighbour_solicitation(THEIRS, LINK_LOCAL, VIP6),
                  packets.dad_solicitation(THEIRS, VIP6),
                  packets.unsolicited_advertisement(THEIRS, VIP6)):
        start = packets.ETHERNET_HEADER.size
        _, length, _, _, src, dst = packets.IPV6_HEADER.unpack_from(frame, start)
        icmp = frame[start + packets.IPV6_HEADER.size:][:length]
        pseudo = src + dst + struct.pack("!I3xB", length, packets.IPPROTO_ICMPV6)
        # a correct checksum makes the one's-complement sum over everything 0xffff
        assert packets._checksum(pseudo + icmp) == 0


@pytest.mark.parametrize(("frame", "rival"), [
    (packets.dad_solicitation(THEIRS, VIP6), True),
    (packets.unsolicited_advertisement(THEIRS, VIP6), True),
    (packets.neighbour_solicitation(THEIRS, LINK_LOCAL, VIP6), False),
    (packets.dad_solicitation(OURS, VIP6), False),
], ids=["dad", "advertisement", "question", "own-dad"])
def test_which_neighbour_frames_claim_the_address(frame: bytes, rival: bool) -> None:
    assert (packets.neighbour_conflict(nd(frame), VIP6, OURS) == THEIRS) is rival


def test_a_checker_counts_answers_not_probes() -> None:
    assert packets.arp_conflict(arp(packets.arp_probe(THEIRS, VIP4)), VIP4, OURS,
                                probes_count=False) is None
    assert packets.arp_conflict(arp(packets.arp_announcement(THEIRS, VIP4)), VIP4, OURS,
                                probes_count=False) == THEIRS
    assert packets.neighbour_conflict(nd(packets.dad_solicitation(THEIRS, VIP6)), VIP6, OURS,
                                      probes_count=False) is None
    advertisement = nd(packets.unsolicited_advertisement(THEIRS, VIP6))
    assert packets.neighbour_conflict(advertisement, VIP6, OURS, probes_count=False) == THEIRS
