"""Tools tier: s2s_sd/units/s2s-guard, the guard unit's helper, run by the real shell with
the token the agent writes (hosts/move_vouch.vouched_start, in a throw-away run dir):
a move's token spares the `s2s-sd guard` program exactly once, while its process lives
and while it is fresh; anything else runs the program, whose answer (exit 3) stands."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s2s_sd.hosts.lock import process_start
from s2s_sd.hosts.move_vouch import TOKEN_DIR, TOKEN_SECONDS
from s2s_sd.run import Result, run
from tests.conftest import REPO

pytestmark = pytest.mark.tools

HELPER = REPO / "s2s_sd" / "units" / "s2s-guard"
GROUP = "ora"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def program(tmp_path: Path) -> Path:
    """A stand-in for s2s-sd that records its arguments and refuses, as the real guard
    does when another host runs the group: whether the helper ran it is the question."""
    path = tmp_path / "s2s-sd"
    path.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/asked\necho refused >&2\nexit 3\n',
                    encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def live_process() -> Iterator[int]:
    sleeper = subprocess.Popen(["sleep", "60"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def token(run_dir: Path, content: str, age: float = 0) -> Path:
    path = run_dir / TOKEN_DIR / GROUP
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def writer(pid: int) -> str:
    """pid and start time, as the agent names itself in the token."""
    return f"{pid} {process_start(pid)}"


def guard(run_dir: Path, program: Path) -> Result:
    return run([str(HELPER), GROUP, str(program)], check=False, timeout=30,
               env={**os.environ, "S2S_SD_RUNDIR": str(run_dir)})


def asked(program: Path) -> list[str]:
    record = program.parent / "asked"
    return record.read_text(encoding="utf-8").splitlines() if record.exists() else []


def test_a_live_fresh_token_is_taken_once(run_dir: Path, program: Path,
                                          live_process: int) -> None:
    path = token(run_dir, f"{writer(live_process)} move of 'ora' n2 -> n1 in progress\n")

    first = guard(run_dir, program)
    assert first.returncode == 0, first.stderr
    assert f"vouched for by process {live_process}" in first.stdout
    assert "move of 'ora' n2 -> n1 in progress" in first.stdout
    assert asked(program) == [] and not path.exists()
    # the token is gone: the next start is asked for again
    second = guard(run_dir, program)
    assert second.returncode == 3 and asked(program) == [f"guard {GROUP}"]


@pytest.mark.parametrize("why", ["no token", "dead process", "reused pid", "zombie",
                                 "stale", "in the future", "not a pid", "no start time",
                                 "empty"])
def test_anything_else_runs_the_guard_program(run_dir: Path, program: Path,
                                              live_process: int, why: str) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    zombie = subprocess.Popen(["true"])  # ended, not yet waited for: a zombie
    time.sleep(0.2)
    try:
        if why == "dead process":
            token(run_dir, f"{dead.pid} 1 move\n")
        elif why == "reused pid":  # a live process, but not the one that wrote it
            token(run_dir, f"{live_process} {process_start(live_process) + 1} move\n")
        elif why == "zombie":
            token(run_dir, f"{writer(zombie.pid)} move\n")
        elif why == "stale":
            token(run_dir, f"{writer(live_process)} move\n", age=TOKEN_SECONDS + 30)
        elif why == "in the future":
            token(run_dir, f"{writer(live_process)} move\n", age=-30)
        elif why == "not a pid":
            token(run_dir, "1; touch /tmp/owned 1 move\n")
        elif why == "no start time":
            token(run_dir, f"{live_process} move\n")
        elif why == "empty":
            token(run_dir, "")

        result = guard(run_dir, program)
    finally:
        zombie.wait()

    assert result.returncode == 3 and "refused" in result.stderr, why
    assert asked(program) == [f"guard {GROUP}"], why
