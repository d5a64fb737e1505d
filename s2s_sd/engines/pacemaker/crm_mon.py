"""What a Pacemaker cluster says about itself, parsed (pure: text in, dataclasses out).

    crm_mon --one-shot --inactive --output-as=xml --include=all
        -> ClusterStatus: DC and quorum, cluster options (maintenance-mode,
           stonith-enabled, no-quorum-policy), nodes (online, standby, maintenance),
           groups and their members (role, where they run, failed, managed), failed
           actions and fail counts
    cibadmin --query --scope constraints
        -> the `cli-` constraints crm_resource --move/--ban (and s2s-sd move) leave,
           with their lifetime when they have one

and, from a ClusterStatus, where the groups run (Placement) and a group's members on
one line (member_line), as the runtime's reports and messages say them.

Only reading happens here; engines/pacemaker/crm_tools.py runs the tools.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from s2s_sd.errors import OperationFailed
from s2s_sd.naming import BAN_PREFIX, CLI_PREFIX, PREFER_PREFIX

_PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True,
                          huge_tree=True)


INFINITY = 1000000  # Pacemaker's score and fail count "INFINITY"


def fail_count_text(count: int) -> str:
    return "INFINITY" if count >= INFINITY else str(count)


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1", "yes", "on")


@dataclass(frozen=True)
class NodeState:
    name: str
    online: bool
    standby: bool = False
    maintenance: bool = False
    unclean: bool = False
    pending: bool = False
    is_dc: bool = False
    shutdown: bool = False

    @property
    def usable(self) -> bool:
        """Online and able to run resources."""
        return self.online and not (self.standby or self.maintenance or self.unclean
                                    or self.pending or self.shutdown)

    @property
    def label(self) -> str:
        if not self.online:
            return "UNCLEAN (offline)" if self.unclean else "offline"
        for flag in ("unclean", "standby", "maintenance", "pending", "shutdown"):
            if getattr(self, flag):
                return flag
        return "online"


@dataclass(frozen=True)
class Member:
    """A primitive of a group, as crm_mon reports it."""

    id: str
    agent: str
    role: str  # Started, Stopped, Starting, Stopping, ...
    target_role: str | None
    nodes: tuple[str, ...]  # where it is active (or believed to be)
    failed: bool = False
    managed: bool = True
    blocked: bool = False
    orphaned: bool = False

    @property
    def active(self) -> bool:
        """Active, or possibly active (a failed stop): crm_mon names a node for it."""
        return bool(self.nodes) and self.role != "Stopped"


@dataclass(frozen=True)
class GroupState:
    id: str
    members: tuple[Member, ...]
    managed: bool = True
    disabled: bool = False  # crm_mon: target-role Stopped on the group
    maintenance: bool = False

    def active_nodes(self) -> list[str]:
        """Every node on which any member is active, in member order."""
        found: list[str] = []
        for member in self.members:
            if member.active:
                for node in member.nodes:
                    if node not in found:
                        found.append(node)
        return found

    def members_on(self, node: str) -> list[str]:
        return [m.id for m in self.members if m.active and node in m.nodes]

    def fully_on(self) -> str | None:
        """The node every member runs on, Started, when there is exactly one."""
        nodes = {n for m in self.members for n in m.nodes}
        if len(nodes) != 1 or not self.members:
            return None
        node = next(iter(nodes))
        if all(m.role == "Started" and m.nodes == (node,) and not m.failed
               for m in self.members):
            return node
        return None

    @property
    def stopped_everywhere(self) -> bool:
        return not any(m.active for m in self.members)

    @property
    def failed_members(self) -> list[str]:
        return [m.id for m in self.members if m.failed]

    @property
    def unmanaged(self) -> bool:
        return not self.managed or any(not m.managed for m in self.members)

    @property
    def frozen(self) -> bool:
        """is-managed=false on the group, which its members inherit: `s2s-sd freeze`."""
        return not self.managed and all(not m.managed for m in self.members)


@dataclass(frozen=True)
class Failure:
    """A failed action (crm_mon's "Failed Resource Actions")."""

    resource: str  # the primitive
    operation: str  # start, stop, monitor, probe
    interval_ms: int
    node: str
    exit_status: str
    exit_reason: str
    exit_code: int
    last_change: str

    def describe(self) -> str:
        if self.operation == "monitor" and self.interval_ms and self.exit_code == 0:
            # only a role=Stopped monitor fails with "ok": a rogue instance found
            return (f"{self.resource} found running on {self.node}, where it should be "
                    "stopped (its role=Stopped monitor)")
        op = "probe" if self.operation == "monitor" and self.interval_ms == 0 else \
            self.operation
        reason = f": {self.exit_reason}" if self.exit_reason else ""
        return f"{op} of {self.resource} on {self.node} failed ({self.exit_status}{reason})"

    def as_dict(self) -> dict[str, Any]:
        return {"resource": self.resource, "operation": self.operation,
                "interval_ms": self.interval_ms, "node": self.node,
                "exit_status": self.exit_status, "exit_reason": self.exit_reason,
                "exit_code": self.exit_code, "last_change": self.last_change}


@dataclass
class ClusterStatus:
    dc: str | None = None
    quorate: bool = False
    maintenance_mode: bool = False
    stonith_enabled: bool = True
    no_quorum_policy: str = "stop"
    nodes: dict[str, NodeState] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    primitives: dict[str, Member] = field(default_factory=dict)  # top-level ones
    failures: list[Failure] = field(default_factory=list)
    fail_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (rsc, node)
    migration_thresholds: dict[str, int] = field(default_factory=dict)

    @property
    def offline_nodes(self) -> list[str]:
        return sorted(n for n, s in self.nodes.items() if not s.online)

    def failures_of(self, resources: Iterable[str]) -> list[Failure]:
        wanted = set(resources)
        return [f for f in self.failures if f.resource in wanted]

    def fail_counts_of(self, resources: Iterable[str]) -> dict[tuple[str, str], int]:
        wanted = set(resources)
        return {k: v for k, v in self.fail_counts.items() if k[0] in wanted and v > 0}


def _root(text: str, what: str) -> etree._Element:
    try:
        return etree.fromstring(text.encode("utf-8"), _PARSER)
    except etree.XMLSyntaxError as exc:
        raise OperationFailed(f"{what}: not XML: {exc}") from exc


def _member(element: etree._Element) -> Member:
    nodes = tuple(n.get("name", "") for n in element.iterfind("node") if n.get("name"))
    return Member(
        id=element.get("id", ""),
        agent=element.get("resource_agent", ""),
        role=element.get("role", "Stopped"),
        target_role=element.get("target_role"),
        nodes=nodes,
        failed=_bool(element.get("failed")),
        managed=_bool(element.get("managed", "true")),
        blocked=_bool(element.get("blocked")),
        orphaned=_bool(element.get("orphaned")),
    )


def _strip_clone_suffix(rsc: str) -> str:
    return rsc.split(":", 1)[0]


def _failure(element: etree._Element) -> Failure:
    op_key = element.get("op_key", "")
    task = element.get("task", "")
    interval = int(element.get("interval", "0") or 0)
    # op_key is RSC_TASK_INTERVAL; the resource id may itself contain underscores
    suffix = f"_{task}_{interval}"
    resource = op_key[: -len(suffix)] if task and op_key.endswith(suffix) else \
        op_key.rsplit("_", 2)[0]
    return Failure(
        resource=_strip_clone_suffix(resource),
        operation=task,
        interval_ms=interval,
        node=element.get("node", ""),
        exit_status=element.get("exitstatus", ""),
        # crm_mon escapes the agent's text once more than XML needs
        exit_reason=html.unescape(element.get("exitreason", "")),
        exit_code=int(element.get("exitcode", "1") or 1),
        last_change=element.get("last-rc-change", ""),
    )


def parse_crm_mon(text: str) -> ClusterStatus:
    """`crm_mon --output-as=xml` (Pacemaker 2.1) -> ClusterStatus."""
    root = _root(text, "crm_mon")
    if root.tag != "pacemaker-result":
        raise OperationFailed(f"crm_mon: unexpected XML root <{root.tag}>")
    status = root.find("status")
    if status is not None and status.get("code") not in (None, "0"):
        raise OperationFailed(f"crm_mon: {status.get('message', 'error')} "
                              f"(code {status.get('code')})")
    result = ClusterStatus()
    dc = root.find("summary/current_dc")
    if dc is not None and _bool(dc.get("present")):
        result.dc = dc.get("name")
        result.quorate = _bool(dc.get("with_quorum"))
    options = root.find("summary/cluster_options")
    if options is not None:
        result.maintenance_mode = _bool(options.get("maintenance-mode"))
        result.stonith_enabled = _bool(options.get("stonith-enabled", "true"))
        result.no_quorum_policy = options.get("no-quorum-policy", "stop")
    for node in root.iterfind("nodes/node"):
        name = node.get("name", "")
        result.nodes[name] = NodeState(
            name=name, online=_bool(node.get("online")), standby=_bool(node.get("standby")),
            maintenance=_bool(node.get("maintenance")), unclean=_bool(node.get("unclean")),
            pending=_bool(node.get("pending")), is_dc=_bool(node.get("is_dc")),
            shutdown=_bool(node.get("shutdown")))
    for element in root.iterfind("resources/*"):
        if element.tag == "group":
            members = tuple(_member(r) for r in element.iterfind("resource"))
            group_id = element.get("id", "")
            result.groups[group_id] = GroupState(
                id=group_id, members=members,
                managed=_bool(element.get("managed", "true")),
                disabled=_bool(element.get("disabled")),
                maintenance=_bool(element.get("maintenance")))
        elif element.tag == "resource":
            member = _member(element)
            result.primitives[member.id] = member
    for element in root.iterfind("failures/failure"):
        result.failures.append(_failure(element))
    for node in root.iterfind("node_history/node"):
        node_name = node.get("name", "")
        for history in node.iterfind("resource_history"):
            rsc = _strip_clone_suffix(history.get("id", ""))
            count = history.get("fail-count")
            if count is not None:
                value = INFINITY if count == "INFINITY" else min(INFINITY, int(count or 0))
                result.fail_counts[(rsc, node_name)] = value
            threshold = history.get("migration-threshold")
            if threshold is not None:
                result.migration_thresholds[rsc] = (
                    INFINITY if threshold == "INFINITY" else int(threshold or 0))
    return result


# -- constraints ---------------------------------------------------------------------------

@dataclass(frozen=True)
class CliConstraint:
    """A constraint crm_resource --move/--ban (or s2s-sd move) created: id `cli-...`."""

    id: str
    rsc: str
    kind: str  # "prefer" | "ban" | "other"
    node: str | None
    score: str
    role: str | None
    expires: dt.datetime | None  # from a lifetime rule (date_expression lt END)

    def expired(self, now: dt.datetime) -> bool:
        return self.expires is not None and self.expires <= now

    def describe(self, now: dt.datetime | None = None) -> str:
        what = {"prefer": f"prefers {self.node}", "ban": f"bans it from {self.node}"}.get(
            self.kind, "location constraint")
        life = ""
        if self.expires is not None:
            life = (" (expired)" if now is not None and self.expired(now)
                    else f" until {self.expires.isoformat(timespec='seconds')}")
        return f"{self.id} ({what}{life})"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "rsc": self.rsc, "kind": self.kind, "node": self.node,
                "score": self.score, "role": self.role,
                "expires": self.expires.isoformat(timespec="seconds") if self.expires
                else None}


_DATE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?\s*$")


def parse_crm_date(text: str) -> dt.datetime | None:
    """A Pacemaker date ("2025-01-31 12:00:00 +01:00", ISO 8601 forms) -> aware datetime;
    None when it cannot be read."""
    match = _DATE.match(text or "")
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    tz = dt.UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return dt.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                           int(second or 0), tzinfo=tz)
    except ValueError:
        return None


def format_crm_date(when: dt.datetime) -> str:
    """An aware datetime as Pacemaker writes dates ("2025-01-31 11:00:00 +00:00")."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S +00:00")


def cli_constraints(constraints_xml: str) -> list[CliConstraint]:
    """The `cli-` location constraints of a CIB (or of its constraints section)."""
    root = _root(constraints_xml, "cibadmin --query")
    found = []
    for element in root.iter("rsc_location"):
        cid = element.get("id", "")
        if not cid.startswith(CLI_PREFIX):
            continue
        kind = ("prefer" if cid.startswith(PREFER_PREFIX) else
                "ban" if cid.startswith(BAN_PREFIX) else "other")
        node = element.get("node")
        score = element.get("score", "")
        expires = None
        for rule in element.iterfind("rule"):
            score = rule.get("score", score)
            for expression in rule.iterfind("expression"):
                if expression.get("attribute") == "#uname" and node is None:
                    node = expression.get("value")
            for date in rule.iterfind("date_expression"):
                if date.get("operation") == "lt" and date.get("end"):
                    expires = parse_crm_date(date.get("end", ""))
        found.append(CliConstraint(id=cid, rsc=element.get("rsc", ""), kind=kind, node=node,
                                   score=score, role=element.get("role"), expires=expires))
    return found


# -- where the groups run, for reports -------------------------------------------------------

@dataclass(frozen=True)
class Placement:
    """Where each group runs: node, None (stopped everywhere) or "?" (partly, twice)."""

    where: dict[str, str | None] = field(default_factory=dict)

    @staticmethod
    def of(status: ClusterStatus, groups: Sequence[str]) -> Placement:
        where: dict[str, str | None] = {}
        for name in groups:
            state = status.groups.get(name)
            if state is None or state.stopped_everywhere:
                where[name] = None
            else:
                where[name] = state.fully_on() or "?"
        return Placement(where)

    def changes(self, after: Placement) -> list[str]:
        lines = []
        for name in sorted(set(self.where) | set(after.where)):
            old, new = self.where.get(name), after.where.get(name)
            if old == new:
                continue
            if old is None:
                lines.append(f"{name}: started on {new}")
            elif new is None:
                lines.append(f"{name}: stopped (was on {old})")
            else:
                lines.append(f"{name}: moved {old} -> {new}")
        return lines


def member_line(state: GroupState) -> str:
    """Each member's role, where it runs and whether it failed, on one line."""
    parts = []
    for member in state.members:
        where = ",".join(member.nodes) or "-"
        flag = " FAILED" if member.failed else ""
        parts.append(f"{member.id} {member.role}@{where}{flag}")
    return "; ".join(parts)
