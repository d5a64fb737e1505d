"""The admin lock: one administering host at a time.

Each host keeps a lock file in its state dir, created with O_CREAT|O_EXCL|O_NOFOLLOW and
mode 0600 in a root-only directory, so neither a race nor a planted symlink can make two
admins believe they hold it. The admin takes the lock on every reachable host in sorted
order (hosts/orchestrate.py): whoever gets the first host wins, the other stops there.
The lock says who holds it (host, pid), since when and for what; a lock whose holder is
gone is stale and is only broken on request (--break-lock).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s2s_sd.errors import OperationFailed
from s2s_sd.hosts.state import ensure_state_dir, state_dir

LOCK_FILE = "lock"


@dataclass(frozen=True)
class LockInfo:
    host: str
    pid: int
    since: float
    operation: str
    token: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        age = max(0, int(time.time() - self.since))
        return (f"{self.host} pid {self.pid} since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.since))} "
                f"({age} s ago) for '{self.operation}'")

    @staticmethod
    def from_dict(data: dict[str, Any]) -> LockInfo:
        return LockInfo(host=str(data["host"]), pid=int(data["pid"]),
                        since=float(data["since"]), operation=str(data["operation"]),
                        token=str(data["token"]))


def read_lock(hostgroup: str) -> LockInfo | None:
    path = state_dir(hostgroup) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OperationFailed(f"{path}: cannot read the lock ({exc.strerror})") from exc
    with os.fdopen(fd, encoding="utf-8") as handle:
        text = handle.read()
    try:
        return LockInfo.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError):
        # a lock half-written by a crashed admin: held by nobody we can name
        return LockInfo(host="?", pid=0, since=path.stat().st_mtime, operation="?",
                        token="damaged")


def try_acquire(hostgroup: str, info: LockInfo, break_token: str | None = None
                ) -> LockInfo | None:
    """Take the lock; return None on success or the current holder when it is held.
    break_token: remove an existing lock first, but only the one with that token."""
    directory = ensure_state_dir(hostgroup)
    path = directory / LOCK_FILE
    current = read_lock(hostgroup)
    if current is not None:
        if current.token == info.token:
            return None  # ours already
        if break_token is None or current.token != break_token:
            return current
        path.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_lock(hostgroup) or info
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(info.as_dict(), sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    return None


def release(hostgroup: str, token: str) -> bool:
    current = read_lock(hostgroup)
    if current is None or current.token != token:
        return False
    (state_dir(hostgroup) / LOCK_FILE).unlink(missing_ok=True)
    return True


def pid_alive(pid: int) -> bool:
    """Is pid a live s2s-sd process on this host?"""
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"s2s-sd" in cmdline or b"s2s_sd" in cmdline


def lock_file(hostgroup: str) -> Path:
    return state_dir(hostgroup) / LOCK_FILE
