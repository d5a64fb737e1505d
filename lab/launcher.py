"""Start a lab node's systemd-nspawn from a cgroup of its own (run as a script, not imported).

    python lab/launcher.py --cgroup DIR [--cgroup DIR ...] -- ARGV...

With --keep-unit, nspawn creates `payload` and `supervisor` below the cgroup it was started
in. Two nspawns started from one cgroup share that tree, and stopping one can kill the
other's processes, so each launcher first moves itself into its node's own cgroup (in every
hierarchy that matters) and only then execs nspawn: the move happens before nspawn exists,
so there is no window in which it runs in the shared cgroup. It also starts a new session
so that a Ctrl-C in the terminal of `python -m lab up` or pytest does not reach the nodes;
their teardown is the lab driver's job.

This is a script run by path with only the standard library, so it works whatever the
current directory and sys.path are.
"""

from __future__ import annotations

import os
import sys


def main(args: list[str]) -> None:
    if "--" not in args:
        sys.exit("usage: launcher.py --cgroup DIR ... -- ARGV...")
    split = args.index("--")
    options, argv = args[:split], args[split + 1 :]
    cgroups = [options[i + 1] for i, word in enumerate(options) if word == "--cgroup"]
    if not argv or len(cgroups) * 2 != len(options):
        sys.exit("usage: launcher.py --cgroup DIR ... -- ARGV...")
    os.setsid()
    for cgroup in cgroups:
        os.makedirs(cgroup, exist_ok=True)
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
