"""Benchmark on the lab (3 real nodes, no cluster stack): the latency of `s2s-sd status`
for 100 groups on 3 hosts (issue 6: under 1 s; issue 14's prove-it line).

The groups are bench/move.py's: `quick` (a VIP and three exec members) and 99 groups of
one exec member each, whose host lists start on n1, n2 and n3 in turn. `quick` runs on
n1 and `--running N` more groups are started (each on its first host), so that every host
has running members whose restarts and last failures status asks for. `status` runs on
n1 (the admin host) `--runs` times; the wall clock of each run is measured from the lab
host, as bench/move.py measures it.

Printed: the median and the spread over the runs and the ratio to the 1 s target; the
exit code is 1 when the median misses it. `--program P` measures another s2s-sd (on n1
and, as S2S_SD_REMOTE_COMMAND, on the other hosts): e.g. an older tree exported below the
repository, which the nodes see, with a script that runs it, to compare before and after
in one lab. `--timings` prints one more run's `status --timings` at the end.

    .venv/bin/python bench/status.py [--runs 10] [--running 9] [--program P] [--timings]
                                     [--keep]                      (root; boots the lab)
"""

from __future__ import annotations

import statistics
import sys
import time

from labsite import ADMIN, NODES, Site, arguments, running
from move import S2S_VIP, STATUS_GROUPS, exec_member

GOAL_STATUS_SECONDS = 1.0  # issue 6
BASEDIR = "/etc/s2s-status-bench"


def idle_group(index: int) -> str:
    """One of the idle groups: one exec member, its host list rotated so that the groups
    started by --running spread over the hosts."""
    name = f"idle{index:02d}"
    rotated = [NODES[(index + k) % len(NODES)] for k in range(len(NODES))]
    hosts = ", ".join(f'"{h}"' for h in rotated)
    return "\n".join([f"[groups.{name}]", f"hosts = [{hosts}]", "",
                      *exec_member(name, "app")])


def groups_toml() -> str:
    lines = ["[groups.quick]", 'hosts = ["n1", "n2"]', "",
             "[[groups.quick.services]]", 'name = "vip"', 'type = "ip"',
             f'address = "{S2S_VIP}/24"', ""]
    for member in ("a", "b", "c"):
        lines += exec_member("quick", member)
    lines += [idle_group(index) for index in range(STATUS_GROUPS - 1)]
    return "\n".join(lines)


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--running", type=int, default=9,
                        help="idle groups started besides quick (spread over the hosts)")
    parser.add_argument("--program", help="the s2s-sd to measure (default: the lab's)")
    parser.add_argument("--timings", action="store_true",
                        help="at the end, one more run with `status --timings`")
    args = parser.parse_args()
    status = ["s2s-sd", "status", "--basedir", BASEDIR]
    if args.program:
        status = ["env", f"S2S_SD_REMOTE_COMMAND={args.program}", args.program, *status[1:]]
    site = Site("statusbench", BASEDIR, groups_toml())
    with running(site, "quick", args.keep) as lab:
        for index in range(args.running):
            site.run(lab, "start", f"idle{index:02d}")
        lab.exec(ADMIN, status, check=False)  # the first: ssh masters, page cache
        times = []
        for _ in range(args.runs):
            began = time.perf_counter()
            result = lab.exec(ADMIN, status, check=False, timeout=300)
            times.append(time.perf_counter() - began)
            if result.returncode not in (0, 1):  # 1: an alarm, still a full answer
                raise SystemExit(f"s2s-sd status failed (exit {result.returncode}): "
                                 f"{result.stdout}{result.stderr}")
        lines = len(result.stdout.splitlines())
        if args.timings:
            shown = lab.exec(ADMIN, [*status, "--timings"], check=False, timeout=300).stdout
            print(shown[shown.find("timings:"):], end="")
    median = statistics.median(times)
    ratio = median / GOAL_STATUS_SECONDS
    print(f"{args.program or 's2s-sd'} status, {STATUS_GROUPS} groups on {len(NODES)} hosts, "
          f"{1 + args.running} running, {args.runs} runs ({lines} lines printed): "
          f"median {median:.2f} s "
          f"(min {min(times):.2f}, max {max(times):.2f})")
    print(f"  ratio to the {GOAL_STATUS_SECONDS:.0f} s target {ratio:.2f}   "
          f"({'met' if ratio <= 1 else 'MISSED'})")
    return 0 if ratio <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
