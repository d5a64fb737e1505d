"""What s2s-sd keeps on each host, per host group, in /var/lib/s2s-sd/HOSTGROUP
(S2S_SD_STATEDIR overrides the root, for tests and second installations):

  assignments.json   which host each group should run on, with an epoch: every change
                     increments it, so the newest copy among the hosts wins
  journal-GROUP.json the move (or start) of GROUP in progress: visible after a crash, and
                     the permission the guard on the target host honours
  generation.json    the generation and content hash of the synced base dir
  generations/N.tar  earlier generations, as backups
  lock               the admin lock (hosts/lock.py)
The directory is root's only (0700). Files are replaced atomically. A state root or
host-group dir that is a symbolic link, someone else's or writable by others is refused
(exit 3, naming it), and every file in it is opened without following links.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s2s_sd import paths
from s2s_sd.errors import OperationFailed, Refused
from s2s_sd.writer import write_file_atomic

STATE_ENV = paths.STATE_DIR.env
ASSIGNMENTS = "assignments.json"
JOURNAL_PREFIX = "journal-"
LOG_DIR_ENV = paths.LOG_DIR.env
MAX_STATE_FILE_BYTES = 64 * 1024 * 1024


def _trusted_dir(path: Path) -> bool:
    """Is path a directory only this user controls? False when it does not exist; Refused
    when it is a link, not a directory, someone else's or writable by others: the state
    decides what runs where, so a planted directory must never be believed or written."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise Refused(f"{path}: cannot use this state dir ({exc.strerror})") from exc
    if stat.S_ISLNK(info.st_mode):
        raise Refused(f"{path}: the state dir is a symbolic link; refusing to follow it "
                      "(remove the link: s2s-sd makes the directory)")
    if not stat.S_ISDIR(info.st_mode):
        raise Refused(f"{path}: the state dir is not a directory")
    if info.st_uid != os.geteuid():
        raise Refused(f"{path}: the state dir belongs to uid {info.st_uid}, not to this "
                      f"user (uid {os.geteuid()}); refusing to trust it")
    if info.st_mode & 0o022:
        raise Refused(f"{path}: the state dir is writable by others "
                      f"(mode {stat.S_IMODE(info.st_mode):04o}); refusing to trust it")
    return True


def state_dir(hostgroup: str) -> Path:
    """The host group's state dir (which may not exist yet), after checking that neither
    it nor the state root is a link or someone else's."""
    root = Path(paths.state_dir())
    path = root / hostgroup
    if _trusted_dir(root):
        _trusted_dir(path)
    return path


def ensure_state_dir(hostgroup: str) -> Path:
    path = state_dir(hostgroup)
    for directory, mode in ((path.parent, 0o755), (path, 0o700)):
        if not _trusted_dir(directory):
            try:
                directory.mkdir(parents=True, mode=mode)
            except FileExistsError:
                pass  # made meanwhile: checked below like any other
            except OSError as exc:
                raise OperationFailed(f"{directory}: cannot make the state dir "
                                      f"({exc.strerror})") from exc
            _trusted_dir(directory)
    os.chmod(path, 0o700)
    return path


def private_subdir(directory: Path, name: str, create: bool = True) -> Path:
    """A root-only directory inside a state dir (e.g. the generation backups), checked
    like the state dir itself; made when missing unless create is False."""
    path = directory / name
    if not _trusted_dir(path) and create:
        with contextlib.suppress(FileExistsError):  # made meanwhile: checked below
            path.mkdir(mode=0o700)
        _trusted_dir(path)
    return path


def open_state_file(path: Path, flags: int = os.O_RDONLY, mode: int = 0o600) -> int | None:
    """Open a file in a state dir without following a link and without blocking on a
    FIFO; None when it does not exist, Refused when it is a link or not a regular file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused(f"{path}: is a symbolic link; refusing to follow it "
                          "(remove it by hand)") from exc
        if exc.errno in (errno.EISDIR, errno.ENXIO):
            raise Refused(f"{path}: is not a regular file; remove it by hand") from exc
        raise OperationFailed(f"{path}: cannot open ({exc.strerror})") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise Refused(f"{path}: is not a regular file; remove it by hand")
    os.set_blocking(fd, True)
    return fd


def read_state_file(path: Path, limit: int = MAX_STATE_FILE_BYTES) -> bytes | None:
    """The content of a state file (None when missing), read with a size cap."""
    fd = open_state_file(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        # read(n) allocates n bytes up front: ask for what the file holds, not the cap
        data = handle.read(min(os.fstat(fd).st_size, limit) + 1)
    if len(data) > limit:
        raise OperationFailed(f"{path}: larger than {limit} bytes: not s2s-sd's state")
    return data


def _read_json(path: Path) -> dict[str, Any] | None:
    raw = read_state_file(path)
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise OperationFailed(f"{path}: unreadable state ({exc})") from exc
    if not isinstance(data, dict):
        raise OperationFailed(f"{path}: unreadable state (not a JSON object)")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_file_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)


@dataclass(frozen=True)
class Assignments:
    epoch: int
    groups: dict[str, str]


def read_assignment_state(hostgroup: str) -> Assignments:
    data = _read_json(state_dir(hostgroup) / ASSIGNMENTS) or {}
    raw = data.get("assignments", {})
    groups = {str(k): str(v) for k, v in raw.items() if isinstance(v, str)} \
        if isinstance(raw, dict) else {}
    epoch = data.get("epoch", 0)
    return Assignments(epoch if isinstance(epoch, int) else 0, groups)


def read_assignments(hostgroup: str) -> dict[str, str]:
    return read_assignment_state(hostgroup).groups


def write_assignment_state(hostgroup: str, state: Assignments) -> None:
    _write_json(ensure_state_dir(hostgroup) / ASSIGNMENTS,
                {"epoch": state.epoch, "assignments": dict(sorted(state.groups.items()))})


def write_assignments(hostgroup: str, assignments: dict[str, str]) -> None:
    current = read_assignment_state(hostgroup)
    write_assignment_state(hostgroup, Assignments(current.epoch + 1, dict(assignments)))


@dataclass(frozen=True)
class Journal:
    """A move (or start) in progress. `step` says how far it got."""

    group: str
    source: str | None
    target: str
    step: str
    admin: str
    pid: int
    started: float
    forced: bool = False
    # the admin process beyond its pid (hosts/lock.py process_start, boot_id): a reused
    # pid does not make a crashed move look alive; missing in journals of older versions
    pid_started: int | None = None
    boot_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def admin_process(self) -> dict[str, Any]:
        """The arguments of a `pid_alive` question about the admin that wrote it."""
        return {"pid": self.pid, "started": self.pid_started, "boot_id": self.boot_id}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Journal:
        try:
            return Journal(group=str(data["group"]),
                           source=None if data.get("source") is None else str(data["source"]),
                           target=str(data["target"]), step=str(data["step"]),
                           admin=str(data["admin"]), pid=int(data["pid"]),
                           started=float(data["started"]), forced=bool(data.get("forced")),
                           pid_started=None if data.get("pid_started") is None
                           else int(data["pid_started"]),
                           boot_id=None if data.get("boot_id") is None
                           else str(data["boot_id"])[:64])
        except (KeyError, TypeError, ValueError) as exc:
            raise OperationFailed(f"journal entry is damaged: {exc}") from exc


def _journal_path(hostgroup: str, group: str) -> Path:
    return state_dir(hostgroup) / f"{JOURNAL_PREFIX}{group}.json"


def read_journals(hostgroup: str) -> list[Journal]:
    """Every journaled operation on this host, one per group."""
    found = []
    for path in sorted(state_dir(hostgroup).glob(f"{JOURNAL_PREFIX}*.json")):
        data = _read_json(path)
        if data is not None:
            found.append(Journal.from_dict(data))
    return found


def read_journal(hostgroup: str, group: str | None = None) -> Journal | None:
    """The journal of `group`, or with no group the first one there is."""
    if group is not None:
        data = _read_json(_journal_path(hostgroup, group))
        return None if data is None else Journal.from_dict(data)
    journals = read_journals(hostgroup)
    return journals[0] if journals else None


def write_journal(hostgroup: str, journal: Journal) -> None:
    ensure_state_dir(hostgroup)
    _write_json(_journal_path(hostgroup, journal.group), journal.as_dict())


def clear_journal(hostgroup: str, group: str) -> bool:
    path = _journal_path(hostgroup, group)
    if not path.exists():
        return False
    path.unlink(missing_ok=True)
    return True


def log_action(hostgroup: str, host: str, text: str) -> None:
    """Append one line to this host's action log; logging never fails an operation, but
    a log that is a link or not a regular file is not written through (said on stderr)."""
    directory = Path(paths.log_dir())
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {host} [{hostgroup}] {text}\n"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = open_state_file(directory / "actions.log",
                             os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        if fd is not None:
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                handle.write(line)
    except (OSError, Refused, OperationFailed) as exc:
        print(f"s2s-sd: warning: action not logged: {exc}", file=sys.stderr)
