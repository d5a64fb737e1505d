"""The duplicate probe of a group's VIPs made ahead, by the agent that starts the group,
while systemd starts the guard and the ip member's program.

An ip member must not add its address while another host answers for it (RFC 5227), so
it probes first: a tenth of a second in which nothing else of the start happens, after
its program has started (Python, pyroute2: another tenth or two). The agent that starts
the group (start_group, warm: its imports are done) makes the same probe, from this host,
with the same settings, at the moment it asks systemd for the start jobs, and records
for each VIP nobody answered for that it is clear. The member, once its program runs,
takes that record instead of probing again (and consumes it) when it is for the same
address, fresh (FRESH_SECONDS since the probe ended), and written by a process that
still lives; while the probe is still running it waits for it (WAIT_SECONDS at most).
Anything else (no record, a record of an answer, stale, a dead writer, unreadable): the
member probes itself, as it always did, so a start by hand or at boot is checked the
same way and a failed early probe only costs the time it would have saved.

What it gives up: the address is added up to FRESH_SECONDS after the probe ended instead
of right after it (in the lab 5-10 ms: the member waits for the probe); a rogue that
appears in that moment is missed as one appearing right after the member's own probe
would be. The watcher asks every few seconds either way.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from s2s_sd import paths
from s2s_sd.engines.net.ops import who_answers
from s2s_sd.engines.net.vip import Probe, Vip
from s2s_sd.errors import S2SError
from s2s_sd.hosts.lock import process_alive, process_start
from s2s_sd.writer import write_file_atomic

RECORD_DIR = "probed-ahead"  # below the run dir
FRESH_SECONDS = 0.3
WAIT_SECONDS = 0.5
PROBING = "probing"
CLEAR = "clear"


def record_path(vip: Vip) -> Path:
    return Path(paths.run_dir()) / RECORD_DIR / vip.ip.compressed


def _write(vip: Vip, state: str) -> None:
    path = record_path(vip)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = os.getpid()
    # the writer's start time with its pid: a pid reused by another process is no writer
    write_file_atomic(path, f"{pid} {process_start(pid)} {time.monotonic():.6f} {state} "
                            f"{vip.text}\n", 0o600)


def _probe_all(vips: Sequence[Vip], probe: Probe, netns: str | None) -> None:
    for vip in vips:
        try:
            clear = who_answers(vip, probe=probe, netns=netns) is None
        except S2SError:
            clear = False  # the member's own probe says what is wrong, in its words
        if clear:
            _write(vip, CLEAR)
        else:
            record_path(vip).unlink(missing_ok=True)


@contextmanager
def probing_ahead(vips: Sequence[Vip], probe: Probe, netns: str | None = None
                  ) -> Iterator[None]:
    """Around a group's start jobs: its VIPS probed in a thread meanwhile (from NETNS:
    the tests' namespaces); every record taken back afterwards, used or not."""
    if not vips:
        yield
        return
    for vip in vips:
        _write(vip, PROBING)
    prober = threading.Thread(target=_probe_all, args=(vips, probe, netns),
                              name="probe ahead", daemon=True)
    prober.start()
    try:
        yield
    finally:
        prober.join()
        for vip in vips:
            record_path(vip).unlink(missing_ok=True)


def take(vip: Vip) -> str | None:
    """What the probe made ahead found, if it cleared VIP (consumed), else None: then the
    caller probes itself."""
    path = record_path(vip)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            pid_text, started_text, stamp_text, state, address = path.read_text(
                encoding="utf-8").split()
            pid, started, stamp = int(pid_text), int(started_text), float(stamp_text)
        except (OSError, ValueError):
            return None
        age = time.monotonic() - stamp
        if (address != vip.text or state not in (PROBING, CLEAR)
                or not process_alive(pid, started)):
            return None
        if state == CLEAR:
            if age > FRESH_SECONDS:
                return None
            try:
                path.unlink()  # taking it: one start per probe
            except FileNotFoundError:
                return None
            return f"probed ahead by process {pid}, nobody answered ({age:.3f} s ago)"
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)
