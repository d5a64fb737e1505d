"""The systemd engine's operations on one group of this host, as the admin's moves, starts
and stops ask them: its pre- and post-move hooks, its start (guard token and the VIPs'
probe made ahead around the jobs) and stop, its failed state cleared, its freeze mark,
and who answers for its VIPs from here."""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from typing import Any

from s2s_sd.agent.core_ops import (
    AgentContext,
    FreezeRequest,
    GenerationRequest,
    GroupRequest,
    HookRequest,
    check_generation,
    known_group,
)
from s2s_sd.engines.net.ops import who_answers
from s2s_sd.engines.net.probed_ahead import probing_ahead
from s2s_sd.engines.net.vip import vip_for_service
from s2s_sd.engines.systemd.units import (
    group_jobs,
    reset_failed,
    transition_seconds,
    unit_states,
)
from s2s_sd.engines.vip_member import MEMBER_PROBE
from s2s_sd.errors import OperationFailed
from s2s_sd.hosts import freeze, health, health_records, state
from s2s_sd.hosts.move_vouch import vouched_start
from s2s_sd.hosts.observe import observe
from s2s_sd.hosts.protocol import Operation
from s2s_sd.model import Group
from s2s_sd.naming import group_units, guard_unit, member_unit, target_name
from s2s_sd.plan import leading_vips
from s2s_sd.run import run
from s2s_sd.timings import Timings

HOOK_TIMEOUT = 300


def op_run_hook(ctx: AgentContext, request: HookRequest) -> dict[str, Any]:
    group = known_group(ctx, request.group)
    which = request.which
    relpath = getattr(group, which)
    if relpath is None:
        return {"ran": False}
    source = request.source or ""
    target = request.target
    path = ctx.basedir / ctx.defs().resolved(relpath)
    env = {"GROUP": group.name, "FROM": source, "TO": target,
           "S2S_SD_BASEDIR": str(ctx.basedir), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    result = run([str(path)], check=False, env=env, timeout=HOOK_TIMEOUT, cwd=str(ctx.basedir))
    hostgroup = ctx.defs().hostgroup.name
    state.log_action(hostgroup, ctx.host, f"{which} hook of {group.name} "
                     f"({source} -> {target}): exit {result.returncode}")
    output = (result.stdout + result.stderr).strip()[-2000:]
    if not result.ok:
        raise OperationFailed(f"{which} hook {relpath} of group {group.name} failed on "
                              f"{ctx.host} (exit {result.returncode}): {output}")
    return {"ran": True, "output": output}


def _timeout(group: Group, start: bool) -> float:
    per_member = [(s.start_timeout if start else s.stop_timeout) or 90 for s in group.services]
    return sum(per_member) + 60


def op_stop_group(ctx: AgentContext, request: GenerationRequest) -> dict[str, Any]:
    return _group_jobs(ctx, request, "stop")


def op_start_group(ctx: AgentContext, request: GenerationRequest) -> dict[str, Any]:
    return _group_jobs(ctx, request, "start")


def _group_jobs(ctx: AgentContext, request: GenerationRequest, action: str) -> dict[str, Any]:
    """Start the group's target (its members follow in order) or stop all its units, and
    say what runs afterwards. A start resets the failed state first (a failure of an
    earlier try must not stick to this one); a stop afterwards (a stop on purpose ends
    what failed before: status shows it down, not failed)."""
    group = known_group(ctx, request.group)
    check_generation(ctx, request.generation)
    units = group_units(group)
    starting = action == "start"
    phases = Timings()
    if starting:
        with phases.step("reset-failed"):
            reset_failed(units)  # a failure of an earlier try must not stick to this one
            health.reset(group.name)  # nor earlier failures count towards migration_threshold
    # a move's start: its journal vouches, and the guard unit's helper takes our token
    # instead of starting `s2s-sd guard` (hosts/move_vouch.py)
    vouching = (vouched_start(ctx.defs(), ctx.host, group.name) if starting
                else nullcontext())
    # and its leading VIPs probed while systemd starts their programs (probed_ahead.py)
    vips = [vip_for_service(ctx.defs(), group.name, s.name)
            for s in leading_vips(group)] if starting else []
    with phases.step(f"{action} jobs"), vouching, probing_ahead(vips, MEMBER_PROBE):
        try:
            ok, message = group_jobs(action, [target_name(group.name)] if starting else units,
                                     _timeout(group, start=starting))
        except OperationFailed as exc:  # timed out: the observation below says what is left
            ok, message = False, str(exc)
    if not starting:
        with phases.step("reset-failed"):
            reset_failed(units)
    with phases.step("observe"):
        seen = observe(ctx.defs(), str(ctx.basedir), [group.name])[group.name]
    done = ok and (seen.fully_up if starting else not seen.active)
    if done or not starting:  # from a good start on, down here is an alarm; a stop
        # on purpose ends that
        health_records.set_wanted(ctx.defs().hostgroup.name, group.name, starting)
    state.log_action(ctx.defs().hostgroup.name, ctx.host,
                     f"{action} {group.name}: {'ok' if done else 'FAILED'}"
                     + (f" ({message})" if message else ""))
    return {"ok": done, "message": message, "observation": seen.as_dict(),
            **_timed(group, phases, action)}


def _timed(group: Group, phases: Timings, action: str) -> dict[str, Any]:
    """What `move --timings` shows of a start or stop here: this request's phases, and
    each unit's own start or stop (guard and members) as systemd timed it."""
    units = [guard_unit(group.name), *(member_unit(group.name, s.name)
                                       for s in group.services)]
    return {"phases": phases.seconds(), "seconds": transition_seconds(units, action)}


def op_set_frozen(ctx: AgentContext, request: FreezeRequest) -> dict[str, Any]:
    """Write or remove the freeze mark of a group on this host."""
    group = known_group(ctx, request.group)
    hostgroup = ctx.defs().hostgroup.name
    if request.frozen:
        freeze.write_mark(hostgroup, group.name, freeze.FrozenMark(time.time(), request.by))
        changed = True
    else:
        changed = freeze.remove_mark(hostgroup, group.name)
    state.log_action(hostgroup, ctx.host, f"{'freeze' if request.frozen else 'unfreeze'} "
                     f"{group.name} (by {request.by})")
    return {"frozen": request.frozen, "changed": changed}


def op_cleanup_group(ctx: AgentContext, request: GroupRequest) -> dict[str, Any]:
    """Clear the group's failed units, restart counts and local recovery's failure records
    here (`s2s-sd cleanup`). Changes nothing that runs."""
    group = known_group(ctx, request.group)
    units = group_units(group)
    failed = [u for u, s in unit_states(units).items() if s == "failed"]
    reset_failed(units)
    health.reset(group.name)  # and the failures local recovery counts towards the threshold
    hostgroup = ctx.defs().hostgroup.name
    state.log_action(hostgroup, ctx.host, f"cleanup {group.name}: reset-failed"
                     + (f" ({', '.join(sorted(failed))} were failed)" if failed else ""))
    return {"failed": sorted(failed)}


def op_probe_vips(ctx: AgentContext, request: GroupRequest) -> dict[str, Any]:
    """Who answers ARP/ND for the group's VIPs, seen from this host: MAC or None."""
    group = known_group(ctx, request.group)
    answers: dict[str, str | None] = {}
    for service in group.services:
        if service.TYPE == "ip":
            vip = vip_for_service(ctx.defs(), group.name, service.name)
            answers[vip.text] = who_answers(vip)
    return {"answers": answers}


GROUP_OPERATIONS: dict[str, Operation[Any]] = {
    "run_hook": Operation(HookRequest, op_run_hook),
    "stop_group": Operation(GenerationRequest, op_stop_group),
    "start_group": Operation(GenerationRequest, op_start_group),
    "probe_vips": Operation(GroupRequest, op_probe_vips),
    "set_frozen": Operation(FreezeRequest, op_set_frozen),
    "cleanup_group": Operation(GroupRequest, op_cleanup_group),
}
