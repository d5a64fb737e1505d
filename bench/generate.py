"""Benchmark: check + generate systemd for a synthetic host group of 1,000 groups x 8
services. Prints wall time, peak RSS and the ratio to the 3 s target (issue 2).

    .venv/bin/python bench/generate.py [--groups N] [--services N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner
from synthetic import write_hostgroup

from s2s_sd.cli import main

TARGET_SECONDS = 3.0

def main_bench() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--services", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3,
                        help="repeat and report the median (the disk is shared)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        write_hostgroup(base, args.groups, args.services)
        runner = CliRunner()
        rounds: dict[str, list[float]] = {"check": [], "generate systemd": []}
        for number in range(args.rounds):
            for label, argv in (
                ("check", ["check", "--basedir", str(base), "--host", "h1"]),
                ("generate systemd", ["generate", "systemd", "--basedir", str(base), "--host",
                                      "h1", "--out", str(Path(tmp) / f"out{number}")]),
            ):
                start = time.perf_counter()
                result = runner.invoke(main, argv)
                rounds[label].append(time.perf_counter() - start)
                if result.exit_code != 0:
                    print(result.output, result.stderr, file=sys.stderr)
                    return 1
        files = sum(1 for p in (Path(tmp) / "out0").rglob("*") if p.is_file())
    timings = {label: statistics.median(values) for label, values in rounds.items()}
    totals = [c + g for c, g in zip(rounds["check"], rounds["generate systemd"], strict=True)]
    total = statistics.median(totals)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"host group: {args.groups} groups x {args.services} services; {files} files written; "
          f"median of {args.rounds} rounds (all totals: "
          + ", ".join(f"{t:.2f}" for t in totals) + " s)")
    for label, seconds in timings.items():
        print(f"  {label:18s} {seconds:6.2f} s")
    print(f"  {'total':18s} {total:6.2f} s   target {TARGET_SECONDS:.1f} s   "
          f"ratio to target {total / TARGET_SECONDS:.2f}")
    print(f"  peak RSS {peak_mib:.0f} MiB")
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main_bench())
