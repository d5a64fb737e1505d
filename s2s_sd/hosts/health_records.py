"""What a host records about the health of its groups, in the host group's state dir,
for `status` to read through the `state` request:

    wanted-GROUP   the group was started here on purpose (start_group) and not stopped on
                   purpose since (stop_group): down here while assigned here is an alarm;
                   a group never started, or stopped with `s2s-sd stop`, is not
    watch.json     the concurrency violations this host's watcher (hosts/watch.py) sees
                   now: {"alarms": [{group, host, kind, message, since}], "checked": T}
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from s2s_sd.errors import OperationFailed
from s2s_sd.hosts import state
from s2s_sd.writer import write_file_atomic

WANTED_PREFIX = "wanted-"
WATCH_FILE = "watch.json"


def set_wanted(hostgroup: str, group: str, wanted: bool) -> None:
    path = state.state_dir(hostgroup) / f"{WANTED_PREFIX}{group}"
    if wanted:
        state.ensure_state_dir(hostgroup)
        write_file_atomic(path, f"{time.time():.3f}\n", mode=0o600)
    else:
        path.unlink(missing_ok=True)


def wanted_groups(hostgroup: str) -> list[str]:
    directory = state.state_dir(hostgroup)
    if not directory.is_dir():
        return []
    return sorted(p.name[len(WANTED_PREFIX):] for p in directory.glob(f"{WANTED_PREFIX}*"))


@dataclass(frozen=True)
class Violation:
    """A concurrency violation one host's watcher sees: its group active elsewhere too
    (kind "active_elsewhere"), or another host answering ARP/ND for its VIP
    ("vip_answered")."""

    group: str
    host: str  # the host that saw it
    kind: str
    message: str
    since: float

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.kind, self.message)

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "host": self.host, "kind": self.kind,
                "message": self.message, "since": self.since}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Violation:
        return Violation(str(data["group"]), str(data["host"]), str(data["kind"]),
                         str(data["message"]), float(data["since"]))


def read_violations(hostgroup: str) -> list[Violation]:
    raw = state.read_state_file(state.state_dir(hostgroup) / WATCH_FILE, limit=1 << 20)
    if raw is None:
        return []
    try:
        data = json.loads(raw)
        return [Violation.from_dict(v) for v in data.get("alarms", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OperationFailed(f"{WATCH_FILE}: unreadable watcher record ({exc})") from exc


def write_violations(hostgroup: str, violations: Sequence[Violation], checked: float) -> None:
    state.ensure_state_dir(hostgroup)
    data = {"alarms": [v.as_dict() for v in violations], "checked": checked}
    write_file_atomic(state.state_dir(hostgroup) / WATCH_FILE,
                      json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)
