"""Benchmark on the lab (3 real nodes, no cluster stack): `s2s-sd move --force` after the
holder crashed. A 4-member group (VIP, 2 sleeping exec members and a TCP service,
bench/gap_server.py, on the VIP) of hosts n2 and n3 runs on n2; n2 is cut off the network
and its PID 1 killed (a power loss: no clean stop, its ssh connections left open on a dead
peer) and right away, from n1,
`s2s-sd move crash --to n3 --force`. A client in the lab's client namespace connects to
the service every 10 ms and says when it answers again. Then n2 boots again and the group
moves back the normal way for the next round.

Goal (issue 14): a dead host costs one connect timeout per command; the forced move
finishes within connect timeout + 3 s (before: 26.4 s).

    .venv/bin/python bench/move_force.py [--rounds 3] [--keep]   (root; boots the lab)
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from labsite import Client, Site, active_on, arguments, running, server_command

from lab import Lab
from s2s_sd.hosts.transport import CONNECT_TIMEOUT_SECONDS

GOAL_SECONDS = CONNECT_TIMEOUT_SECONDS + 3
GROUP = "crash"
VIP = "192.168.77.41"
PORT = 7070
SITE = Site("forcebench", "/etc/s2s-bench-force", "\n".join([
    f"[groups.{GROUP}]", 'hosts = ["n2", "n3"]', "",
    f"[[groups.{GROUP}.services]]", 'name = "vip"', 'type = "ip"', f'address = "{VIP}/24"',
    "",
    *[line for member in ("a", "b") for line in (
        f"[[groups.{GROUP}.services]]", f'name = "{member}"', 'type = "exec"',
        'command = ["/bin/sleep", "infinity"]', "settle = 0", "")],
    f"[[groups.{GROUP}.services]]", 'name = "server"', 'type = "exec"',
    f"command = {json.dumps(server_command(VIP, PORT))}",
    # ready when it accepts connections, as a real service would declare
    f'ready = {{ tcp = "{VIP}:{PORT}" }}']))
TARGET_UNIT = f"s2s-{GROUP}.target"
SETTLE = 1.0


def forced_move_after_crash(lab: Lab) -> tuple[float, float]:
    """Crash n2 (where the group runs), force the group to n3: (the move's wall clock,
    seconds into the move until the service answered again)."""
    client = Client(lab, VIP, PORT)
    try:
        time.sleep(SETTLE)
        # a crash as a power loss does it: not a word more on the network. A killed
        # container's kernel still closes its TCP connections (n1's shared ssh connection
        # then ends at once); cut off first, n2 leaves that connection open on a dead peer
        lab.partition("n2")
        lab.kill("n2")
        began = time.time()
        elapsed, _ = SITE.run(lab, "move", GROUP, "--to", "n3", "--force")
        time.sleep(SETTLE)
    finally:
        served = client.served()
    where = active_on(lab, TARGET_UNIT)
    if where != ["n3"]:
        raise SystemExit(f"after the forced move {GROUP} is active on {where}, not on n3")
    again = [stamp - began for stamp in served if stamp > began]
    return elapsed, again[0] if again else float("inf")


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times, answered = [], []
    with running(SITE, GROUP, args.keep) as lab:  # the group runs on its first host, n2
        for _ in range(args.rounds):
            elapsed, again = forced_move_after_crash(lab)
            times.append(elapsed)
            answered.append(again)
            print(f"  forced move after the crash of n2: {elapsed:5.2f} s, the service "
                  f"answered {again:5.2f} s into it", flush=True)
            lab.start("n2")
            SITE.run(lab, "move", GROUP, "--to", "n2")
    median = statistics.median(times)
    print(f"move --force after the holder crashed (cut off, then kill -9 of its PID 1), "
          f"{args.rounds} rounds:")
    print(f"  median {median:5.2f} s (min {min(times):.2f}, max {max(times):.2f}); goal "
          f"<= {GOAL_SECONDS} s (connect timeout {CONNECT_TIMEOUT_SECONDS} s + 3 s): "
          f"ratio {max(times) / GOAL_SECONDS:.2f} (max / goal)")
    print(f"  the service answered again {statistics.median(answered):5.2f} s into it "
          f"(median; max {max(answered):.2f})")
    return 0 if max(times) <= GOAL_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
