"""The admin lock: one administering host at a time.

Each host keeps a lock file in its state dir, created with O_CREAT|O_EXCL|O_NOFOLLOW and
mode 0600 in a root-only directory, so neither a race nor a planted symlink can make two
admins believe they hold it. The admin takes the lock on every reachable host in sorted
order (hosts/session.py): whoever gets the first host wins, the other stops there.
The lock says who holds it (host, pid), since when and for what; a lock whose holder is
gone is stale and is only broken on request (--break-lock).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s2s_sd.errors import OperationFailed
from s2s_sd.hosts.state import ensure_state_dir, open_state_file, read_state_file, state_dir

LOCK_FILE = "lock"
# flock()ed around every read-check-change of the lock file, so that of N admins breaking
# the same stale lock at once exactly one holds it afterwards
GUARD_FILE = "lock.guard"
MAX_LOCK_BYTES = 64 * 1024
MAX_PID = 1 << 22  # the kernel's pid_max limit
MAX_TEXT = 1024


def boot_id() -> str:
    """This boot of this host: a lock written before a reboot has no live holder."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read(64).strip()
    except OSError:
        return ""


def process_start(pid: int) -> int | None:
    """When process pid started (clock ticks since boot, /proc/PID/stat field 22), or
    None when there is no such process. With the pid it names one process for the whole
    boot, so a reused pid is not mistaken for the holder."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read(4096)
    except OSError:
        return None
    # field 2 (comm) is in parentheses and may hold spaces or ')': split after the last
    fields = raw.rpartition(b")")[2].split()
    try:
        return int(fields[19])  # field 22; fields[0] is field 3
    except (IndexError, ValueError):
        return None


def process_alive(pid: int, started: int | None = None, boot: str | None = None) -> bool:
    """Is the process that wrote a lock (or journal) still running on this host?"""
    if pid <= 0 or pid >= MAX_PID or (boot and boot != boot_id()):
        return False
    if started is not None:
        return process_start(pid) == started
    # a lock of an older s2s-sd without the holder's start time: any live s2s-sd process
    # with that pid counts, as it did then
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"s2s-sd" in cmdline or b"s2s_sd" in cmdline


def pid_alive(pid: int) -> bool:
    """Is pid a live s2s-sd process on this host? (No start time known.)"""
    return process_alive(pid)


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise ValueError(f"'{key}' must be a string of at most {MAX_TEXT} characters")
    return value


def _integer(value: Any, key: str, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
        raise ValueError(f"'{key}' must be an integer from 0 to {limit - 1}")
    return value


@dataclass(frozen=True)
class LockInfo:
    host: str
    pid: int
    since: float
    operation: str
    token: str
    started: int | None = None  # the holder's start time (process_start)
    boot_id: str | None = None  # the holder's boot (boot_id)

    @staticmethod
    def for_this_process(host: str, operation: str, token: str) -> LockInfo:
        pid = os.getpid()
        return LockInfo(host=host, pid=pid, since=time.time(), operation=operation,
                        token=token, started=process_start(pid), boot_id=boot_id() or None)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        age = max(0, int(time.time() - self.since))
        return (f"{self.host} pid {self.pid} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.since))} "
                f"({age} s ago) for '{self.operation}'")

    def holder_alive(self) -> bool:
        """Asked on the holder's host: is the process that took the lock still there?"""
        return process_alive(self.pid, self.started, self.boot_id)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> LockInfo:
        """Raises ValueError (or KeyError, TypeError) for anything but a sane lock; the
        start time and boot id are missing in locks of older versions."""
        since = data["since"]
        if not isinstance(since, (int, float)) or isinstance(since, bool) \
                or not math.isfinite(since) or not 0 <= since < 1e11:
            raise ValueError("'since' must be a time in seconds")
        started = data.get("started")
        boot = data.get("boot_id")
        return LockInfo(host=_text(data, "host"), pid=_integer(data["pid"], "pid", MAX_PID),
                        since=float(since), operation=_text(data, "operation"),
                        token=_text(data, "token"),
                        started=None if started is None else _integer(started, "started",
                                                                      1 << 63),
                        boot_id=None if boot is None else _text(data, "boot_id"))


@contextmanager
def _serialised(directory: Path) -> Iterator[None]:
    fd = open_state_file(directory / GUARD_FILE, os.O_RDWR | os.O_CREAT)
    assert fd is not None  # O_CREAT
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the flock


def read_lock(hostgroup: str) -> LockInfo | None:
    path = state_dir(hostgroup) / LOCK_FILE
    text = read_state_file(path, MAX_LOCK_BYTES)
    if text is None:
        return None
    try:
        data = json.loads(text.decode("utf-8"))
        if not isinstance(data, dict):
            raise TypeError("not an object")
        return LockInfo.from_dict(data)
    except (ValueError, KeyError, TypeError, RecursionError):
        # a lock half-written by a crashed admin: held by nobody we can name
        try:
            since = os.lstat(path).st_mtime
        except OSError:
            since = time.time()
        return LockInfo(host="?", pid=0, since=since, operation="?", token="damaged")


def try_acquire(hostgroup: str, info: LockInfo, break_token: str | None = None
                ) -> LockInfo | None:
    """Take the lock; return None on success or the current holder when it is held.
    break_token: remove an existing lock first, but only the one with that token."""
    directory = ensure_state_dir(hostgroup)
    path = directory / LOCK_FILE
    with _serialised(directory):
        current = read_lock(hostgroup)
        if current is not None:
            if current.token == info.token:
                return None  # ours already
            if break_token is None or current.token != break_token:
                return current
            path.unlink(missing_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:  # an older s2s-sd, which does not take the guard
            return read_lock(hostgroup) or info
        except OSError as exc:
            raise OperationFailed(f"{path}: cannot take the lock ({exc.strerror})") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(info.as_dict(), sort_keys=True))
            handle.flush()
            os.fsync(handle.fileno())
    return None


def release(hostgroup: str, token: str) -> bool:
    directory = state_dir(hostgroup)
    if not directory.is_dir():
        return False
    with _serialised(directory):
        current = read_lock(hostgroup)
        if current is None or current.token != token:
            return False
        (directory / LOCK_FILE).unlink(missing_ok=True)
    return True


def lock_file(hostgroup: str) -> Path:
    return state_dir(hostgroup) / LOCK_FILE
