"""What a host observed of a group, as data (pure): the answer of the `observe` request
that moves, the guard and `status` reason about. hosts/observe.py reads it from the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# systemd's ActiveState values in which a unit is up or on its way (engines/systemd/units.py
# uses the same set for its own waits)
ACTIVE_STATES = frozenset({"active", "activating", "deactivating", "reloading", "refreshing"})

OCF_RUNNING = 0
OCF_NOT_RUNNING = 7


@dataclass
class GroupObservation:
    group: str
    target: str = "inactive"
    units: dict[str, str] = field(default_factory=dict)  # unit -> ActiveState
    vips: dict[str, bool] = field(default_factory=dict)  # address -> present
    mounts: dict[str, bool] = field(default_factory=dict)  # mountpoint -> mounted
    scripts: dict[str, int] = field(default_factory=dict)  # service -> OCF monitor code
    # member -> local restarts by systemd since its last clean start (NRestarts)
    restarts: dict[str, int] = field(default_factory=dict)
    # member -> its last failure here, "UNIXTIME REASON" (systemd engine's recovery)
    last_failures: dict[str, str] = field(default_factory=dict)

    @property
    def active_parts(self) -> list[str]:
        parts = [u for u, s in self.units.items() if s in ACTIVE_STATES]
        if self.target in ACTIVE_STATES:
            parts.insert(0, "target")
        parts += [f"vip {a}" for a, up in self.vips.items() if up]
        parts += [f"mount {m}" for m, up in self.mounts.items() if up]
        parts += [f"script {s}" for s, code in self.scripts.items() if code != OCF_NOT_RUNNING]
        return parts

    @property
    def active(self) -> bool:
        return bool(self.active_parts)

    @property
    def fully_up(self) -> bool:
        return (self.target == "active" and all(s == "active" for s in self.units.values())
                and all(self.vips.values()) and all(self.mounts.values())
                and all(code == OCF_RUNNING for code in self.scripts.values()))

    @property
    def failed(self) -> list[str]:
        return sorted(u for u, s in self.units.items() if s == "failed")

    def as_dict(self) -> dict[str, Any]:
        return {"group": self.group, "target": self.target, "units": self.units,
                "vips": self.vips, "mounts": self.mounts, "scripts": self.scripts,
                "restarts": self.restarts, "last_failures": self.last_failures,
                "active": self.active, "fully_up": self.fully_up}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> GroupObservation:
        return GroupObservation(
            group=str(data["group"]), target=str(data["target"]),
            units={str(k): str(v) for k, v in dict(data["units"]).items()},
            vips={str(k): bool(v) for k, v in dict(data["vips"]).items()},
            mounts={str(k): bool(v) for k, v in dict(data["mounts"]).items()},
            scripts={str(k): int(v) for k, v in dict(data["scripts"]).items()},
            # absent in the answers of hosts with an older s2s-sd
            restarts={str(k): int(v) for k, v in dict(data.get("restarts") or {}).items()},
            last_failures={str(k): str(v)
                           for k, v in dict(data.get("last_failures") or {}).items()})




# -- what systemd says about a member's failures (`systemctl show`) -----------------------

SHOW_PROPERTIES = ("Id", "NRestarts", "Result", "ExecMainCode", "ExecMainStatus")
_CLD_CODES = {"1": "exited", "2": "killed", "3": "dumped core"}


@dataclass(frozen=True)
class UnitHealth:
    """A member unit's restart count and, when its last run ended badly, why."""

    restarts: int = 0
    last_failure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"restarts": self.restarts, "last_failure": self.last_failure}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> UnitHealth:
        failure = data.get("last_failure")
        return UnitHealth(int(data.get("restarts") or 0),
                          None if failure is None else str(failure))


def parse_systemctl_show(text: str) -> dict[str, UnitHealth]:
    """`systemctl show -p Id,NRestarts,Result,ExecMainCode,ExecMainStatus UNIT...`: one
    block of KEY=VALUE lines per unit, blocks separated by a blank line."""
    found: dict[str, UnitHealth] = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        unit = props.get("Id")
        if not unit:
            continue
        restarts = int(props["NRestarts"]) if props.get("NRestarts", "").isdigit() else 0
        result = props.get("Result", "success")
        failure = None
        if result and result != "success":
            how = _CLD_CODES.get(props.get("ExecMainCode", ""), "")
            status = props.get("ExecMainStatus", "0")
            detail = (f"signal {status}" if how in ("killed", "dumped core")
                      else f"status {status}" if how else "")
            failure = f"{result}" + (f" ({how}, {detail})" if detail else "")
        found[unit] = UnitHealth(restarts, failure)
    return found
