"""Benchmark (issue 14 goal 6) inside one lab node: starting and stopping units and
resetting their failed state through `systemctl` processes vs. over D-Bus in-process
(pystemd, engines/systemd/units.py unit_jobs), on units that start and stop at once, so what
is measured is the cost of the call itself.

    .venv/bin/python bench/systemd_jobs.py [--rounds 50]   (root; boots the lab, no cluster)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import Lab  # noqa: E402

UNITS = ("bench-j1.service", "bench-j2.service", "bench-j3.service")

# run in the node with the repo's venv: times each way ROUNDS times, prints medians
PROBE = """
import statistics, sys, time
from s2s_sd.engines.systemd.units import reset_failed, systemctl, unit_jobs
from s2s_sd.run import run
units, rounds = sys.argv[1].split(","), int(sys.argv[2])
def timed(action):
    began = time.perf_counter(); action(); return time.perf_counter() - began
ways = {
  "systemctl start+stop": lambda: (systemctl("start", units, 30), systemctl("stop", units, 30)),
  "D-Bus start+stop": lambda: (unit_jobs("start", units, 30), unit_jobs("stop", units, 30)),
  "systemctl reset-failed": lambda: run(["systemctl", "reset-failed", *units], check=False),
  "D-Bus reset-failed": lambda: reset_failed(units),
}
for name, action in ways.items():
    times = [timed(action) for _ in range(rounds)]
    print(f"{name:<24} median {statistics.median(times) * 1000:7.1f} ms  "
          f"max {max(times) * 1000:7.1f} ms")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    lab = Lab()
    lab.up()
    try:
        for unit in UNITS:
            lab.exec("n1", ["sh", "-c", "printf '[Service]\\nType=oneshot\\nRemainAfterExit=yes"
                            f"\\nExecStart=/bin/true\\n' > /etc/systemd/system/{unit}"])
        lab.exec("n1", ["systemctl", "daemon-reload"])
        result = lab.exec("n1", [str(REPO / ".venv/bin/python"), "-c", PROBE,
                                 ",".join(UNITS), str(args.rounds)], timeout=600)
        print(result.stdout, end="")
    finally:
        lab.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
