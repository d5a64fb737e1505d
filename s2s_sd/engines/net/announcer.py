"""The announcements of a VIP after the first, sent in the background (as IPaddr2 does).

`vip up` sends the first gratuitous ARP / unsolicited NA itself, before it returns (and
so before its unit counts as started); the others follow INTERVAL apart from a detached
process, so the next member of the group need not wait for them. That process:

- is detached twice (its parent returns at once, it belongs to no waiting process) but
  stays in the unit's cgroup, so stopping the unit ends it in any case;
- is recorded in RUN_DIR/announce/NETNS_ADDRESS.pid with its start time (a reused pid is
  never taken for it), so `vip down` ends it and waits for it BEFORE removing the
  address, and a new `vip up` of the same address replaces it;
- looks before every announcement whether this host still holds the address, and stops
  as soon as it does not: it never announces an address this host no longer holds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from s2s_sd import paths
from s2s_sd.hosts import lock as locks

ANNOUNCE_DIR = "announce"
STOP_WAIT_SECONDS = 2.0


def pid_path(netns_id: str, address: str) -> Path:
    return Path(paths.run_dir()) / ANNOUNCE_DIR / f"{netns_id}_{address}.pid"


def start(pidfile: Path, count: int, interval: float, still_held: Callable[[], bool],
          send: Callable[[], None]) -> int | None:
    """Send COUNT announcements INTERVAL s apart from a detached process, each only while
    still_held(); returns its pid (None when COUNT is 0). Any earlier announcer of the
    address is stopped first."""
    stop(pidfile)
    if count <= 0:
        return None
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the intermediate process: fork the announcer, tell its pid, leave
        os.close(reader)
        try:
            announcer = os.fork()
            if announcer == 0:
                os.close(writer)
                _announce(count, interval, still_held, send)
            os.write(writer, str(announcer).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        text = pipe.read().decode() or "0"
    os.waitpid(child, 0)
    pid = int(text)
    if pid <= 0:
        return None
    pidfile.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pidfile.write_text(f"{pid} {locks.process_start(pid) or 0}\n", encoding="ascii")
    return pid


def _announce(count: int, interval: float, still_held: Callable[[], bool],
              send: Callable[[], None]) -> None:
    """The announcer's whole life; it never returns into the caller's code."""
    status = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for _ in range(count):
            time.sleep(interval)
            if not still_held():
                break
            send()
    except BaseException:  # nobody waits for it: its failure must not run the caller's code
        status = 1
    finally:
        os._exit(status)


def running(pidfile: Path) -> int | None:
    """The pid of the recorded announcer while that very process still runs, else None."""
    try:
        pid_text, started_text = pidfile.read_text(encoding="ascii").split()
        pid, started = int(pid_text), int(started_text)
    except (OSError, ValueError):
        return None
    if pid <= 1 or locks.process_start(pid) != started or _zombie(pid):
        return None
    return pid


def stop(pidfile: Path) -> None:
    """End the recorded announcer and wait until it is gone (then no further announcement
    can leave this host), and forget it."""
    pid = running(pidfile)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while running(pidfile) is not None:
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + STOP_WAIT_SECONDS
            time.sleep(0.005)
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read(4096).rpartition(b")")[2].split()
    except OSError:
        return True
    return bool(fields) and fields[0] in (b"Z", b"X")
