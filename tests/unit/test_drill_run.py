"""The admin's side of the drill without the machines: a scripted transport answers
(host, operation, arguments), so unreachable hosts, broken answers and the order of the
VIP probes are decided in milliseconds (the lab proves the real thing)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from s2s_sd.drill import Level
from s2s_sd.hosts.drill_run import expected_files, run_drill
from s2s_sd.hosts.transport import Answer, HostUnreachable
from s2s_sd.load import load_definitions
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

MACS = {"n1": "52:54:00:00:00:01", "n2": "52:54:00:00:00:02", "n3": "52:54:00:00:00:03"}


class ScriptedHosts:
    """Answers like hosts n1..n3 whose checks all pass; `unreachable`, `broken` and
    `answering` (address -> host that holds it) change that."""

    def __init__(self, unreachable: tuple[str, ...] = (), broken: tuple[str, ...] = (),
                 answering: Mapping[str, str] | None = None) -> None:
        self.running = {host: [g for g, holder in (answering or {}).items() if holder == host]
                        for host in MACS}
        self.unreachable = unreachable
        self.broken = broken
        self.answering = dict(answering or {})
        self.calls: list[tuple[str, str]] = []
        self.probing = 0
        self.most_probing = 0
        self.lock = threading.Lock()

    def ask(self, host: str, op: str, args: Mapping[str, Any] | None = None,
            timeout: float = 120) -> Answer:
        assert op == "drill" and args is not None
        with self.lock:
            self.calls.append((host, "probe" if "probe" in args else "check"))
        if host in self.unreachable:
            return Answer(host, error=HostUnreachable(host, "connection refused"))
        if "probe" in args:
            return self._probe(host, args["probe"])
        if host in self.broken:
            return Answer(host, result={"host": host, "findings": "nonsense"})
        findings = [{"host": host, "group": g, "member": None, "level": "OK",
                     "check": "host.generation", "reason": "on generation 3"}
                    for g in args["groups"]]
        probes = [[g, "vip"] for g in args["groups"]]
        return Answer(host, result={"host": host, "time": time.time(),
                                    "macs": [MACS[host]], "running": self.running[host],
                                    "probe": probes,
                                    "findings": findings})

    def _probe(self, host: str, wanted: list[list[str]]) -> Answer:
        with self.lock:
            self.probing += 1
            self.most_probing = max(self.most_probing, self.probing)
        try:
            answers = []
            for group, member in wanted:
                holder = self.answering.get(group)
                answers.append({"host": host, "group": group, "member": member,
                                "address": f"vip-of-{group}",
                                "mac": MACS[holder] if holder and holder != host else None})
            return Answer(host, result={"host": host, "findings": [], "answers": answers})
        finally:
            with self.lock:
                self.probing -= 1


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))


def drill(hosts: ScriptedHosts, groups: tuple[str, ...] = ()) -> Any:
    defs = load_definitions(EXAMPLES, "n1")
    return run_drill(hosts, defs, EXAMPLES, "n1", groups)


def test_all_hosts_answer_and_nobody_holds_a_vip() -> None:
    hosts = ScriptedHosts()
    report = drill(hosts)
    assert not report.failed
    assert {(f.host, f.check) for f in report.findings} >= {
        ("n2", "host.reachable"), ("n2", "host.clock"), ("n3", "ip.answered")}


def test_vip_probes_go_host_by_host_after_the_checks() -> None:
    hosts = ScriptedHosts()
    drill(hosts)
    assert hosts.most_probing == 1
    kinds = [kind for _, kind in hosts.calls]
    assert kinds == ["check"] * 3 + ["probe"] * 3


def test_an_unreachable_host_fails_every_cell_of_its_row() -> None:
    report = drill(ScriptedHosts(unreachable=("n2",)))
    failed = {(f.host, f.group, f.check) for f in report.findings if f.level is Level.FAIL}
    assert failed == {("n2", "censhare", "host.reachable"), ("n2", "ora", "host.reachable")}
    assert report.cell("n2", "web") == "-" and report.cell("n1", "web") == "OK"


def test_a_malformed_answer_is_a_failure_not_a_traceback() -> None:
    report = drill(ScriptedHosts(broken=("n3",)), ("web",))
    [failure] = [f for f in report.findings if f.level is Level.FAIL]
    assert (failure.host, failure.check) == ("n3", "host.drill")
    assert "malformed answer" in failure.reason


def test_a_vip_held_by_a_host_not_running_the_group() -> None:
    hosts = ScriptedHosts(answering={"web": "n3"})
    hosts.running["n3"] = []
    report = drill(hosts, ("web",))
    failed = {(f.host, f.check) for f in report.findings if f.level is Level.FAIL}
    assert failed == {("n1", "ip.answered")}  # n3 does not hear itself


def test_a_drill_of_one_host_still_knows_the_holders_mac() -> None:
    """move --dry-run drills the target only: the other hosts are asked for their MACs and
    what they run, so the VIP answered by the group's holder is no stranger's."""
    hosts = ScriptedHosts(answering={"web": "n3"})
    report = run_drill(hosts, load_definitions(EXAMPLES, "n1"), EXAMPLES, "n1", ("web",),
                       ("n1",))
    assert {f.host for f in report.findings} == {"n1"}
    assert not [f for f in report.findings if f.level is Level.FAIL]
    assert ("n3", "check") in hosts.calls and ("n3", "probe") not in hosts.calls


def test_expected_files_are_the_units_helpers_and_agents() -> None:
    files = expected_files(load_definitions(EXAMPLES, "n1"), Path("/etc/s2s-sd"))
    assert "/etc/systemd/system/s2s-web.target" in files
    assert "/usr/lib/ocf/resource.d/s2s/script" in files
    assert all(len(digest) == 64 for digest in files.values())
