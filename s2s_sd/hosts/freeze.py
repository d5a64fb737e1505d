"""Frozen groups (`s2s-sd freeze GROUP`): while a group is frozen, s2s-sd changes nothing
of it: no local restart by its monitor, no start at boot (its guard refuses while the
host boots), no move, start, stop or recover. A start by hand passes the guard's usual
checks, so the operator's maintenance works and never two hosts run it.
The mark is a file in the host group's state dir on every host, so each host's own
monitor sees it without asking the admin host (which may be down)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_sd.hosts import state
from s2s_sd.writer import write_file_atomic

FROZEN_PREFIX = "frozen-"


def is_frozen(hostgroup: str, group: str) -> bool:
    """Whether the group is frozen on this host."""
    return (state.state_dir(hostgroup) / f"{FROZEN_PREFIX}{group}").is_file()


@dataclass(frozen=True)
class FrozenMark:
    """Who froze a group and when (the mark's content)."""

    since: float
    by: str  # the admin host that froze it

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"since {when}, by {self.by}"

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since, "by": self.by}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> FrozenMark:
        return FrozenMark(float(data.get("since", 0.0)), str(data.get("by", "?")))


def _mark_path(hostgroup: str, group: str) -> Path:
    return state.state_dir(hostgroup) / f"{FROZEN_PREFIX}{group}"


def read_marks(hostgroup: str) -> dict[str, FrozenMark]:
    """Every frozen group of this host -> its mark (a mark unreadable as JSON still
    freezes: a half-written or hand-made mark is a mark)."""
    directory = state.state_dir(hostgroup)
    if not directory.is_dir():
        return {}
    marks = {}
    for path in sorted(directory.glob(f"{FROZEN_PREFIX}*")):
        raw = state.read_state_file(path, limit=4096)
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        marks[path.name[len(FROZEN_PREFIX):]] = FrozenMark.from_dict(
            data if isinstance(data, dict) else {})
    return marks


def write_mark(hostgroup: str, group: str, mark: FrozenMark) -> None:
    state.ensure_state_dir(hostgroup)
    write_file_atomic(_mark_path(hostgroup, group),
                      json.dumps(mark.as_dict(), sort_keys=True) + "\n", mode=0o600)


def remove_mark(hostgroup: str, group: str) -> bool:
    """Remove the mark; False when there was none."""
    path = _mark_path(hostgroup, group)
    if not path.is_file():
        return False
    path.unlink(missing_ok=True)
    return True
