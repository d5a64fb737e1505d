"""What s2s-sd keeps on each host, per host group, in /var/lib/s2s-sd/HOSTGROUP
(S2S_SD_STATEDIR overrides the root, for tests and second installations):

  assignments.json   which host each group should run on, with an epoch: every change
                     increments it, so the newest copy among the hosts wins
  journal-GROUP.json the move (or start) of GROUP in progress: visible after a crash, and
                     the permission the guard on the target host honours
  generation.json    the generation and content hash of the synced base dir
  generations/N.tar  earlier generations, as backups
  lock               the admin lock (hosts/lock.py)
The directory is root's only (0700). Files are replaced atomically.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from s2s_sd import paths
from s2s_sd.errors import OperationFailed
from s2s_sd.writer import write_file_atomic

STATE_ENV = paths.STATE_DIR.env
ASSIGNMENTS = "assignments.json"
JOURNAL_PREFIX = "journal-"
LOG_DIR_ENV = paths.LOG_DIR.env


def state_dir(hostgroup: str) -> Path:
    path = Path(paths.state_dir()) / hostgroup
    return path


def ensure_state_dir(hostgroup: str) -> Path:
    path = state_dir(hostgroup)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise OperationFailed(f"{path}: unreadable state ({exc})") from exc
    if not isinstance(data, dict):
        raise OperationFailed(f"{path}: unreadable state (not a JSON object)")
    return data


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
    _write_json(state_dir(hostgroup) / ASSIGNMENTS,
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Journal:
        try:
            return Journal(group=str(data["group"]),
                           source=None if data.get("source") is None else str(data["source"]),
                           target=str(data["target"]), step=str(data["step"]),
                           admin=str(data["admin"]), pid=int(data["pid"]),
                           started=float(data["started"]), forced=bool(data.get("forced")))
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
    _write_json(_journal_path(hostgroup, journal.group), journal.as_dict())


def clear_journal(hostgroup: str, group: str) -> bool:
    path = _journal_path(hostgroup, group)
    if not path.exists():
        return False
    path.unlink(missing_ok=True)
    return True


def log_action(hostgroup: str, host: str, text: str) -> None:
    """Append one line to this host's action log; logging never fails an operation."""
    directory = Path(paths.log_dir())
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {host} [{hostgroup}] {text}\n"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "actions.log", "a", encoding="utf-8") as handle:
            handle.write(line)
    except OSError:
        pass
