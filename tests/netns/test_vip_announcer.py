"""The announcements after the first go out from a background process (engines/
announcer.py): `vip up` returns after the first, the client still hears all of them,
`vip down` ends the announcer before it removes the address, and an announcer whose
address was taken away by someone else stops instead of announcing it.

What the client's interface receives is the proof (a packet socket in its namespace)."""

from __future__ import annotations

import ipaddress
import socket
import time

import pytest

from s2s_sd.engines.net import announcer, netlink, packets, wire
from s2s_sd.engines.net.ops import vip_down, vip_up
from s2s_sd.engines.net.vip import Announce, make_vip
from tests.netns.netns_lab import Lab

pytestmark = pytest.mark.netns

VIP = make_vip("10.77.0.70/24")
PACED = Announce(count=5, interval=0.2)


def listen(lab: Lab) -> socket.socket:
    return wire.packet_socket(lab.client.path, "eth0", packets.ETH_P_ARP)


def heard(sock: socket.socket, mac: str, seconds: float) -> list[float]:
    """When (monotonic) the client heard MAC announce VIP, within SECONDS from now."""
    times: list[float] = []
    until = time.monotonic() + seconds
    while (remaining := until - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            frame = sock.recv(2048)
        except TimeoutError:
            break
        arp = packets.parse_arp(frame)
        if arp and arp.sender_ip == arp.target_ip == ipaddress.IPv4Address("10.77.0.70") \
                and packets.mac_text(arp.sender_mac) == mac:
            times.append(time.monotonic())
    return times


def pidfile(lab: Lab) -> announcer.Path:
    return announcer.pid_path(netlink.netns_id(lab.host1.path), "10.77.0.70")


def test_up_returns_after_the_first_announcement_and_the_rest_follow(segment: Lab) -> None:
    sock = listen(segment)
    try:
        began = time.monotonic()
        result = vip_up(VIP, netns=segment.host1.path, announce=PACED)
        returned = time.monotonic()
        times = heard(sock, segment.host1.mac, 1.5)
    finally:
        sock.close()
        vip_down(VIP, netns=segment.host1.path)
    assert result.announcements == 5
    assert result.announce_seconds < 0.15, result  # not 4 x 200 ms
    assert returned - began < 0.8  # the probe (0.3 s), the add and one announcement
    assert len(times) == 5, times
    assert times[-1] - returned > 0.6  # the last ones came after up had returned


def up_with_announcer(lab: Lab) -> socket.socket:
    """The VIP up on host1 with its announcer running; the client listening."""
    vip_up(VIP, netns=lab.host1.path, announce=PACED)
    assert announcer.running(pidfile(lab)) is not None
    return listen(lab)


def test_down_ends_the_announcer_before_the_address_goes(segment: Lab) -> None:
    sock = up_with_announcer(segment)
    try:
        vip_down(VIP, netns=segment.host1.path)
        after_down = heard(sock, segment.host1.mac, 1.0)
    finally:
        sock.close()
    assert after_down == []
    assert announcer.running(pidfile(segment)) is None
    assert not pidfile(segment).exists()


def test_an_announcer_stops_when_the_address_is_taken_away(segment: Lab) -> None:
    sock = up_with_announcer(segment)
    try:
        segment.host1.ip("addr", "del", VIP.text, "dev", "eth0")
        removed = time.monotonic()
        after = heard(sock, segment.host1.mac, 1.0)
    finally:
        sock.close()
        vip_down(VIP, netns=segment.host1.path)
    # an announcement already on its way when the address went may arrive; none later
    assert all(t - removed < 0.05 for t in after), [t - removed for t in after]
    assert announcer.running(pidfile(segment)) is None


def test_a_new_up_replaces_the_announcer(segment: Lab) -> None:
    vip_up(VIP, netns=segment.host1.path, announce=PACED)
    first = announcer.running(pidfile(segment))
    again = vip_up(VIP, netns=segment.host1.path, announce=PACED)
    second = announcer.running(pidfile(segment))
    vip_down(VIP, netns=segment.host1.path)
    assert again.action == "already-present"
    assert first is not None and second is not None and first != second
    assert announcer.running(pidfile(segment)) is None
