"""Benchmark on the lab (3 real nodes, no cluster stack): the fire drill of examples/
(3 groups, 11 members, 8 host x group cells, VIP probes included) from n1, 10 times.
Wall clock of `s2s-sd drill` on n1 (start-up included) and the drill's own figure (its
JSON `seconds`). Target (issue 15): well under a few seconds, hosts asked in parallel.

    .venv/bin/python bench/drill.py [--runs 10] [--keep]      (root; boots the lab)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import Lab  # noqa: E402
from tests.lab.conftest import SHARED_DISKS  # noqa: E402
from tests.lab.runtime_support import install_site  # noqa: E402

TARGET_SECONDS = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()
    lab = Lab(cluster=False, disks=SHARED_DISKS)
    lab.up()
    walls, own = [], []
    try:
        install_site(lab)
        for _ in range(args.runs):
            began = time.perf_counter()
            result = lab.exec("n1", ["s2s-sd", "drill", "--json"], check=False)
            walls.append(time.perf_counter() - began)
            report = json.loads(result.stdout)
            if result.returncode != 0:
                failed = [f for f in report["findings"] if f["level"] == "FAIL"]
                print(f"the drill failed: {failed}")
                return 1
            own.append(float(report["seconds"]))
    finally:
        if not args.keep:
            lab.down()
    print(f"s2s-sd drill of examples/ on 3 nodes, {args.runs} runs:")
    print(f"  wall clock on n1      median {statistics.median(walls):5.2f} s   "
          f"(min {min(walls):.2f}, max {max(walls):.2f})")
    print(f"  the drill's own time  median {statistics.median(own):5.2f} s   "
          f"(min {min(own):.2f}, max {max(own):.2f})   target < {TARGET_SECONDS:g} s")
    return 0 if statistics.median(walls) < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
