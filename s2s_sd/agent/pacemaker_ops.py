"""The host side of the Pacemaker engine's cross-host requests (registered with
agent/dispatch.py, validated the same way: bad requests are refused, exit 2).

    install_local        the local part of `apply`: the units and helpers (OCF agents)
                         this host's base dir asks for, from its synced definitions
    hook_intent          the note `s2s-sd move` leaves for ocf:s2s:hook (FROM and TO)
    hook_result          what the hook member's last pre-/post-move run returned here
    hook_state           mark a group's hook member running/stopped here (migration:
                         the cluster's probe must find it where the group already runs)
    legacy_units         migration to Pacemaker: tombstones for the systemd-engine units
                         of the groups running here ("retire": stop them without stopping
                         anything they started, then remove the tombstones)
    stage_systemd_units  migration to systemd: the systemd engine's units without the parts
                         that would bind running services to targets not yet started, and
                         without ocf:s2s:unit's runtime drop-ins (Restart=no,
                         Before=pacemaker.service), which belong to the cluster
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_sd import paths
from s2s_sd.agent.core_ops import AgentContext, GroupRequest, apply_local_units, known_group
from s2s_sd.engines.net.migrate_note import write_migrate_note
from s2s_sd.engines.systemd.units import (
    daemon_reload,
    install_units,
    systemctl,
    systemd_running,
    unit_states,
)
from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.hosts import state
from s2s_sd.hosts.protocol import HOST, NAME, Choice, Flag, ListOf, NoArguments, Operation, arg
from s2s_sd.model import Engine, ExecService, Group, SystemdService
from s2s_sd.naming import dropin_path, guard_unit, member_unit, target_name
from s2s_sd.render.pacemaker_agents import UNIT_AGENT_DROPIN, unit_of
from s2s_sd.render.systemd import UnitSettings, render_units
from s2s_sd.writer import write_file_atomic

# the hook agent keeps its results here (S2S_SD_HOOK_STATE_DIR in its own environment)
HOOK_STATE_DIR = Path(paths.RUN_DIR.default, "hooks")
HOOK_RESULTS = ("pre_move", "post_move")
TOMBSTONE_DIR = Path("/run/systemd/system")
TOMBSTONE_MARK = "# s2s-sd migrate: retired systemd-engine unit"

_TOMBSTONE_SERVICE = f"""{TOMBSTONE_MARK}
# This unit of the systemd engine now belongs to a group Pacemaker runs. It stays
# "active" until s2s-sd retires it; stopping it stops nothing (no ExecStop, no killing).
[Unit]
Description=s2s-sd: retired systemd-engine unit %n (its group is run by Pacemaker)

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
KillMode=none
SendSIGKILL=no
"""

_TOMBSTONE_TARGET = f"""{TOMBSTONE_MARK}
[Unit]
Description=s2s-sd: retired systemd-engine unit %n (its group is run by Pacemaker)
"""


@dataclass(frozen=True)
class HookIntentRequest:
    group: str = arg(NAME)
    target: str = arg(HOST)
    source: str | None = arg(HOST, required=False)
    clear: bool | None = arg(Flag(), required=False)


@dataclass(frozen=True)
class HookStateRequest:
    group: str = arg(NAME)
    active: bool = arg(Flag())


@dataclass(frozen=True)
class LegacyUnitsRequest:
    action: str = arg(Choice(("tombstone", "retire")))
    groups: tuple[str, ...] | None = arg(ListOf(NAME), required=False)


def op_install_local(ctx: AgentContext, request: NoArguments) -> dict[str, Any]:
    ctx.forget()  # the definitions as synced now
    if not systemd_running():
        raise OperationFailed(f"{ctx.host}: systemd is not running: cannot install units")
    applied = apply_local_units(ctx)
    state.log_action(ctx.defs().hostgroup.name, ctx.host,
                     f"installed units and helpers ({ctx.defs().hostgroup.engine} engine): "
                     f"{len(applied['written'])} written, {len(applied['removed'])} removed")
    return applied


def op_hook_intent(ctx: AgentContext, request: HookIntentRequest) -> dict[str, Any]:
    group = known_group(ctx, request.group)
    hosts = ctx.defs().hostgroup.host_names
    source = request.source or "-"
    target = request.target
    for host in (source, target):
        if host != "-" and host not in hosts:
            raise BadInput(f"request: host {host!r} is not in the host group")
    if request.clear:
        (HOOK_STATE_DIR / f"{group.name}.intent").unlink(missing_ok=True)
        return {"written": False}
    HOOK_STATE_DIR.mkdir(parents=True, exist_ok=True)
    write_file_atomic(HOOK_STATE_DIR / f"{group.name}.intent",
                      f"{source} {target} {int(time.time())}\n", 0o644)
    return {"written": True}


def op_hook_result(ctx: AgentContext, request: GroupRequest) -> dict[str, Any]:
    group = known_group(ctx, request.group)
    results: dict[str, Any] = {}
    for which in HOOK_RESULTS:
        try:
            code, stamp = (HOOK_STATE_DIR / f"{group.name}.{which}").read_text().split()[:2]
            results[which] = {"rc": int(code), "time": int(stamp)}
        except (OSError, ValueError):
            results[which] = None
    return results


def op_hook_state(ctx: AgentContext, request: HookStateRequest) -> dict[str, Any]:
    group = known_group(ctx, request.group)
    active = request.active
    path = HOOK_STATE_DIR / f"{group.name}.active"
    if active:
        HOOK_STATE_DIR.mkdir(parents=True, exist_ok=True)
        path.touch()
    else:
        path.unlink(missing_ok=True)
    return {"active": active}


def legacy_units(group: Group) -> list[str]:
    """The systemd engine's units of a group that the Pacemaker engine has no use for
    (exec members keep their unit name; `systemd` members are the user's own units)."""
    units = [target_name(group.name), guard_unit(group.name)]
    for service in group.services:
        if not isinstance(service, ExecService):
            units.append(member_unit(group.name, service.name))
    return units


def op_legacy_units(ctx: AgentContext, request: LegacyUnitsRequest) -> dict[str, Any]:
    if request.action == "retire":
        return _retire(ctx)
    if request.groups is None:
        raise BadInput("request: missing argument 'groups' (action tombstone)")
    return _tombstone(ctx, [known_group(ctx, name) for name in request.groups])


def _tombstone(ctx: AgentContext, groups: list[Group]) -> dict[str, Any]:
    """A tombstone in /run/systemd/system for every active legacy unit of these groups: it
    takes over when `sync` removes the unit's file from /etc/systemd/system."""
    wanted = [u for g in groups for u in legacy_units(g)]
    states = unit_states(wanted) if wanted else {}
    written = []
    for unit in wanted:
        if states.get(unit, "inactive") in ("inactive", "failed"):
            continue
        text = _TOMBSTONE_TARGET if unit.endswith(".target") else _TOMBSTONE_SERVICE
        write_file_atomic(TOMBSTONE_DIR / unit, text, 0o644)
        written.append(unit)
    if written:
        state.log_action(ctx.defs().hostgroup.name, ctx.host,
                         f"migrate: tombstones for {', '.join(written)}")
    return {"tombstones": written}


def _tombstones() -> list[str]:
    found = []
    if TOMBSTONE_DIR.is_dir():
        for path in sorted(TOMBSTONE_DIR.iterdir()):
            try:
                if path.is_file() and path.read_text().startswith(TOMBSTONE_MARK):
                    found.append(path.name)
            except (OSError, UnicodeDecodeError):
                continue
    return found


def _retire(ctx: AgentContext) -> dict[str, Any]:
    """Stop the tombstoned units (which stops nothing they started) and remove them."""
    units = _tombstones()
    if not units:
        return {"retired": []}
    states = unit_states(units)
    active = [u for u in units if states.get(u, "inactive") != "inactive"]
    if active:
        ok, message = systemctl("stop", active, 60)
        if not ok:
            raise OperationFailed(f"{ctx.host}: stopping retired units failed: {message}")
    for unit in units:
        (TOMBSTONE_DIR / unit).unlink(missing_ok=True)
    daemon_reload()
    from s2s_sd.engines.systemd.units import reset_failed

    reset_failed(units)
    state.log_action(ctx.defs().hostgroup.name, ctx.host,
                     f"migrate: retired {', '.join(units)}")
    return {"retired": units}


def op_stage_systemd_units(ctx: AgentContext, request: NoArguments) -> dict[str, Any]:
    """The systemd engine's units, except: exec members keep the Pacemaker engine's unit
    (no BindsTo= yet) and `systemd` members get no binding drop-in yet; no boot links.
    Starting a group's target then adopts what runs without stopping it; the full set is
    installed after (install_local)."""
    ctx.forget()
    defs = ctx.defs()
    if defs.hostgroup.engine is not Engine.SYSTEMD:
        raise BadInput(f"{ctx.host}: the synced definitions use the "
                       f"{defs.hostgroup.engine} engine")
    # the groups' VIP members take over the addresses IPaddr2 added (net/ops.py vip_up)
    write_migrate_note()
    settings = UnitSettings.installed(str(ctx.basedir))
    units = dict(render_units(defs, settings))
    as_pacemaker = dataclasses.replace(
        defs, hostgroup=dataclasses.replace(defs.hostgroup, engine=Engine.PACEMAKER))
    pacemaker_units = render_units(as_pacemaker, settings)
    for group in defs.groups:
        for service in group.services:
            if isinstance(service, ExecService):
                name = member_unit(group.name, service.name)
                units[name] = pacemaker_units[name]
            elif isinstance(service, SystemdService):
                units.pop(dropin_path(service), None)
    report = install_units(Path("/"), units, settings, (), [g.name for g in defs.groups])
    released = _remove_cluster_dropins(defs.groups)
    if released:
        daemon_reload()
    state.log_action(defs.hostgroup.name, ctx.host,
                     f"migrate: staged systemd-engine units ({len(report.written)} written"
                     + (f"; cluster drop-ins removed from {', '.join(released)}"
                        if released else "") + ")")
    return {"written": report.written, "removed": report.removed, "released": released}


def _remove_cluster_dropins(groups: Sequence[Group]) -> list[str]:
    """The units whose ocf:s2s:unit drop-in this removed (the agent keeps it after a
    stop; under the systemd engine the unit files' own Restart= apply again)."""
    released = []
    for group in groups:
        for service in group.services:
            unit = unit_of(service)
            if unit is None:
                continue
            path = TOMBSTONE_DIR / f"{unit}.d" / UNIT_AGENT_DROPIN
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise OperationFailed(f"cannot remove {path}: {exc}") from exc
            released.append(unit)
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only when nothing else is in it
    return released


CLUSTER_OPERATIONS: Mapping[str, Operation[Any]] = {
    "install_local": Operation(NoArguments, op_install_local),
    "hook_intent": Operation(HookIntentRequest, op_hook_intent),
    "hook_result": Operation(GroupRequest, op_hook_result),
    "hook_state": Operation(HookStateRequest, op_hook_state),
    "legacy_units": Operation(LegacyUnitsRequest, op_legacy_units),
    "stage_systemd_units": Operation(NoArguments, op_stage_systemd_units),
}

__all__ = ["CLUSTER_OPERATIONS", "legacy_units"]
