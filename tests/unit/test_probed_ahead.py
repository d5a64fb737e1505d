"""The record of a probe made ahead (engines/net/probed_ahead.py), as an ip member reads
it: taken (once) only when it cleared the very address, is fresh and its writer lives;
waited for while the probe runs; anything else makes the member probe itself. Real
files in a throw-away run dir; the probe itself is the netns tier's."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s2s_sd.engines.net import probed_ahead
from s2s_sd.engines.net.probed_ahead import CLEAR, FRESH_SECONDS, PROBING, WAIT_SECONDS
from s2s_sd.engines.net.vip import Vip, make_vip
from s2s_sd.hosts.lock import process_start

pytestmark = pytest.mark.unit

VIP = make_vip("192.168.77.22/24")


@pytest.fixture(autouse=True)
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("S2S_SD_RUNDIR", str(tmp_path))
    yield tmp_path


def record(state: str, *, pid: int | None = None, age: float = 0.0, vip: Vip = VIP) -> Path:
    path = probed_ahead.record_path(VIP)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = pid if pid is not None else os.getpid()
    started = process_start(os.getpid()) if pid is None else 1
    path.write_text(f"{writer} {started} {time.monotonic() - age:.6f} {state} {vip.text}\n")
    return path


def dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_a_fresh_clear_record_is_taken_once() -> None:
    path = record(CLEAR)
    note = probed_ahead.take(VIP)
    assert note is not None and "nobody answered" in note and not path.exists()
    assert probed_ahead.take(VIP) is None


@pytest.mark.parametrize("case", ["none", "stale", "dead writer", "reused pid",
                                  "other address", "other state", "garbage"])
def test_anything_else_means_probe_yourself(case: str) -> None:
    if case == "stale":
        record(CLEAR, age=FRESH_SECONDS + 0.5)
    elif case == "dead writer":
        record(CLEAR, pid=dead_pid())
    elif case == "reused pid":  # a live process, but not the one that wrote it
        path = record(CLEAR)
        pid, started, rest = path.read_text().split(" ", 2)
        path.write_text(f"{pid} {int(started) + 1} {rest}")
    elif case == "other address":
        record(CLEAR, vip=make_vip("192.168.77.23/24"))
    elif case == "other state":
        record("answered")
    elif case == "garbage":
        probed_ahead.record_path(VIP).parent.mkdir(parents=True, exist_ok=True)
        probed_ahead.record_path(VIP).write_text("1; rm -rf /\n")
    assert probed_ahead.take(VIP) is None


def test_a_probe_in_progress_is_waited_for() -> None:
    record(PROBING)
    finisher = threading.Timer(0.1, lambda: record(CLEAR))
    finisher.start()
    began = time.monotonic()
    assert probed_ahead.take(VIP) is not None
    assert 0.09 <= time.monotonic() - began < WAIT_SECONDS
    finisher.join()


def test_a_probe_that_never_ends_is_waited_for_only_so_long() -> None:
    record(PROBING)
    began = time.monotonic()
    assert probed_ahead.take(VIP) is None
    assert WAIT_SECONDS <= time.monotonic() - began < WAIT_SECONDS + 0.5
