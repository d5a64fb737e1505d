"""Where s2s-sd keeps its runtime state on a host: assignments of groups to hosts.

State lives outside the base dir, per host group, in /var/lib/s2s-sd/HOSTGROUP
(S2S_SD_STATEDIR overrides the root, for tests and second installations).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from s2s_sd.errors import OperationFailed
from s2s_sd.writer import write_file_atomic

STATE_ROOT = "/var/lib/s2s-sd"
STATE_ENV = "S2S_SD_STATEDIR"
ASSIGNMENTS = "assignments.json"


def state_dir(hostgroup: str) -> Path:
    return Path(os.environ.get(STATE_ENV) or STATE_ROOT) / hostgroup


def read_assignments(hostgroup: str) -> dict[str, str]:
    path = state_dir(hostgroup) / ASSIGNMENTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise OperationFailed(f"{path}: unreadable state ({exc}); restore it or remove it "
                              "to fall back to the preferred hosts") from exc
    assignments = data.get("assignments", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in assignments.items() if isinstance(v, str)}


def write_assignments(hostgroup: str, assignments: dict[str, str]) -> None:
    path = state_dir(hostgroup) / ASSIGNMENTS
    text = json.dumps({"assignments": dict(sorted(assignments.items()))}, indent=2) + "\n"
    write_file_atomic(path, text, mode=0o600)
