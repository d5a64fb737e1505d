"""Helpers of the systemd-runtime lab tests: install the examples as a real site would
(base dir /etc/s2s-sd on n1, `s2s-sd sync` to the others), and a sampler on every node
that records every 100 ms which group units, VIPs and group mounts are active there, so
that a test can prove no group was ever active on two nodes at once. The samples are kept
on the node's disk (not in /run), so a node that is killed or fenced keeps its record of
what ran there until then."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.backend import LabNodes
from s2s_sd.run import Result

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
BASEDIR = "/etc/s2s-sd"
NODES = ("n1", "n2", "n3")
VIPS = {"censhare": "192.168.77.21", "ora": "192.168.77.22", "web": "192.168.77.23"}
SAMPLER_UNIT = "s2s-test-sampler"
SAMPLER_LOG = "/var/log/s2s-test-sampler.log"
MOUNTS = {"censhare": ("/disk/censhare/00",), "ora": ("/disk/ora/00", "/disk/ora/01"),
          "web": ()}
# the guard is a check, not the group: a refused start shows it activating elsewhere
SAMPLER_SCRIPT = (
    "while :; do "
    "t=$(date +%s.%N); "
    "u=$(systemctl list-units --plain --no-legend --state=active,activating,deactivating "
    "'s2s-*' ora-db.service | cut -d' ' -f1 | grep -v '^s2s-guard@' | grep -v sampler "
    "| tr '\\n' ' '); "
    "a=$(ip -o -4 addr show | grep -o '192\\.168\\.77\\.2[0-9]/' | tr -d / | tr '\\n' ' '); "
    "m=$(grep -o ' /disk/[^ ]*' /proc/self/mounts | tr -d ' ' | tr '\\n' ' '); "
    f"echo \"$t|$u|$a|$m\" >> {SAMPLER_LOG}; sleep 0.1; done"
)


def s2s(lab: LabNodes, node: str, *args: str, timeout: float = 300) -> Result:
    return lab.exec(node, ["s2s-sd", *args], check=False, timeout=timeout)


def clean_node(lab: LabNodes, node: str) -> None:
    """Nothing of s2s-sd left on the node: units stopped and removed, state and base dir
    gone, mounts and VIPs gone."""
    script = (
        "systemctl stop 's2s-*' ora-db.service 2>/dev/null; "
        "systemctl reset-failed 2>/dev/null; "
        "for m in $(findmnt -rn -o TARGET | grep '^/disk/' | sort -r); do umount -l $m; done; "
        "for a in 192.168.77.21 192.168.77.22 192.168.77.23; do "
        "ip addr del $a/24 dev host0 2>/dev/null; done; "
        "rm -rf /etc/s2s-sd /var/lib/s2s-sd /var/log/s2s-sd /run/s2s-sd "
        "/etc/systemd/system/s2s-* /etc/systemd/system/ora-db.service* "
        "/etc/systemd/system/.s2s-sd-manifest "
        "/etc/systemd/system/multi-user.target.wants/s2s-*; "
        "sed -i '/_c07$/d' /etc/hosts; "
        "systemctl daemon-reload"
    )
    lab.exec(node, ["sh", "-c", script], check=False, timeout=120)


def install_site(lab: LabNodes) -> None:
    for node in NODES:
        clean_node(lab, node)
        # the "existing" database unit of group ora, as a package would install it
        lab.exec(node, ["cp", str(EXAMPLES / "systemd" / "ora-db.service"),
                        "/etc/systemd/system/ora-db.service"])
    lab.exec("n1", ["sh", "-c", f"mkdir -p {BASEDIR} && cp -a {EXAMPLES}/. {BASEDIR}/ && "
                    f"rm -rf {BASEDIR}/systemd"])
    result = s2s(lab, "n1", "sync")
    assert result.ok, f"sync: {result.stdout}{result.stderr}"


@dataclass(frozen=True)
class Sample:
    time: float
    units: frozenset[str]
    vips: frozenset[str]
    mounts: frozenset[str] = frozenset()

    def active(self, group: str) -> bool:
        prefix = f"s2s-{group}"
        return (any(u == f"{prefix}.target" or u.startswith(f"{prefix}-") for u in self.units)
                or (group == "ora" and "ora-db.service" in self.units)
                or VIPS.get(group) in self.vips
                or any(m in self.mounts for m in MOUNTS.get(group, ())))


def start_samplers(lab: LabNodes) -> None:
    for node in NODES:
        lab.exec(node, ["sh", "-c", f"systemctl stop {SAMPLER_UNIT} 2>/dev/null; "
                        f"rm -f {SAMPLER_LOG}"], check=False)
        resume_sampler(lab, node)


def resume_sampler(lab: LabNodes, node: str) -> None:
    """The sampler of a node (again, after a crash: its record so far is kept)."""
    lab.exec(node, ["systemd-run", f"--unit={SAMPLER_UNIT}", "/bin/sh", "-c",
                    SAMPLER_SCRIPT])


def stop_samplers(lab: LabNodes) -> None:
    for node in NODES:
        lab.exec(node, ["systemctl", "stop", SAMPLER_UNIT], check=False)


def examples_site(lab_manager: Any) -> Iterator[LabNodes]:
    """The body of a module's `site` fixture: the lab without a cluster, examples/
    installed and synced, the samplers running; afterwards every node cleaned."""
    lab = lab_manager.get(cluster=False)
    install_site(lab)
    start_samplers(lab)
    yield lab
    stop_samplers(lab)
    for node in NODES:
        clean_node(lab, node)


def read_samples(lab: LabNodes, since: float) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {}
    for node in NODES:
        text = lab.exec(node, ["cat", SAMPLER_LOG], check=False).stdout
        found = []
        for line in text.splitlines():
            parts = line.split("|")
            if len(parts) not in (3, 4):  # 3: written before mounts were sampled
                continue
            try:
                stamp = float(parts[0])
            except ValueError:
                continue
            if stamp >= since:
                found.append(Sample(stamp, frozenset(parts[1].split()),
                                    frozenset(parts[2].split()),
                                    frozenset(parts[3].split()) if len(parts) == 4
                                    else frozenset()))
        samples[node] = found
    return samples


def double_actives(samples: dict[str, list[Sample]], groups: Iterable[str] = tuple(VIPS)
                   ) -> list[str]:
    """Every moment at which a group (default: those of examples/) was active on two
    nodes: the runs of active samples of one node, as time intervals, must not intersect
    those of another."""
    findings = []
    for group in groups:
        intervals: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for node, node_samples in samples.items():
            run_start: float | None = None
            last = 0.0
            for sample in node_samples:
                if sample.active(group):
                    run_start = sample.time if run_start is None else run_start
                    last = sample.time
                elif run_start is not None:
                    intervals[node].append((run_start, last))
                    run_start = None
            if run_start is not None:
                intervals[node].append((run_start, last))
        nodes = sorted(intervals)
        for i, first in enumerate(nodes):
            for second in nodes[i + 1:]:
                for a_start, a_end in intervals[first]:
                    for b_start, b_end in intervals[second]:
                        if a_start <= b_end and b_start <= a_end:
                            findings.append(f"{group} active on {first} "
                                            f"[{a_start:.1f}, {a_end:.1f}] and {second} "
                                            f"[{b_start:.1f}, {b_end:.1f}]")
    return findings


def now(lab: LabNodes) -> float:
    # nodes share the host's clock (containers)
    return time.time()


def alarm_texts(report: dict[str, Any]) -> list[str]:
    """The texts of the alarms in `status --json` (schema_version 1: alarms are objects
    with kind, group, host, member and message)."""
    return [alarm["message"] for alarm in report["alarms"]]
