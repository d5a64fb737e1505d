"""VIPs on a real Ethernet segment: host1, host2 and a client on one bridge.

What the client sees is the proof: it reaches the VIP, its neighbour cache names the
holder's MAC, and after a move the cache flips to the new holder because of the
announcement alone (no flush, no expiry, no traffic from the client in between).
"""

from __future__ import annotations

import ipaddress
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from s2s_sd.engines.net import probed_ahead
from s2s_sd.engines.net.netlink import link_by_name, open_netlink, own_source_address, read_links
from s2s_sd.engines.net.ops import vip_down, vip_status, vip_up, who_answers
from s2s_sd.engines.net.probed_ahead import probing_ahead
from s2s_sd.engines.net.vip import Announce, IPAddress, Probe, Vip, make_vip
from s2s_sd.engines.vip_member import MEMBER_PROBE
from s2s_sd.errors import Refused
from s2s_sd.run import spawn
from tests.netns.netns_lab import Lab

pytestmark = pytest.mark.netns

VIPS = {"ipv4": "10.77.0.50/24", "ipv6": "fd77::50/64"}
QUICK = Announce(count=1, interval=0)


@pytest.fixture(params=sorted(VIPS))
def vip(request: pytest.FixtureRequest) -> Vip:
    return make_vip(VIPS[request.param])


def addresses(lab: Lab, role: str, vip: Vip) -> list[str]:
    """Every address of the VIP's family on ROLE's eth0, as `ip` shows them."""
    family = "-4" if vip.address.version == 4 else "-6"
    out = lab.nodes[role].ip(family, "-o", "addr", "show", "dev", "eth0")
    return [line.split()[3] for line in out.splitlines()]


def test_up_reaches_client_with_holders_mac(segment: Lab, vip: Vip) -> None:
    result = vip_up(vip, netns=segment.host1.path)

    assert (result.action, result.interface, result.announcements) == ("added", "eth0", 5)
    assert vip.text in addresses(segment, "host1", vip)
    assert segment.client.pings(str(vip.ip))
    assert segment.neighbour_mac(str(vip.ip)) == segment.host1.mac
    state = vip_status(vip, netns=segment.host1.path)
    assert (state.present, state.interface) == (True, "eth0")
    assert state.label == ("eth0:vip" if vip.address.version == 4 else None)


def test_up_refused_while_another_host_answers(segment: Lab, vip: Vip) -> None:
    vip_up(vip, netns=segment.host1.path, announce=QUICK)

    refused = segment.host2.s2s_sd("vip", "up", vip.text)

    assert refused.returncode == 3, refused.stderr
    assert segment.host1.mac in refused.stderr
    assert "Traceback" not in refused.stderr
    assert vip.text not in addresses(segment, "host2", vip)
    assert who_answers(vip, netns=segment.host2.path) == segment.host1.mac


def test_move_flips_client_cache_by_announcement_alone(segment: Lab, vip: Vip) -> None:
    ip = str(vip.ip)
    vip_up(vip, netns=segment.host1.path, announce=QUICK)
    assert segment.client.pings(ip)
    assert segment.neighbour_mac(ip) == segment.host1.mac

    vip_down(vip, netns=segment.host1.path)
    # Added without announcing: nothing else may change the client's entry...
    silent = vip_up(vip, netns=segment.host2.path, announce=Announce(count=0))
    assert (silent.action, silent.announcements) == ("added", 0)
    assert segment.neighbour_mac(ip) == segment.host1.mac
    # ...the announcement of an up that finds the address present does.
    again = vip_up(vip, netns=segment.host2.path)
    assert (again.action, again.announcements) == ("already-present", 5)
    assert segment.neighbour_mac(ip) == segment.host2.mac
    assert segment.client.pings(ip)


def test_plain_move_down_then_up(segment: Lab, vip: Vip) -> None:
    ip = str(vip.ip)
    vip_up(vip, netns=segment.host1.path, announce=QUICK)
    assert segment.client.pings(ip)

    down = segment.host1.s2s_sd("vip", "down", vip.text)
    assert down.returncode == 0, down.stderr
    assert segment.neighbour_mac(ip) == segment.host1.mac  # stale, nobody told it yet
    up = segment.host2.s2s_sd("vip", "up", vip.text)
    assert up.returncode == 0, up.stderr

    assert segment.neighbour_mac(ip) == segment.host2.mac
    assert segment.client.pings(ip)


def test_up_and_down_are_idempotent(segment: Lab, vip: Vip) -> None:
    first = vip_up(vip, netns=segment.host1.path, announce=QUICK)
    second = vip_up(vip, netns=segment.host1.path, announce=QUICK)
    assert (first.action, second.action) == ("added", "already-present")
    assert second.announcements == 1
    assert addresses(segment, "host1", vip).count(vip.text) == 1

    gone = vip_down(vip, netns=segment.host1.path)
    again = vip_down(vip, netns=segment.host1.path)
    assert (gone.action, again.action) == ("removed", "absent")
    assert vip.text not in addresses(segment, "host1", vip)
    assert not vip_status(vip, netns=segment.host1.path).present


def test_netns_given_as_proc_pid_path(segment: Lab) -> None:
    """The runtime reaches lab nodes through /proc/PID/ns/net of a process inside."""
    holder = spawn(["ip", "netns", "exec", segment.host1.netns, "sleep", "30"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        wait_until_in_namespace(path, segment.host1.path)
        vip = make_vip(VIPS["ipv4"])
        vip_up(vip, netns=path, announce=QUICK)
        assert vip.text in addresses(segment, "host1", vip)
        vip_down(vip, netns=path)
        assert vip.text not in addresses(segment, "host1", vip)
    finally:
        holder.kill()
        holder.wait()


def wait_until_in_namespace(path: str, netns: str) -> None:
    """`ip netns exec` enters the namespace, then execs: wait for that to have happened."""
    deadline = time.monotonic() + 5
    while os.stat(path).st_ino != os.stat(netns).st_ino:
        assert time.monotonic() < deadline, f"{path} never entered {netns}"
        time.sleep(0.01)


def test_interface_found_by_longest_connected_route(segment: Lab) -> None:
    host = segment.host1
    host.ip("link", "add", "eth1", "type", "veth", "peer", "name", "eth1peer")
    for name in ("eth1", "eth1peer"):
        host.ip("link", "set", name, "up")
    host.ip("addr", "add", "10.77.0.129/25", "dev", "eth1")  # narrower than eth0's /24
    vip = make_vip("10.77.0.150/25")

    result = vip_up(vip, netns=host.path, announce=QUICK)

    assert (result.interface, result.label) == ("eth1", "eth1:vip")
    wide = vip_up(make_vip("10.77.0.60/24"), netns=host.path, announce=QUICK)
    assert wide.interface == "eth0"


def test_same_address_with_other_prefix_is_not_touched(segment: Lab) -> None:
    host = segment.host1
    host.ip("addr", "add", "10.77.0.50/32", "dev", "eth0")
    vip = make_vip(VIPS["ipv4"])

    state = vip_status(vip, netns=host.path)
    assert (state.present, state.held_as) == (False, "10.77.0.50/32")
    up = host.s2s_sd("vip", "up", vip.text)
    down = host.s2s_sd("vip", "down", vip.text)

    assert (up.returncode, down.returncode) == (3, 3), (up.stderr, down.stderr)
    assert "10.77.0.50/32" in host.ip("-4", "addr", "show", "dev", "eth0")


def test_a_checkers_question_is_no_rival_to_a_probe(segment: Lab, vip: Vip) -> None:
    """The watcher asks about the VIPs of the groups active on its host every round. A
    move stops such a group and starts it elsewhere at any moment of that round, and the
    target probes for the address before taking it: the watcher's question must not look
    like a rival claim there (it did when the watcher probed, and the move refused)."""
    asking = Probe(count=2, interval=0.05, wait=0.05)

    def host1_asks_while_host2_probes(checking_among: frozenset[IPAddress] | None
                                      ) -> tuple[str | None, str | None]:
        """What host1 heard, what host2's probe (0.3 s) heard."""
        with ThreadPoolExecutor(1) as pool:
            probed = pool.submit(who_answers, vip, netns=segment.host2.path)
            time.sleep(0.05)
            asked = who_answers(vip, netns=segment.host1.path, probe=asking,
                                checking_among=checking_among)
            return asked, probed.result()

    # nobody holds the address: neither hears a claim (host2's probe is none to a checker)
    assert host1_asks_while_host2_probes(frozenset({vip.ip})) == (None, None)
    # the same exchange with host1 probing, as the watcher did: host2 hears a rival
    assert host1_asks_while_host2_probes(None)[1] == segment.host1.mac


def test_a_checker_still_hears_a_rogue_holder(segment: Lab, vip: Vip) -> None:
    vip_up(vip, netns=segment.host2.path, announce=QUICK)

    assert who_answers(vip, netns=segment.host1.path,
                       checking_among={vip.ip}) == segment.host2.mac


def test_a_checker_asks_from_a_plain_address_of_its_own(segment: Lab) -> None:
    """Not from a labelled address (a VIP s2s-sd added), not from one of the host
    group's VIPs (it may be moving), and only from one in the VIP's subnet (a holder with
    rp_filter or arp_ignore=2 would not answer another)."""
    vip = make_vip(VIPS["ipv4"])
    segment.host1.ip("addr", "add", "10.77.0.60/24", "dev", "eth0", "label", "eth0:vip")
    segment.host1.ip("addr", "add", "10.77.0.61/24", "dev", "eth0")
    segment.host1.ip("addr", "add", "10.88.0.11/24", "dev", "eth0")
    avoid = {ipaddress.IPv4Address("10.77.0.61"), vip.ip}
    with open_netlink(segment.host1.path) as ipr:
        links = read_links(ipr)
        link = link_by_name(links, "eth0")
        assert str(own_source_address(ipr, links, link, vip, avoid)) == segment.host1.ipv4
        segment.host1.ip("addr", "del", f"{segment.host1.ipv4}/24", "dev", "eth0")
        # only VIPs and an address of another subnet left: none to ask from (it probes)
        assert own_source_address(ipr, links, link, vip, avoid) is None


def test_a_probe_made_ahead_spares_the_members_own(
        segment: Lab, vip: Vip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent starting a group probes its VIP while the member's program starts; the
    member takes that (nobody answered) and adds the address without probing again."""
    monkeypatch.setenv("S2S_SD_RUNDIR", str(tmp_path))
    with probing_ahead([vip], MEMBER_PROBE, netns=segment.host2.path):
        note = probed_ahead.take(vip)  # the probe still runs: waited for
        result = vip_up(vip, netns=segment.host2.path, announce=QUICK, probe=MEMBER_PROBE,
                        probed_ahead=note)
    assert note is not None and result.action == "added"
    assert result.probe_seconds < 0.01 and result.probed_ahead == note
    assert segment.client.pings(str(vip.ip))
    assert list(tmp_path.joinpath(probed_ahead.RECORD_DIR).iterdir()) == []


def test_a_probe_made_ahead_that_hears_the_holder_clears_nothing(
        segment: Lab, vip: Vip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_RUNDIR", str(tmp_path))
    vip_up(vip, netns=segment.host1.path, announce=QUICK)
    with probing_ahead([vip], MEMBER_PROBE, netns=segment.host2.path):
        assert probed_ahead.take(vip) is None
    # so the member probes itself, hears the holder, and refuses
    with pytest.raises(Refused, match=segment.host1.mac):
        vip_up(vip, netns=segment.host2.path, probe=MEMBER_PROBE,
               probed_ahead=probed_ahead.take(vip))
    assert vip.text not in addresses(segment, "host2", vip)
