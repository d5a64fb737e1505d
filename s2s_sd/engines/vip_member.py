"""A group's ip member brought up, checked and taken down in the process that runs it.

`s2s-sd member run GROUP MEMBER` (the member's main process, hosts/health.py) calls these
instead of starting `s2s-sd vip up|status --check GROUP SERVICE` as programs: the same
calls with the same settings (probe, announcements, migration take-over), minus two
Python starts on the way to the member being ready, and one every monitor interval; at
SIGTERM it takes the VIP down itself, and the unit runs `s2s-sd vip down GROUP SERVICE`
(ExecStopPost=) only when that process could not (it died, failed, or the member failed).
What each one did goes to the unit's journal in the words `s2s-sd vip` uses.
"""

from __future__ import annotations

from s2s_sd.engines.net import probed_ahead
from s2s_sd.engines.net.migrate_note import migrate_note_fresh
from s2s_sd.engines.net.ops import vip_down, vip_status, vip_up
from s2s_sd.engines.net.vip import Probe, Vip, VipResult, vip_for_service
from s2s_sd.model import Definitions

# The duplicate check before a group's VIP is added (also `s2s-sd vip up`'s default): 3
# probes 50 ms apart, answers awaited 50 ms after the last, 0.15 s in all (it was 0.3 s).
# Measured in the lab while other work loaded the machine (300 ARP probes n3 -> n1, 20 ms
# apart, framed as this probe frames them): the owner answered all 300 within 0.28 ms
# (median 0.11 ms), so the last probe's answer still has 175 times that, and three
# probes still ride out a lost one. When a group's VIPs lead it, this probe is the only
# one of a move (the admin's verify step skips its own: move_plan.py), so it is not cut
# further; the agent starting the group makes it ahead, while the member's program
# starts (engines/net/probed_ahead.py), which takes it out of the move's time instead.
MEMBER_PROBE = Probe(count=3, interval=0.05, wait=0.05)


def result_line(result: VipResult) -> str:
    """What `vip up|down` says it did, on one line (the journal, the terminal)."""
    where = f" on {result.interface}" + (f" ({result.label})" if result.label else "")
    messages = {
        "added": f"{result.address} added{where}",
        "already-present": f"{result.address} already up{where}",
        "removed": f"{result.address} removed{where}",
        "absent": f"{result.address} was not up here",
    }
    line = messages[result.action]
    if result.announcements:
        line += f"; announced {result.announcements} times"
    if result.hostname:
        state = "updated" if result.hosts_file_changed else "unchanged"
        line += f"; alias {result.hostname} {state}"
    return line


def journal_line(result: VipResult) -> str:
    """result_line with where the time went, for the member's journal (what a move's
    start spends in the probe is the first thing to look at)."""
    spent = f" in {result.total_seconds:.3f} s"
    if result.action == "added":
        probe = (result.probed_ahead if result.probed_ahead
                 else f"probe {result.probe_seconds:.3f} s")
        spent += f" ({probe}, announce {result.announce_seconds:.3f} s)"
    return result_line(result) + spent


def take_over(vip: Vip) -> bool:
    """Whether `up` takes over an address s2s-sd did not add: only a group's VIP, while a
    migration from the cluster hands over its IPaddr2 address (migrate_note_fresh)."""
    return vip.owner is not None and migrate_note_fresh()


def up(defs: Definitions, group: str, service: str) -> VipResult:
    """`s2s-sd vip up GROUP SERVICE`: probe, add, first announcement, alias."""
    wanted = vip_for_service(defs, group, service)
    # the agent starting the group may have probed already (engines/net/probed_ahead.py)
    return vip_up(wanted, probe=MEMBER_PROBE, take_over=take_over(wanted),
                  probed_ahead=probed_ahead.take(wanted))


def present(defs: Definitions, group: str, service: str) -> bool:
    """`s2s-sd vip status --check GROUP SERVICE` exiting 0: the VIP is up here."""
    return vip_status(vip_for_service(defs, group, service)).present


def down(defs: Definitions, group: str, service: str) -> VipResult:
    """`s2s-sd vip down GROUP SERVICE` (a start that failed half way takes it down)."""
    return vip_down(vip_for_service(defs, group, service))
