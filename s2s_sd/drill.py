"""The fire drill's findings: could every host take every group, without moving anything?

Pure: the findings model, which host is asked about which group, the admin-side
judgements that need answers of several hosts (who answers for a VIP, clock skew), the
aggregation into a host x group table, its text and its JSON (`SCHEMA_VERSION`). The
checks themselves run on each host (agent/drill_checks/), the requests in
hosts/drill_run.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions

SCHEMA_VERSION = 1
CLOCK_SKEW_WARN_SECONDS = 2.0
NOT_ALLOWED = "-"  # a table cell of a host the group may not run on


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


_SEVERITY = {Level.OK: 0, Level.WARN: 1, Level.FAIL: 2}


@dataclass(frozen=True)
class Finding:
    """One check of one group (or one member of it) on one host."""

    host: str
    group: str
    member: str | None  # None: the group or the host as a whole
    level: Level
    check: str  # stable id, e.g. "mount.fstab"
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "group": self.group, "member": self.member,
                "level": self.level.value, "check": self.check, "reason": self.reason}

    @staticmethod
    def from_dict(data: Any) -> Finding:
        """From a host's answer; anything malformed is bad input (a broken or foreign
        agent), never a traceback."""
        if not isinstance(data, Mapping):
            raise BadInput("drill answer: a finding must be an object")
        try:
            member = data["member"]
            texts = [data[key] for key in ("host", "group", "check", "reason")]
            level = Level(data["level"])
        except (KeyError, ValueError) as exc:
            raise BadInput(f"drill answer: malformed finding: {exc}") from exc
        if not all(isinstance(t, str) for t in texts) or not (member is None
                                                              or isinstance(member, str)):
            raise BadInput("drill answer: malformed finding: fields must be strings")
        host, group, check, reason = texts
        return Finding(host, group, member, level, check, reason)


def ok(host: str, group: str, member: str | None, check: str, reason: str) -> Finding:
    return Finding(host, group, member, Level.OK, check, reason)


def warn(host: str, group: str, member: str | None, check: str, reason: str) -> Finding:
    return Finding(host, group, member, Level.WARN, check, reason)


def fail(host: str, group: str, member: str | None, check: str, reason: str) -> Finding:
    return Finding(host, group, member, Level.FAIL, check, reason)


def for_groups(host: str, groups: Iterable[str], level: Level, check: str,
               reason: str) -> list[Finding]:
    """A finding about the host as a whole, in the cell of every group asked there: a
    host that cannot take any group cannot take this one."""
    return [Finding(host, group, None, level, check, reason) for group in groups]


def worst(levels: Iterable[Level]) -> Level:
    return max(levels, key=lambda level: _SEVERITY[level], default=Level.OK)


def failed(findings: Iterable[Finding]) -> bool:
    return any(f.level is Level.FAIL for f in findings)


# -- who is asked ------------------------------------------------------------------------

def drill_plan(defs: Definitions, groups: Sequence[str], hosts: Sequence[str]
               ) -> dict[str, list[str]]:
    """host -> the groups it is asked about: every allowed host of every named group
    (default: all groups), narrowed to HOSTS when given. Unknown names are bad input."""
    known_hosts = defs.hostgroup.host_names
    for host in hosts:
        if host not in known_hosts:
            raise BadInput(f"--host {host}: not a host of host group {defs.hostgroup.name} "
                           f"({', '.join(known_hosts)})")
    for name in groups:
        if defs.group(name) is None:
            raise BadInput(f"group '{name}' is not defined (groups: "
                           f"{', '.join(g.name for g in defs.groups) or 'none'})")
    chosen = [g for g in defs.groups if not groups or g.name in groups]
    plan: dict[str, list[str]] = {}
    for host in known_hosts:
        if hosts and host not in hosts:
            continue
        asked = [g.name for g in chosen if host in g.hosts]
        if asked:
            plan[host] = asked
    if not plan:
        raise BadInput("no group of those named may run on "
                       f"{', '.join(hosts)}: nothing to drill")
    return plan


# -- judgements that need more than one host's answer -------------------------------------

@dataclass(frozen=True)
class VipAnswer:
    """What one host heard when it probed for a group's VIP (ARP/ND): the MAC of whoever
    answered, or None."""

    host: str
    group: str
    member: str
    address: str
    mac: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"host": self.host, "group": self.group, "member": self.member,
                "address": self.address, "mac": self.mac}

    @staticmethod
    def from_dict(data: Any) -> VipAnswer:
        if not isinstance(data, Mapping):
            raise BadInput("drill answer: a VIP answer must be an object")
        texts = [data.get(key) for key in ("host", "group", "member", "address")]
        mac = data.get("mac")
        if not all(isinstance(t, str) for t in texts) or not (mac is None
                                                              or isinstance(mac, str)):
            raise BadInput("drill answer: malformed VIP answer")
        host, group, member, address = (str(t) for t in texts)
        return VipAnswer(host, group, member, address, mac)


def vip_findings(answers: Iterable[VipAnswer], macs: Mapping[str, Iterable[str]],
                 running: Mapping[str, Iterable[str]]) -> list[Finding]:
    """ip.answered: a VIP may be answered only by the host that runs its group now.

    macs: host -> its interfaces' MACs; running: group -> hosts where it runs now."""
    owner = {mac.lower(): host for host, own in macs.items() for mac in own}
    found = []
    for answer in answers:
        if answer.mac is None:
            found.append(ok(answer.host, answer.group, answer.member, "ip.answered",
                            f"nobody answers for {answer.address}"))
            continue
        holder = owner.get(answer.mac.lower())
        if holder is not None and holder in running.get(answer.group, ()):
            found.append(ok(answer.host, answer.group, answer.member, "ip.answered",
                            f"{answer.address} is answered by {holder}, which runs the "
                            "group now"))
            continue
        who = f"{holder} (which does not run {answer.group})" if holder else \
            "a machine outside the host group"
        found.append(fail(answer.host, answer.group, answer.member, "ip.answered",
                          f"{answer.address} is answered by {who}, MAC {answer.mac}"))
    return found


def clock_findings(host: str, groups: Iterable[str], sent: float, received: float,
                   host_time: float, threshold: float = CLOCK_SKEW_WARN_SECONDS
                   ) -> list[Finding]:
    """host.clock: the host read its clock between SENT and RECEIVED (admin's clock), so
    its skew lies in [host_time - received, host_time - sent]; only a skew that is
    certainly above the threshold is a warning (a slow round trip proves nothing)."""
    low, high = host_time - received, host_time - sent
    estimate = (low + high) / 2
    if low > threshold or high < -threshold:
        ahead = "ahead of" if estimate > 0 else "behind"
        return for_groups(host, groups, Level.WARN, "host.clock",
                          f"clock {abs(estimate):.1f} s {ahead} the admin host's (more than "
                          f"{threshold:g} s: logs, journals and lock ages disagree)")
    return for_groups(host, groups, Level.OK, "host.clock",
                      f"clock within {max(abs(low), abs(high)):.1f} s of the admin host's")


# -- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class DrillReport:
    hostgroup: str
    admin: str
    plan: Mapping[str, Sequence[str]]  # host -> groups asked there
    findings: tuple[Finding, ...]
    seconds: float

    @property
    def hosts(self) -> list[str]:
        return list(self.plan)

    @property
    def groups(self) -> list[str]:
        seen: dict[str, None] = {}
        for groups in self.plan.values():
            seen.update(dict.fromkeys(groups))
        return list(seen)

    @property
    def failed(self) -> bool:
        return failed(self.findings)

    def cell(self, host: str, group: str) -> str:
        if group not in self.plan.get(host, ()):
            return NOT_ALLOWED
        return worst(f.level for f in self.findings
                     if f.host == host and f.group == group).value

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "hostgroup": self.hostgroup,
            "admin": self.admin,
            "seconds": round(self.seconds, 3),
            "hosts": self.hosts,
            "groups": self.groups,
            "cells": {host: {group: self.cell(host, group) for group in self.groups}
                      for host in self.hosts},
            "failed": self.failed,
            "findings": [f.as_dict() for f in self.findings],
        }


# -- the record of the last drill (status shows its age) -----------------------------------------

def drill_records(report: DrillReport, when: float) -> dict[str, dict[str, Any]]:
    """group -> when it was last drilled, its worst cell, on which hosts."""
    return {group: {"time": when,
                    "result": worst(Level(report.cell(h, group)) for h in report.hosts
                                    if report.cell(h, group) != NOT_ALLOWED).value,
                    "hosts": [h for h in report.hosts if group in report.plan[h]]}
            for group in report.groups}


def age_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{max(0, int(seconds))} s"


def last_drill_line(records: Mapping[str, Any], groups: Sequence[str], now: float) -> str:
    """`last drill: censhare OK 5 min ago, web never` (a malformed record reads as never)."""
    parts = []
    for group in groups:
        record: Any = records.get(group)
        try:
            when, result = float(record["time"]), Level(record["result"])
        except (KeyError, TypeError, ValueError):
            parts.append(f"{group} never")
            continue
        parts.append(f"{group} {result.value} {age_text(now - when)} ago")
    return "last drill: " + ", ".join(parts)


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines, every column as wide as its widest cell (the last one unpadded)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            .rstrip() for row in rows]


def render_table(report: DrillReport, show_ok: bool = True) -> str:
    """The host x group table, then every finding with its reason (OK ones only with
    SHOW_OK), host by host, group by group, in the order the checks ran."""
    table = [["HOST", *report.groups]]
    table += [[host, *(report.cell(host, group) for group in report.groups)]
              for host in report.hosts]
    lines = [f"drill of host group {report.hostgroup} from {report.admin} "
             f"({len(report.hosts)} host(s), {report.seconds:.2f} s; nothing was changed)",
             "", *columns(table)]
    order = {(h, g): i for i, (h, g) in enumerate(
        (h, g) for h in report.hosts for g in report.groups)}
    shown = sorted((f for f in report.findings if show_ok or f.level is not Level.OK),
                   key=lambda f: order.get((f.host, f.group), len(order)))
    if shown:
        rows = [["HOST", "GROUP", "MEMBER", "LEVEL", "CHECK", "REASON"]]
        rows += [[f.host, f.group, f.member or "-", f.level.value, f.check, f.reason]
                 for f in shown]
        lines += ["", *columns(rows)]
    failures = sum(1 for f in report.findings if f.level is Level.FAIL)
    warnings = sum(1 for f in report.findings if f.level is Level.WARN)
    lines += ["", f"{failures} failure(s), {warnings} warning(s)"]
    return "\n".join(lines) + "\n"
