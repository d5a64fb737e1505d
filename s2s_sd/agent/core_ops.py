"""The host side of every cross-host request (`s2s-sd agent`, and in-process for the
admin's own host): the host group's records (state, observe, lock, journal, assignments,
config) and the request types the operations share; the systemd engine's group
operations are group_ops.py's. Requests are validated like any bad input: an unknown
operation, a missing or mistyped argument or an unknown group is refused with exit 2 and
changes nothing. Every operation that changes something is appended to this host's
action log.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from s2s_sd.engines.systemd.units import (
    install_boot_links,
    install_units,
    systemd_running,
)
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.hosts import freeze, health_records, lock, state, sync
from s2s_sd.hosts.archive import MAX_ARCHIVE_BYTES, content_digest
from s2s_sd.hosts.observe import observe, observe_with_health
from s2s_sd.hosts.protocol import (
    BASE64,
    COUNTER,
    HOST,
    MAX_REQUEST_BYTES,
    NAME,
    PID,
    Choice,
    Flag,
    Integer,
    ListOf,
    MapOf,
    Operation,
    Record,
    Text,
    arg,
)
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions, Group
from s2s_sd.plan import boot_groups
from s2s_sd.render.systemd import UnitSettings, render_units
from s2s_sd.timings import AGENT_START, Timings, seconds_since_process_start


@dataclass
class AgentContext:
    basedir: Path
    host: str
    _defs: Definitions | None = field(default=None, repr=False)

    def defs(self) -> Definitions:
        if self._defs is None:
            self._defs = load_definitions(self.basedir, self.host)
        return self._defs

    def forget(self) -> None:
        self._defs = None


# -- requests (hosts/protocol.py checks every field before a handler runs) ----------------

@dataclass(frozen=True)
class HostgroupRequest:
    hostgroup: str = arg(NAME)


@dataclass(frozen=True)
class GroupRequest:
    group: str = arg(NAME)


@dataclass(frozen=True)
class GenerationRequest:
    """A request that acts on a group only where the configuration is the admin's."""

    group: str = arg(NAME)
    generation: int = arg(COUNTER)


@dataclass(frozen=True)
class ObserveRequest:
    groups: tuple[str, ...] | None = arg(ListOf(NAME), required=False)
    scripts: bool | None = arg(Flag(), required=False)
    hostgroup: str | None = arg(NAME, required=False)  # status: the state too
    health: bool | None = arg(Flag(), required=False)  # status: restarts, last failures


@dataclass(frozen=True)
class LockAcquireRequest:
    hostgroup: str = arg(NAME)
    lock: dict[str, Any] = arg(Record(lock.LockInfo))
    break_token: str | None = arg(Text(), required=False)


@dataclass(frozen=True)
class LockReleaseRequest:
    hostgroup: str = arg(NAME)
    token: str = arg(Text())


@dataclass(frozen=True)
class PidRequest:
    pid: int = arg(PID)
    # the holder's identity (lock.LockInfo.started, boot_id): exactly that process
    started: int | None = arg(Integer(0, 2**63), required=False)
    boot_id: str | None = arg(Text(max_length=64), required=False)


@dataclass(frozen=True)
class ReceiveConfigRequest:
    hostgroup: str = arg(NAME)
    generation: int = arg(COUNTER)
    digest: str = arg(Text())
    archive: str = arg(Text(MAX_REQUEST_BYTES, BASE64, "base64"))
    units: bool | None = arg(Flag(), required=False)


@dataclass(frozen=True)
class AssignmentsRequest:
    epoch: int = arg(COUNTER)
    assignments: dict[str, str] = arg(MapOf(NAME, HOST))


@dataclass(frozen=True)
class JournalRequest:
    journal: dict[str, Any] = arg(Record(state.Journal))


@dataclass(frozen=True)
class HookRequest:
    group: str = arg(NAME)
    which: str = arg(Choice(("pre_move", "post_move")))
    target: str = arg(HOST)
    # empty or absent: a start, not a move (the hook's FROM is empty then)
    source: str | None = arg(Text(253, HOST.pattern, HOST.form), required=False)


@dataclass(frozen=True)
class FreezeRequest:
    group: str = arg(NAME)
    frozen: bool = arg(Flag())
    by: str = arg(HOST)  # the admin host (the mark says who froze it)


def known_group(ctx: AgentContext, name: str) -> Group:
    group = ctx.defs().group(name)
    if group is None:
        raise BadInput(f"group '{name}' is not defined on {ctx.host}")
    return group


def check_generation(ctx: AgentContext, expected: int) -> None:
    """A host whose configuration differs from the admin's refuses to act."""
    hostgroup = ctx.defs().hostgroup.name
    mine = sync.read_generation(hostgroup)
    if mine.number != expected:
        relation = "older than" if mine.number < expected else "newer than"
        raise Refused(f"{ctx.host} has configuration generation {mine.number}, {relation} "
                      f"the admin host's {expected}: run `s2s-sd sync` first")


def _arg(args: Mapping[str, Any], name: str, kind: type, required: bool = True) -> Any:
    """An argument of a checked request given as a mapping (receive_config)."""
    if args.get(name) is None:
        if required:
            raise BadInput(f"request: missing argument '{name}'")
        return None
    value = args[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadInput(f"request: argument '{name}' must be {kind.__name__}")
    return value


def _hostgroup(ctx: AgentContext, args: Mapping[str, Any]) -> str:
    return str(NAME("hostgroup", args.get("hostgroup")))


# -- operations ---------------------------------------------------------------------------

def op_state(ctx: AgentContext, request: HostgroupRequest) -> dict[str, Any]:
    hostgroup = request.hostgroup
    generation = sync.read_generation(hostgroup)
    assignments = state.read_assignment_state(hostgroup)
    journals = state.read_journals(hostgroup)
    journal = journals[0] if journals else None
    held = lock.read_lock(hostgroup)
    try:
        # what is really in the base dir, not what was recorded: a hand edit shows
        actual = content_digest(ctx.basedir) if ctx.basedir.is_dir() else ""
    except BadInput:
        actual = "unreadable"
    return {
        "host": ctx.host,
        "generation": generation.number,
        "digest": generation.digest,
        "digest_actual": actual,
        "journals": [j.as_dict() for j in journals],
        "epoch": assignments.epoch,
        "assignments": assignments.groups,
        "journal": journal.as_dict() if journal else None,
        "lock": held.as_dict() if held else None,
        "lock_holder_alive": bool(held and held.host == ctx.host and held.holder_alive()),
        # health (issue 13): frozen groups, groups started here on purpose, and what
        # this host's watcher sees now
        "frozen": {g: m.as_dict() for g, m in freeze.read_marks(hostgroup).items()},
        "wanted": health_records.wanted_groups(hostgroup),
        "violations": [v.as_dict() for v in health_records.read_violations(hostgroup)],
    }


def op_observe(ctx: AgentContext, request: ObserveRequest) -> dict[str, Any]:
    phases = Timings()  # status --timings: where this host's time went
    age = seconds_since_process_start(lock.process_start(os.getpid()))
    if age is not None:
        phases.add(AGENT_START, None, age)
    with phases.step("definitions"):
        defs = ctx.defs()
    groups = None if request.groups is None else [known_group(ctx, g).name for g in request.groups]
    scripts = request.scripts is not False
    with phases.step("observe (units, VIPs, mounts, scripts, health)"):
        if request.health:  # status: every member's restart count and last failure
            seen, health_of = observe_with_health(defs, str(ctx.basedir), groups, scripts)
        else:
            seen, health_of = observe(defs, str(ctx.basedir), groups, scripts), None
    answer: dict[str, Any] = {"host": ctx.host,
                              "groups": {name: o.as_dict() for name, o in seen.items()}}
    if request.hostgroup is not None:  # status: the host's state in the same round trip
        with phases.step("state"):
            answer["state"] = op_state(ctx, HostgroupRequest(request.hostgroup))
    if health_of is not None:
        answer["health"] = {u: h.as_dict() for u, h in health_of.items()}
        answer["seconds"] = phases.seconds()
    return answer


def op_lock_acquire(ctx: AgentContext, request: LockAcquireRequest) -> dict[str, Any]:
    hostgroup = request.hostgroup
    try:
        info = lock.LockInfo.from_dict(request.lock)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"request: malformed lock: {exc}") from exc
    break_token = request.break_token
    held = lock.try_acquire(hostgroup, info, break_token)
    if held is None:
        state.log_action(hostgroup, ctx.host, f"lock taken by {info.describe()}"
                         + (f" (broke {break_token})" if break_token else ""))
    return {"held": held.as_dict() if held else None,
            "holder_alive": bool(held and held.host == ctx.host and held.holder_alive())}


def op_lock_release(ctx: AgentContext, request: LockReleaseRequest) -> dict[str, Any]:
    return {"released": lock.release(request.hostgroup, request.token)}


def op_pid_alive(ctx: AgentContext, request: PidRequest) -> dict[str, Any]:
    """Is that process alive here: with `started` and `boot_id` (a lock's holder
    identity) exactly that process, without them any s2s-sd process with the pid."""
    return {"alive": lock.process_alive(request.pid, request.started, request.boot_id)}


def apply_local_units(ctx: AgentContext) -> dict[str, Any]:
    """Install this host's units and boot links from its base dir and state."""
    defs = ctx.defs()
    settings = UnitSettings.installed(str(ctx.basedir))
    assignments = state.read_assignments(defs.hostgroup.name)
    boot = boot_groups(defs, ctx.host, assignments)
    report = install_units(Path("/"), render_units(defs, settings), settings, boot,
                           [g.name for g in defs.groups])
    return {"written": report.written, "removed": report.removed,
            "boot": list(boot), "reloaded": report.reloaded}


def op_receive_config(ctx: AgentContext, args: Mapping[str, Any]) -> dict[str, Any]:
    """Install a new generation: refused (exit 2, nothing changed) unless the archive is
    sound and its definitions load and validate on this host, for this host group."""
    hostgroup = _hostgroup(ctx, args)
    number = _arg(args, "generation", int)
    digest = _arg(args, "digest", str)
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise BadInput("request: 'digest' must be a sha256 in hex")
    encoded = _arg(args, "archive", str)
    if len(encoded) > MAX_ARCHIVE_BYTES * 4 // 3 + 4:
        raise BadInput("request: configuration archive too large")
    try:
        archive = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadInput(f"request: archive is not base64: {exc}") from exc
    sync.install(hostgroup, ctx.basedir, number, digest, archive,
                 sync.host_check(ctx.host, hostgroup))
    ctx.forget()
    # units=False: the admin installs the units in a later step (engine migration)
    units = _arg(args, "units", bool, required=False) is not False
    applied = apply_local_units(ctx) if units and systemd_running() else {}
    state.log_action(hostgroup, ctx.host, f"configuration generation {number} installed")
    return {"generation": number, "applied": applied}


def op_set_assignments(ctx: AgentContext, request: AssignmentsRequest) -> dict[str, Any]:
    defs = ctx.defs()
    epoch = request.epoch
    groups = {}
    for name, host in request.assignments.items():
        known_group(ctx, name)
        if host not in defs.hostgroup.host_names:
            raise BadInput(f"request: host {host!r} is not in the host group")
        groups[name] = host
    hostgroup = defs.hostgroup.name
    current = state.read_assignment_state(hostgroup)
    if epoch < current.epoch or (epoch == current.epoch and groups != current.groups):
        # never go back, and never let two different maps share an epoch
        return {"written": False, "epoch": current.epoch}
    state.write_assignment_state(hostgroup, state.Assignments(epoch, groups))
    boot: list[str] = []
    if systemd_running():
        # the units are the synced generation's: only the boot links follow the assignment
        boot = list(boot_groups(defs, ctx.host, groups))
        install_boot_links(Path("/"), boot, [g.name for g in defs.groups])
    state.log_action(hostgroup, ctx.host, f"assignments epoch {epoch}: {groups}")
    return {"written": True, "epoch": epoch, "boot": boot}


def op_journal_write(ctx: AgentContext, request: JournalRequest) -> dict[str, Any]:
    defs = ctx.defs()
    try:
        journal = state.Journal.from_dict(request.journal)
    except OperationFailed as exc:
        raise BadInput(f"request: {exc}") from exc
    # this host's clock decides how old the entry is, not the admin's
    journal = replace(journal, started=time.time())
    if defs.group(journal.group) is None:
        raise BadInput(f"journal: group {journal.group!r} is not defined")
    state.write_journal(defs.hostgroup.name, journal)
    return {"written": True}


def op_journal_clear(ctx: AgentContext, request: GroupRequest) -> dict[str, Any]:
    return {"cleared": state.clear_journal(ctx.defs().hostgroup.name, request.group)}


def _receive_config(ctx: AgentContext, request: ReceiveConfigRequest) -> dict[str, Any]:
    checked = {k: v for k, v in dataclasses.asdict(request).items() if v is not None}
    return op_receive_config(ctx, checked)


OPERATIONS: Mapping[str, Operation[Any]] = {
    "state": Operation(HostgroupRequest, op_state),
    "observe": Operation(ObserveRequest, op_observe),
    "lock_acquire": Operation(LockAcquireRequest, op_lock_acquire),
    "lock_release": Operation(LockReleaseRequest, op_lock_release),
    "pid_alive": Operation(PidRequest, op_pid_alive),
    "receive_config": Operation(ReceiveConfigRequest, _receive_config),
    "set_assignments": Operation(AssignmentsRequest, op_set_assignments),
    "journal_write": Operation(JournalRequest, op_journal_write),
    "journal_clear": Operation(GroupRequest, op_journal_clear),
}

