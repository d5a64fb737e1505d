"""Benchmark on the lab (3 real nodes with corosync/Pacemaker): `s2s-sd move` with the
Pacemaker engine against what an administrator does by hand, on the same group, in the
same cluster, in the same run, alternating:

    s2s-sd move quick --to NODE          (constraint, wait with progress, constraint gone)
    crm_resource --move -r quick -N NODE; poll crm_mon every 0.1 s until every member
    runs on NODE; crm_resource --clear -r quick

The group: a VIP and three exec members (systemd units), as s2s-sd generates them.
Prints both medians and the ratio. Target (issue 7): ratio at most 1.1.

    flock /tmp/s2s-sd-lab.lock .venv/bin/python bench/move_pcmk.py [--moves 10] [--keep]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab import Lab  # noqa: E402

BASEDIR = "/etc/s2s-bench"
VIP = "192.168.77.33"
MEMBERS = ("quick_vip", "quick_a", "quick_b", "quick_c")


def definitions() -> str:
    lines = ['[hostgroup]', 'name = "bench"', 'engine = "pacemaker"',
             'hosts = ["n1", "n2", "n3"]', "",
             "[hosts.n1]", 'address = "192.168.77.11"', "[hosts.n2]",
             'address = "192.168.77.12"', "[hosts.n3]", 'address = "192.168.77.13"', "",
             "[fencing]", "enabled = false", "",
             "[groups.quick]", 'hosts = ["n1", "n2"]', "",
             "[[groups.quick.services]]", 'name = "vip"', 'type = "ip"',
             f'address = "{VIP}/24"', ""]
    for member in ("a", "b", "c"):
        lines += ["[[groups.quick.services]]", f'name = "{member}"', 'type = "exec"',
                  'command = ["/bin/sleep", "infinity"]', ""]
    return "\n".join(lines)


def where(lab: Lab) -> dict[str, str]:
    out = lab.exec("n1", ["crm_mon", "-1", "--output-as=xml"]).stdout
    found: dict[str, str] = {}
    for resource in ET.fromstring(out).iter("resource"):
        rid = resource.get("id", "")
        if rid in MEMBERS and resource.get("role") == "Started":
            node = resource.find("node")
            if node is not None:
                found[rid] = node.get("name", "")
    return found


def wait_on(lab: Lab, target: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = where(lab)
        if len(now) == len(MEMBERS) and set(now.values()) == {target}:
            return
        time.sleep(0.1)
    raise SystemExit(f"quick did not reach {target}: {where(lab)}")


def by_hand(lab: Lab, target: str) -> float:
    start = time.perf_counter()
    lab.exec("n1", ["crm_resource", "--move", "-r", "quick", "-N", target])
    wait_on(lab, target)
    lab.exec("n1", ["crm_resource", "--clear", "-r", "quick"])
    return time.perf_counter() - start


def s2s(lab: Lab, *args: str) -> float:
    start = time.perf_counter()
    result = lab.exec("n1", ["s2s-sd", *args, "--basedir", BASEDIR], check=False, timeout=600)
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"s2s-sd {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=10, help="moves of each kind")
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    args = parser.parse_args()
    lab = Lab(cluster=True)
    t0 = time.perf_counter()
    lab.up()
    print(f"lab up with cluster: {time.perf_counter() - t0:.1f} s")
    try:
        lab.exec("n1", ["sh", "-c", f"mkdir -p {BASEDIR} && cat > {BASEDIR}/s2s.toml"],
                 input=definitions())
        s2s(lab, "sync")
        s2s(lab, "apply", "pacemaker")
        wait_on(lab, "n1")
        ours, theirs = [], []
        for index in range(args.moves):
            # the group alternates n1 -> n2 -> n1; which kind moves first alternates too,
            # so both move in both directions equally often
            if index % 2 == 0:
                ours.append(s2s(lab, "move", "quick", "--to", "n2"))
                theirs.append(by_hand(lab, "n1"))
            else:
                theirs.append(by_hand(lab, "n2"))
                ours.append(s2s(lab, "move", "quick", "--to", "n1"))
        constraints = lab.exec("n1", ["cibadmin", "--query", "--scope", "constraints"]).stdout
        leftovers = "cli-" in constraints
    finally:
        if not args.keep:
            lab.down()
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    ratio = ours_median / theirs_median
    print(f"moves of a 4-member group (VIP + 3 systemd units) between n1 and n2, "
          f"{len(ours)} of each kind:")
    print(f"  s2s-sd move (pacemaker engine)            median {ours_median:6.2f} s   "
          f"(min {min(ours):.2f}, max {max(ours):.2f})")
    print(f"  crm_resource --move, poll crm_mon, --clear  median {theirs_median:6.2f} s   "
          f"(min {min(theirs):.2f}, max {max(theirs):.2f})")
    print(f"  ratio s2s-sd / by hand                    {ratio:6.2f}   (target <= 1.1)")
    print(f"  cli- constraints left behind: {'YES' if leftovers else 'none'}")
    return 0 if ratio <= 1.1 and not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())
