"""Benchmark on the lab (3 real nodes with corosync/Pacemaker): `s2s-sd move` with the
Pacemaker engine against what an administrator does by hand, on the same group, in the
same cluster, in the same run, alternating:

    s2s-sd move quick --to NODE          (constraint, wait with progress, constraint gone)
    crm_resource --move -r quick -N NODE; poll crm_mon every 0.1 s until every member
    runs on NODE; crm_resource --clear -r quick
    s2s-sd move classic --to NODE        the same group as s2s-sd generated it before
                                         issue 14: members of Pacemaker's systemd: class

The groups: a VIP and three exec members (systemd units), as s2s-sd generates them
(ocf:s2s:unit); `classic` is rewritten in the CIB to `systemd:UNIT` after apply.
Prints the medians and ratios. Targets: the s2s-sd move at most 2.5 s (issue 14: 13.5 s
with the systemd: class); what s2s-sd adds to the hand-made move at most 10 % of it or
0.5 s, whichever is more (issue 7 set 10 % when moves took 13 s; at 1.5 s the fixed cost
of its start and pre-move checks, ~0.2 s, is what remains to compare).

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
CLASSIC_VIP = "192.168.77.34"
MEMBERS = ("quick_vip", "quick_a", "quick_b", "quick_c")
CLASSIC = tuple(m.replace("quick", "classic") for m in MEMBERS)
GOAL = 2.5  # seconds, issue 14
ADDED_LIMIT = 0.5  # seconds s2s-sd may add to a fast hand-made move (see above)


def definitions() -> str:
    lines = ['[hostgroup]', 'name = "bench"', 'engine = "pacemaker"',
             'hosts = ["n1", "n2", "n3"]', "",
             "[hosts.n1]", 'address = "192.168.77.11"', "[hosts.n2]",
             'address = "192.168.77.12"', "[hosts.n3]", 'address = "192.168.77.13"', "",
             "[fencing]", "enabled = false", ""]
    for group, vip in (("quick", VIP), ("classic", CLASSIC_VIP)):
        lines += [f"[groups.{group}]", 'hosts = ["n1", "n2"]', "",
                  f"[[groups.{group}.services]]", 'name = "vip"', 'type = "ip"',
                  f'address = "{vip}/24"', ""]
        for member in ("a", "b", "c"):
            lines += [f"[[groups.{group}.services]]", f'name = "{member}"', 'type = "exec"',
                      'command = ["/bin/sleep", "infinity"]', ""]
    return "\n".join(lines)


def as_systemd_class(lab: Lab, group: str) -> None:
    """The group's ocf:s2s:unit members as s2s-sd generated them before: systemd:UNIT
    with Pacemaker's defaults for that class (monitor every 60 s, 100 s timeouts)."""
    text = lab.exec("n1", ["cibadmin", "--query", "--xpath", f"//group[@id='{group}']"]).stdout
    element = ET.fromstring(text)
    for primitive in element.iter("primitive"):
        if primitive.get("type") != "unit":
            continue
        params = primitive.find("instance_attributes")
        assert params is not None
        unit = next(nv.get("value", "") for nv in params if nv.get("name") == "unit")
        primitive.remove(params)
        primitive.attrib.pop("provider")
        primitive.set("class", "systemd")
        primitive.set("type", unit)
        for op in primitive.iter("op"):
            op.set("timeout", "100s")
            if op.get("name") == "monitor":
                op.set("interval", "60s")
    lab.exec("n1", ["cibadmin", "--replace", "--scope", "resources", "--xml-text",
                    ET.tostring(element, encoding="unicode")])


def where(lab: Lab, members: tuple[str, ...] = MEMBERS) -> dict[str, str]:
    out = lab.exec("n1", ["crm_mon", "-1", "--output-as=xml"]).stdout
    found: dict[str, str] = {}
    for resource in ET.fromstring(out).iter("resource"):
        rid = resource.get("id", "")
        if rid in members and resource.get("role") == "Started":
            node = resource.find("node")
            if node is not None:
                found[rid] = node.get("name", "")
    return found


def wait_on(lab: Lab, target: str, timeout: float = 120,
            members: tuple[str, ...] = MEMBERS) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = where(lab, members)
        if len(now) == len(members) and set(now.values()) == {target}:
            return
        time.sleep(0.1)
    raise SystemExit(f"{members[0].split('_')[0]} did not reach {target}: "
                     f"{where(lab, members)}")


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
        wait_on(lab, "n1", members=CLASSIC)
        as_systemd_class(lab, "classic")
        time.sleep(1)  # the restart with the new class is under way
        lab.exec("n1", ["crm_resource", "--wait", "--timeout=120s"], timeout=180)
        wait_on(lab, "n1", members=CLASSIC)
        ours, theirs, classic = [], [], []
        for index in range(args.moves):
            # quick alternates n1 -> n2 -> n1; which kind moves first alternates too,
            # so both move in both directions equally often; classic follows
            if index % 2 == 0:
                ours.append(s2s(lab, "move", "quick", "--to", "n2"))
                theirs.append(by_hand(lab, "n1"))
                classic.append(s2s(lab, "move", "classic", "--to", "n2"))
            else:
                theirs.append(by_hand(lab, "n2"))
                ours.append(s2s(lab, "move", "quick", "--to", "n1"))
                classic.append(s2s(lab, "move", "classic", "--to", "n1"))
        constraints = lab.exec("n1", ["cibadmin", "--query", "--scope", "constraints"]).stdout
        leftovers = "cli-" in constraints
    finally:
        if not args.keep:
            lab.down()
    ours_median, theirs_median = statistics.median(ours), statistics.median(theirs)
    classic_median = statistics.median(classic)
    ratio = ours_median / theirs_median
    added = ours_median - theirs_median
    added_limit = max(0.1 * theirs_median, ADDED_LIMIT)
    print(f"moves of a 4-member group (VIP + 3 systemd units) between n1 and n2, "
          f"{len(ours)} of each kind:")
    print(f"  s2s-sd move, members ocf:s2s:unit         median {ours_median:6.2f} s   "
          f"(min {min(ours):.2f}, max {max(ours):.2f})")
    print(f"  crm_resource --move, poll crm_mon, --clear  median {theirs_median:6.2f} s   "
          f"(min {min(theirs):.2f}, max {max(theirs):.2f})")
    print(f"  s2s-sd move, members systemd: (before)    median {classic_median:6.2f} s   "
          f"(min {min(classic):.2f}, max {max(classic):.2f})")
    print(f"  ratio s2s-sd / by hand                    {ratio:6.2f}   "
          f"(added {added:.2f} s, target <= {added_limit:.2f} s)")
    print(f"  ratio s2s-sd / goal {GOAL} s               {ours_median / GOAL:6.2f}   "
          "(target <= 1)")
    print(f"  ratio systemd: class / ocf:s2s:unit       {classic_median / ours_median:6.2f}")
    print(f"  cli- constraints left behind: {'YES' if leftovers else 'none'}")
    return 0 if added <= added_limit and ours_median <= GOAL and not leftovers else 1


if __name__ == "__main__":
    sys.exit(main())
