"""The status report as text and as JSON (pure): `s2s-sd status` and `status --json`.

    render_text(report)   the table and its alarms, columns sized to the data
    to_json(report)       the `status --json` object (schema in README.md, "status --json")

Both show the one model of status.py, whichever engine built it.
"""

from __future__ import annotations

from typing import Any

from s2s_sd.drill import columns, last_drill_line
from s2s_sd.naming import guard_unit
from s2s_sd.status import (
    HOST_ALARMS,
    Alarm,
    Cell,
    CellState,
    Engine,
    GroupReport,
    HostCondition,
    StatusReport,
)

SCHEMA_VERSION = 1


def _headline(report: StatusReport) -> str:
    if report.cluster is None:
        return (f"host group {report.hostgroup}, seen from {report.admin}; generations: "
                + ", ".join(f"{h.name}={h.generation if h.ok else '?'}" for h in report.hosts))
    nodes = ", ".join(f"{h.name} {h.node_state}" + (" (DC)" if h.dc else "")
                      for h in report.hosts)
    return (f"host group {report.hostgroup} (pacemaker), seen from {report.admin}: "
            f"{'quorate' if report.cluster.quorate else 'NO QUORUM'}; {nodes}")


def _placement(report: StatusReport, group: GroupReport) -> str:
    if report.engine is Engine.SYSTEMD:
        return group.assigned or "-"
    return group.running or ("stopped" if group.target_role == "Stopped" else "-")


def render_text(report: StatusReport, now: float) -> str:
    """The status table (hosts in host-group order, columns as wide as their data), the
    details of partly up or failed groups, unreachable hosts with the reason, locks,
    notes, alarms and the last drill of every group."""
    hosts = report.host_names
    second = "ASSIGNED" if report.engine is Engine.SYSTEMD else "RUNS ON"
    rows = [["GROUP", second, *hosts]]
    rows += [[g.name, _placement(report, g), *(g.cells[h].state.value for h in hosts)]
             for g in report.groups]
    table = columns(rows)
    indent = " " * (max(len(row[0]) for row in rows) + 2)
    lines = [_headline(report), table[0]]
    for group, row in zip(report.groups, table[1:], strict=True):
        lines.append(row)
        for host in hosts:
            cell = group.cells[host]
            if cell.refused_start:
                lines.append(f"{indent}{host}: its guard refused a start "
                             f"(systemctl status {guard_unit(group.name)})")
            if cell.state in (CellState.PARTIAL, CellState.FAILED):
                lines.append(f"{indent}{host}: " + ", ".join(
                    [*cell.active, *(f"failed {u}" for u in cell.failed)]))
        if group.frozen is not None:
            lines.append(f"{indent}FROZEN ({group.frozen.describe()}): s2s-sd changes "
                         f"nothing of it (`s2s-sd unfreeze {group.name}`)")
        for member in group.members:
            restarts = ", ".join(f"{h} {n}" for h, n in member.restarts.items() if n)
            if restarts or (member.last_failure and group.cells.get(
                    group.assigned or "", Cell(CellState.UP)).state is not CellState.UP):
                lines.append(f"{indent}{member.name}: "
                             + "; ".join(x for x in (restarts and f"restarts {restarts}",
                                                     member.last_failure and "last failure "
                                                     + member.last_failure) if x))
        for constraint in group.constraints:
            if constraint.expires:
                lines.append(f"{indent}{constraint.id}: prefers {constraint.node} until "
                             f"{constraint.expires.isoformat(timespec='seconds')}")
    for entry in report.hosts:
        if entry.condition is HostCondition.UNREACHABLE:
            lines.append(f"UNREACHABLE: {entry.name} (its groups are unknown, not stopped): "
                         f"{entry.reason}")
        elif entry.condition is HostCondition.FAILED:
            lines.append(f"NOT OBSERVED: {entry.name}"
                         + (" (this host)" if entry.name == report.admin else "")
                         + f": {entry.reason}")
        elif entry.condition is HostCondition.OFFLINE:
            lines.append(f"OFFLINE: {entry.name}")
    for entry in report.hosts:
        if entry.lock is not None:
            lines.append(f"lock on {entry.name}: held by {entry.lock.holder} pid "
                         f"{entry.lock.pid} for '{entry.lock.operation}'")
    lines += [f"note: {note}" for note in report.notes]
    lines += [f"ALARM: {a.message}" for a in sorted_alarms(report)
              if a.kind not in HOST_ALARMS]
    lines.append(last_drill_line(report.drills, [g.name for g in report.groups], now))
    return "\n".join(lines)


def sorted_alarms(report: StatusReport) -> list[Alarm]:
    """Every alarm once, in a stable order (by message, as the reports always printed)."""
    unique = {(a.message, a.kind): a for a in report.all_alarms}
    return [unique[key] for key in sorted(unique)]


def _cell_json(cell: Cell) -> dict[str, Any]:
    return {"state": cell.state.value, "active": list(cell.active),
            "failed": list(cell.failed), "refused_start": cell.refused_start}


def _group_json(group: GroupReport) -> dict[str, Any]:
    return {
        "group": group.name, "assigned": group.assigned, "running": group.running,
        "target_role": group.target_role, "managed": group.managed,
        "hosts": {h: _cell_json(c) for h, c in group.cells.items()},
        "members": [{"name": m.name, "hosts": dict(m.states),
                     "fail_counts": dict(m.fail_counts), "last_failure": m.last_failure,
                     "restarts": dict(m.restarts)}
                    for m in group.members],
        "frozen": group.frozen.as_dict() if group.frozen else None,
        "constraints": [c.as_dict() for c in group.constraints],
        "alarms": [a.as_dict() for a in group.alarms],
    }


def to_json(report: StatusReport) -> dict[str, Any]:
    """The `status --json` object, schema_version 1 (README.md, "status --json")."""
    cluster = report.cluster
    return {
        "schema_version": SCHEMA_VERSION,
        "engine": report.engine.value,
        "hostgroup": report.hostgroup,
        "host": report.admin,
        "hosts": [{"name": h.name, "condition": h.condition.value, "reason": h.reason,
                   "generation": h.generation,
                   "lock": h.lock.as_dict() if h.lock else None,
                   "node_state": h.node_state, "dc": h.dc} for h in report.hosts],
        "unreachable": [h.name for h in report.hosts if not h.ok],
        "generations": {h.name: h.generation for h in report.hosts
                        if h.generation is not None},
        "cluster": None if cluster is None else {
            "dc": cluster.dc, "quorate": cluster.quorate,
            "maintenance_mode": cluster.maintenance_mode,
            "stonith_enabled": cluster.stonith_enabled},
        "groups": [_group_json(g) for g in report.groups],
        "alarms": [a.as_dict() for a in sorted_alarms(report)],
        "notes": list(report.notes),
        "drills": dict(report.drills),
        "exit_code": report.exit_code,
    }
