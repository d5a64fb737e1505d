"""The admin's side of the fire drill: ask every allowed host of every named group, in
parallel, what it would need to start them; then the VIP probes host by host; then judge
what needs several answers (who answers for a VIP, clock skew). Nothing is started or
changed anywhere."""

from __future__ import annotations

import hashlib
import posixpath
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from s2s_sd import paths
from s2s_sd.drill import (
    DrillReport,
    Finding,
    Level,
    VipAnswer,
    clock_findings,
    drill_plan,
    drill_records,
    fail,
    for_groups,
    vip_findings,
)
from s2s_sd.engines.systemd.units import helper_files
from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.hosts import state, sync
from s2s_sd.hosts.transport import Answer, Transport
from s2s_sd.model import Definitions
from s2s_sd.render.systemd import UnitSettings, render_units
from s2s_sd.version import package_version

DRILL_RECORD = "drill.json"  # in the admin's state dir: the last drill of each group
CHECK_TIMEOUT = 120.0
PROBE_TIMEOUT = 30.0


def expected_files(defs: Definitions, basedir: Path) -> dict[str, str]:
    """Absolute path -> sha256 of every unit, helper and OCF agent this version installs
    on each host (what `sync` and `apply` write there)."""
    # the same settings and unit dir as the install on every host (agent.apply_local_units)
    settings = UnitSettings.installed(str(basedir))
    files = {posixpath.join(paths.unit_dir(), name): text
             for name, text in render_units(defs, settings).items()}
    files.update(helper_files(settings))
    return {path: hashlib.sha256(text.encode()).hexdigest()
            for path, text in sorted(files.items())}


def _failure(host: str, groups: Sequence[str], answer: Answer) -> list[Finding]:
    if answer.unreachable:
        return for_groups(host, groups, Level.FAIL, "host.reachable", str(answer.error))
    return for_groups(host, groups, Level.FAIL, "host.drill",
                      f"the drill failed there: {answer.error}")


class _Collected:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.macs: dict[str, list[str]] = {}
        self.running: dict[str, set[str]] = {}
        self.probes: dict[str, list[list[str]]] = {}


def _take(collected: _Collected, host: str, groups: Sequence[str], answer: Answer,
          sent: float, received: float) -> None:
    if not answer.ok:
        collected.findings += _failure(host, groups, answer)
        return
    try:
        value = answer.value()
        findings = [Finding.from_dict(f) for f in value["findings"]]
        host_time = float(value["time"])
        macs = [str(m) for m in value["macs"]]
        running = [str(g) for g in value["running"]]
        probes = [[str(g), str(m)] for g, m in value["probe"]]
    except (BadInput, KeyError, TypeError, ValueError) as exc:
        collected.findings += for_groups(host, groups, Level.FAIL, "host.drill",
                                         f"malformed answer: {exc}")
        return
    collected.findings += for_groups(host, groups, Level.OK, "host.reachable", "answered")
    collected.findings += clock_findings(host, groups, sent, received, host_time)
    collected.findings += findings
    collected.macs[host] = macs
    for group in running:
        collected.running.setdefault(group, set()).add(host)
    if probes:
        collected.probes[host] = probes


def _take_bystander(collected: _Collected, answer: Answer) -> None:
    """A host outside the drill's plan: only its MACs and the groups it runs count."""
    try:
        value = answer.value() if answer.ok else None
        if value is None:
            return
        collected.macs[answer.host] = [str(m) for m in value["macs"]]
        for group in value["running"]:
            collected.running.setdefault(str(group), set()).add(answer.host)
    except (BadInput, KeyError, TypeError, ValueError):
        return  # an unreadable bystander proves nothing: its MAC stays a stranger's


def _probe(transport: Transport, collected: _Collected) -> list[VipAnswer]:
    """One host at a time: two hosts probing one address at once would hear each other."""
    answers: list[VipAnswer] = []
    for host, wanted in collected.probes.items():
        answer = transport.ask(host, "drill", {"probe": wanted}, timeout=PROBE_TIMEOUT)
        try:
            value = answer.value() if answer.ok else None
            if value is not None:
                collected.findings += [Finding.from_dict(f) for f in value["findings"]]
                answers += [VipAnswer.from_dict(a) for a in value["answers"]]
        except (BadInput, KeyError, TypeError) as exc:
            value, answer = None, Answer(host, error=BadInput(f"malformed answer: {exc}"))
        if value is None:
            collected.findings += [fail(host, g, m, "ip.answered",
                                        f"the VIP probe failed: {answer.error}")
                                   for g, m in wanted]
    return answers


def run_drill(transport: Transport, defs: Definitions, basedir: Path, admin: str,
              groups: Sequence[str] = (), hosts: Sequence[str] = ()) -> DrillReport:
    began = time.monotonic()
    plan = drill_plan(defs, groups, hosts)
    generation = sync.read_generation(defs.hostgroup.name)
    common: dict[str, Any] = {"generation": generation.number, "digest": generation.digest,
                              "version": package_version(),
                              "expected": expected_files(defs, basedir)}

    # Hosts outside the plan (a drill of one cell, as in `move --dry-run`) are asked too,
    # for their MACs and what they run only: a VIP answered by the group's current holder
    # is fine, and only these answers tell the holder's MAC from a stranger's.
    drilled = sorted({group for wanted in plan.values() for group in wanted})
    bystanders = {host: drilled for host in defs.hostgroup.host_names if host not in plan}

    def ask(host: str) -> tuple[Answer, float, float]:
        sent = time.time()
        wanted = plan[host] if host in plan else bystanders[host]
        answer = transport.ask(host, "drill", {**common, "groups": wanted},
                               timeout=CHECK_TIMEOUT)
        return answer, sent, time.time()

    asked = [*plan, *bystanders]
    with ThreadPoolExecutor(max_workers=min(16, len(asked))) as pool:
        results = list(pool.map(ask, asked))
    collected = _Collected()
    for host, (answer, sent, received) in zip(asked, results, strict=True):
        if host in plan:
            _take(collected, host, plan[host], answer, sent, received)
        else:
            _take_bystander(collected, answer)
    answers = _probe(transport, collected)
    collected.findings += vip_findings(answers, collected.macs, collected.running)
    return DrillReport(defs.hostgroup.name, admin, plan, tuple(collected.findings),
                       time.monotonic() - began)




def read_drill_records(hostgroup: str) -> dict[str, Any]:
    """group -> its last drill on this (admin) host; unreadable records count as none."""
    try:
        return state._read_json(state.state_dir(hostgroup) / DRILL_RECORD) or {}
    except OperationFailed:
        return {}


def record_drill(report: DrillReport, when: float) -> None:
    """Keep the drill's time and result per group in the admin's state dir."""
    records = read_drill_records(report.hostgroup)
    records.update(drill_records(report, when))
    state._write_json(state.ensure_state_dir(report.hostgroup) / DRILL_RECORD, records)
