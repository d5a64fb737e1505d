"""Benchmark on the lab (3 real nodes, no cluster stack): the client-visible gap of a move.

A real TCP service (bench/gap_server.py: greets each connection, closes its listening
socket on SIGTERM) is the exec member of group `tcp`, bound to the group's VIP. A client
in the lab's client namespace (bench/gap_client.py) connects to VIP:port every 10 ms and
keeps the time of every connection served. The group moves n1 <-> n2 `--moves` times; the
gap of a move is the longest interval without a served connection, from the last one
before the move to the first one after `s2s-sd move` returned (or later, if the service
answers only then).

The floor, in the same run: that service's own stop + start on one node: the same server
as a plain unit (bound to the same VIP, on another port), `systemctl stop` + `systemctl
start` of it on the VIP's holder after each move, seen by a second client the same way.

Goal (issue 14): median gap <= median floor + 0.5 s; the exit code says whether it is met.

    .venv/bin/python bench/move_gap.py [--moves 6] [--keep]      (root; boots the lab)
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from labsite import Client, Site, arguments, running, server_command

from lab import Lab

GOAL_MARGIN = 0.5
GROUP = "tcp"
VIP = "192.168.77.42"
PORT = 7070
FLOOR_PORT = 7071
FLOOR_UNIT = "gap-floor.service"
SETTLE = 1.0  # seconds of steady service before and after each measured event

SITE = Site("gapbench", "/etc/s2s-bench-gap", "\n".join([
    f"[groups.{GROUP}]", 'hosts = ["n1", "n2"]', "",
    f"[[groups.{GROUP}.services]]", 'name = "vip"', 'type = "ip"', f'address = "{VIP}/24"',
    "",
    f"[[groups.{GROUP}.services]]", 'name = "server"', 'type = "exec"',
    f"command = {json.dumps(server_command(VIP, PORT))}",
    # ready when it accepts connections, as a real service would declare
    f'ready = {{ tcp = "{VIP}:{PORT}" }}']))


@dataclass(frozen=True)
class Event:
    """A measured interruption: when the command that causes it began and returned."""

    began: float
    ended: float


def gap(served: Sequence[float], event: Event) -> float:
    """The longest interval without a served connection, from the last one before the
    event to the first one after it returned (inf when either is missing)."""
    before = [s for s in served if s <= event.began]
    after = [s for s in served if s >= event.ended]
    if not before or not after:
        return float("inf")
    window = [s for s in served if before[-1] <= s <= after[0]]
    return max(b - a for a, b in pairwise(window))


def timed(lab: Lab, node: str, argv: Sequence[str]) -> Event:
    began = time.time()
    lab.exec(node, argv)
    return Event(began, time.time())


def install_floor_unit(lab: Lab) -> None:
    unit = f"[Service]\nType=exec\nExecStart={shlex.join(server_command(VIP, FLOOR_PORT))}\n"
    for node in ("n1", "n2"):
        lab.exec(node, ["sh", "-c", f"cat > /run/systemd/system/{FLOOR_UNIT} && "
                                    "systemctl daemon-reload"], input=unit)


def measure(lab: Lab, moves: int) -> tuple[list[float], list[float]]:
    """(gaps of the moves, gaps of the floor's stop + start), in seconds."""
    move_client, floor_client = Client(lab, VIP, PORT), Client(lab, VIP, FLOOR_PORT)
    move_events, floor_events = [], []
    holder = "n1"
    try:
        for _ in range(moves):
            time.sleep(SETTLE)
            holder = "n2" if holder == "n1" else "n1"
            move_events.append(timed(lab, "n1", ["s2s-sd", "move", GROUP, "--to", holder,
                                                 "--basedir", SITE.basedir]))
            lab.exec(holder, ["systemctl", "start", FLOOR_UNIT])
            time.sleep(SETTLE)
            floor_events.append(timed(lab, holder, [
                "sh", "-c", f"systemctl stop {FLOOR_UNIT} && systemctl start {FLOOR_UNIT}"]))
            time.sleep(SETTLE)
            lab.exec(holder, ["systemctl", "stop", FLOOR_UNIT])
        time.sleep(SETTLE)
    finally:
        served, floor_served = move_client.served(), floor_client.served()
    return ([gap(served, e) for e in move_events],
            [gap(floor_served, e) for e in floor_events])


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--moves", type=int, default=6)
    args = parser.parse_args()
    with running(SITE, GROUP, args.keep) as lab:  # the group runs on its first host, n1
        install_floor_unit(lab)
        gaps, floors = measure(lab, args.moves)
    gap_median, floor = statistics.median(gaps), statistics.median(floors)
    goal = floor + GOAL_MARGIN
    print(f"client-visible gap of a TCP service behind its VIP, a client connecting every "
          f"10 ms, {args.moves} moves n1 <-> n2:")
    print(f"  move gap        median {gap_median:5.2f} s   (min {min(gaps):.2f}, "
          f"max {max(gaps):.2f})")
    print(f"  floor (its own systemctl stop + start on one node) median {floor:5.2f} s   "
          f"(min {min(floors):.2f}, max {max(floors):.2f})")
    print(f"  goal: gap <= floor + {GOAL_MARGIN} s = {goal:.2f} s; gap - floor "
          f"{gap_median - floor:+.2f} s, ratio gap / goal {gap_median / goal:.2f}")
    return 0 if gap_median <= goal else 1


if __name__ == "__main__":
    sys.exit(main())
