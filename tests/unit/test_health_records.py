"""What `s2s-sd member failed` reads of a failure (hosts/health.py): the monitor loop's
own words of the same run of the unit, else systemd's (SERVICE_RESULT, EXIT_CODE,
EXIT_STATUS); and the run-time records that `s2s-sd cleanup` forgets."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from s2s_sd.hosts import health
from s2s_sd.load import load_definitions

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("S2S_SD_RUNDIR", str(tmp_path))
    monkeypatch.setenv("INVOCATION_ID", "abc")
    for name in ("SERVICE_RESULT", "EXIT_CODE", "EXIT_STATUS", "NOTIFY_SOCKET"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize(("env", "reason"), [
    ({"SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"},
     "signal: killed by signal KILL"),
    ({"SERVICE_RESULT": "exit-code", "EXIT_CODE": "exited", "EXIT_STATUS": "1"},
     "exit-code: exited with status 1"),
    ({"SERVICE_RESULT": "timeout"}, "timeout"),
    ({}, "unknown"),
])
def test_systemds_words(run_dir: Path, monkeypatch: pytest.MonkeyPatch,
                        env: dict[str, str], reason: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert health._failure_reason("g", "m") == reason


def test_the_monitor_loops_words_of_the_same_run_win(run_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_RESULT", "exit-code")
    monkeypatch.setenv("EXIT_CODE", "exited")
    monkeypatch.setenv("EXIT_STATUS", "1")
    health._record_reason("g", "m", "monitor: its status says 7 (not running)")
    assert health._failure_reason("g", "m") == "monitor: its status says 7 (not running)"
    # a later run of the unit (another invocation id) does not inherit them
    monkeypatch.setenv("INVOCATION_ID", "def")
    assert health._failure_reason("g", "m") == "exit-code: exited with status 1"


def test_reset_forgets_the_groups_records(run_dir: Path) -> None:
    (run_dir / "health" / "g").mkdir(parents=True)
    (run_dir / "health" / "g" / "m.last").write_text("1700000000 signal: killed\n")
    assert health.last_failure("g", "m") == "1700000000 signal: killed"
    health.reset("g")
    assert health.last_failure("g", "m") is None
    health.reset("g")  # nothing left: no error


def test_an_ip_members_loop_ending_at_a_stop_takes_its_vip_down(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that fails while systemd stops the unit ends the loop with exit 0: a clean
    stop, after which ExecStopPost= runs no `vip down`, and an ip member's unit has no
    ExecStop=. So its loop takes the VIP down itself (the check may have failed for
    another reason than the VIP being gone)."""
    checks = iter([0, 1])  # ready; then the first monitor check fails
    stops: list[float] = []

    def stop(timeout: float) -> health.Outcome:
        stops.append(timeout)
        return health.Outcome(0)

    actions = health.MemberActions(start=lambda _t: health.Outcome(0),
                                   status=lambda _t: health.Outcome(next(checks)), stop=stop)
    monkeypatch.setattr(health, "_vip_actions", lambda *_args: actions)
    monkeypatch.setattr(health, "_stopping", lambda _unit: True)
    monkeypatch.setattr(health.time, "sleep", lambda _seconds: None)
    before = signal.getsignal(signal.SIGTERM)
    try:
        code = health.run_member(load_definitions(EXAMPLES, "n1"), EXAMPLES, "web", "vip")
    finally:
        signal.signal(signal.SIGTERM, before)
    assert code == 0
    assert len(stops) == 1
