"""Migration of a running host group between the engines, stopping no group: the systemd
engine's groups adopted by the cluster (migrate_to_pacemaker), and the cluster's handed
back to the systemd engine (migrate_to_systemd); and the engine switch they write into
s2s.toml.

Functions of a `ClusterAdmin` (runtime.py): it holds the definitions, the cluster's
tools and the host group's lock, views and sync, which a migration uses all of; the
switch reloads the definitions in it.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from s2s_sd.edit import set_string
from s2s_sd.engines.pacemaker import cib as cib_apply
from s2s_sd.engines.pacemaker import crm_tools as crm
from s2s_sd.engines.pacemaker.apply_live import install_everywhere
from s2s_sd.engines.pacemaker.crm_mon import ClusterStatus, Placement, member_line
from s2s_sd.engines.pacemaker.runtime import SETTLE_TIMEOUT, ClusterAdmin
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.model import Engine
from s2s_sd.naming import target_name
from s2s_sd.plan import assigned_host
from s2s_sd.status import pacemaker_members
from s2s_sd.writer import write_file_atomic

CONFIG_FILE = "s2s.toml"


# -- the engine switch in s2s.toml -------------------------------------------------------

def set_engine_text(text: str, engine: Engine) -> str:
    """s2s.toml's text with [hostgroup] engine set (the line changed in place, or added
    after the table header); everything else stays as the operator wrote it."""
    return set_string(text, ("hostgroup",), "engine", engine.value)


def write_engine(basedir: Path, engine: Engine) -> str:
    """Switch the engine in BASEDIR/s2s.toml; returns the previous text (for a rollback)."""
    path = basedir / CONFIG_FILE
    old = path.read_text(encoding="utf-8")
    new = set_engine_text(old, engine)
    if tomllib.loads(new).get("hostgroup", {}).get("engine") != engine.value:
        raise OperationFailed(f"could not set engine = \"{engine.value}\" in {path}")
    write_file_atomic(path, new, path.stat().st_mode & 0o777)
    return old


# -- what both directions require ----------------------------------------------------------

def _require_all_hosts(cluster: ClusterAdmin) -> None:
    view = cluster.admin.view()
    if view.unreachable:
        raise Refused(f"{', '.join(view.unreachable)} unreachable: a migration needs "
                      "every host")
    cluster.admin.check_generations(view)
    if view.journals():
        journal = next(iter(view.journals().values()))
        raise Refused(f"an interrupted move of {journal.group} is journaled: "
                      f"`s2s-sd recover {journal.group}` first")


def _require_cluster_nodes(cluster: ClusterAdmin, status: ClusterStatus) -> None:
    cluster.require_quorum(status)
    missing = [h for h in cluster.hosts if h not in status.nodes or
               not status.nodes[h].online]
    if missing:
        raise Refused(f"{', '.join(missing)} not online in the cluster: a migration "
                      "needs every host as a cluster node")


# -- systemd engine -> Pacemaker -----------------------------------------------------------

def migrate_to_pacemaker(cluster: ClusterAdmin, dry_run: bool = False,
                         timeout: float = SETTLE_TIMEOUT) -> list[str]:
    """Adopt a host group that runs under the systemd engine, stopping nothing:

    maintenance mode on -> mark the hook members running where their groups run ->
    tombstones for the systemd-engine units that are active (they take over from the
    real unit files, so retiring them later stops nothing) -> engine = "pacemaker" in
    s2s.toml, sync (units and agents of the Pacemaker engine; no boot links, no
    guards) -> push the CIB (groups that were down: target-role=Stopped) -> the
    cluster probes and must find every group exactly where it runs -> retire the
    tombstoned units -> maintenance mode off; the groups stay where they were."""
    if cluster.defs.hostgroup.engine is Engine.PACEMAKER:
        raise BadInput(f"host group {cluster.hostgroup} already uses the pacemaker engine")
    status = cluster.cluster()
    _require_cluster_nodes(cluster, status)
    if status.maintenance_mode:
        raise Refused("the cluster is in maintenance mode already (someone else's "
                      "maintenance?): end it first")
    present = [g.name for g in cluster.defs.groups if g.name in status.groups]
    if present:
        raise Refused(f"the cluster already has resources named {', '.join(present)}: "
                      "remove them first")
    with cluster.admin.locked("migrate --to pacemaker"):
        _require_all_hosts(cluster)
        where = _systemd_placement(cluster)
        steps = [
            "maintenance mode on (the cluster starts, stops and monitors nothing)",
            *[f"[{h}] {g}: hook member marked running" for g, h in where.items()
              if h and (cluster.group(g).pre_move or cluster.group(g).post_move)],
            "tombstones for the active systemd-engine units (stopping them later stops "
            "nothing)",
            f"engine = \"pacemaker\" in {cluster.basedir / CONFIG_FILE}; sync (Pacemaker "
            "engine units and OCF agents; boot links and guards removed)",
            "push the CIB; groups that are down get target-role=Stopped",
            "the cluster probes: every group must be found exactly where it runs: "
            + ", ".join(f"{g} on {h or '(down)'}" for g, h in where.items()),
            "retire the tombstoned units",
            "maintenance mode off; the groups stay where they are",
        ]
        if dry_run:
            return steps
        _adopt_by_pacemaker(cluster, where, timeout)
        return [f"{g}: {h or 'stopped'} (run by Pacemaker)" for g, h in where.items()]


def _systemd_placement(cluster: ClusterAdmin) -> dict[str, str | None]:
    """Every group up on exactly one host, or down everywhere; else refused."""
    problems: list[str] = []
    where: dict[str, str | None] = {}
    view = cluster.admin.view()
    for group in cluster.defs.groups:
        seen, unreachable = cluster.admin.observe(group.name)
        if unreachable:
            problems.append(f"{group.name}: {', '.join(unreachable)} unreachable")
            continue
        active = [h for h, o in seen.items() if o.active]
        failed = [f"{h}: {', '.join(o.failed)}" for h, o in seen.items() if o.failed]
        if len(active) > 1:
            problems.append(f"{group.name} is active on {' and '.join(active)}")
        elif active and not seen[active[0]].fully_up:
            problems.append(f"{group.name} is only partly up on {active[0]}: "
                            f"{', '.join(seen[active[0]].active_parts)}")
        elif failed:
            problems.append(f"{group.name} has failed units ({'; '.join(failed)})")
        elif active and active[0] != assigned_host(group, view.assignments):
            problems.append(f"{group.name} runs on {active[0]} but is assigned to "
                            f"{assigned_host(group, view.assignments)}")
        else:
            where[group.name] = active[0] if active else None
    if problems:
        raise Refused("the host group is not in a clean state, nothing was changed: "
                      + "; ".join(problems))
    return where


def _adopt_by_pacemaker(cluster: ClusterAdmin, where: dict[str, str | None], timeout: float
                        ) -> None:
    running = {g: h for g, h in where.items() if h}
    old_text: str | None = None
    pushed = False
    crm.set_maintenance(True)
    cluster.progress("maintenance mode on")
    try:
        for name, host in running.items():
            group = cluster.group(name)
            if group.pre_move or group.post_move:
                cluster.transport.call(host, "hook_state", {"group": name, "active": True})
        by_host: dict[str, list[str]] = {}
        for name, host in running.items():
            by_host.setdefault(host, []).append(name)
        for host, names in by_host.items():
            tombs = cluster.transport.call(host, "legacy_units",
                                           {"action": "tombstone", "groups": names})
            cluster.progress(f"[{host}] tombstones: {', '.join(tombs['tombstones'])}")
        old_text = write_engine(cluster.basedir, Engine.PACEMAKER)
        cluster.reload()
        number, _synced, missed = cluster.admin.sync_locked()
        if missed:
            raise OperationFailed(f"sync missed {', '.join(missed)}")
        cluster.progress(f"engine = \"pacemaker\", generation {number} synced")
        result = cib_apply.apply(cluster.defs, cluster.basedir, cluster.settings)
        pushed = True
        cluster.progress(f"CIB: {len(result.changes)} change(s) pushed")
        for name in where:
            if where[name] is None:
                crm.set_target_role(name, "Stopped")
        _wait_adopted(cluster, where, timeout)
        for host in cluster.hosts:
            retired = cluster.transport.call(host, "legacy_units", {"action": "retire"})
            if retired["retired"]:
                cluster.progress(f"[{host}] retired {', '.join(retired['retired'])}")
    except Exception:
        _undo_adoption(cluster, old_text, pushed)
        raise
    crm.set_maintenance(False)
    cluster.progress("maintenance mode off")
    settled = crm.wait_idle(timeout)
    after = Placement.of(cluster.cluster(), list(where))
    moved = [f"{g}: {where[g] or 'stopped'} -> {after.where[g] or 'stopped'}"
             for g in where if after.where[g] != where[g]]
    if moved or not settled:
        raise OperationFailed("after maintenance mode the cluster changed placements: "
                              + ("; ".join(moved) or "it did not settle"))


def _wait_adopted(cluster: ClusterAdmin, where: dict[str, str | None], timeout: float
                  ) -> None:
    crm.wait_idle(timeout)
    waited = crm.wait_until(crm.resource_status, lambda seen: not _misplaced(seen, where),
                            timeout, interval=0.5)
    if not waited.met:
        raise OperationFailed("the cluster's probes do not find the groups where "
                              "they run: " + "; ".join(_misplaced(waited.last, where)))
    cluster.progress("the cluster found every group where it runs")


def _misplaced(status: ClusterStatus, where: dict[str, str | None]) -> list[str]:
    """The groups the cluster does not (yet) see exactly where they run, and what it sees."""
    wrong = []
    for name, host in where.items():
        state = status.groups.get(name)
        if state is None:
            wrong.append(f"{name}: not in the status")
        elif host is None and not state.stopped_everywhere:
            wrong.append(f"{name}: found on {', '.join(state.active_nodes())}")
        elif host is not None and state.fully_on() != host:
            wrong.append(f"{name}: {member_line(state)}")
    return wrong


def _undo_adoption(cluster: ClusterAdmin, old_text: str | None, pushed: bool) -> None:
    """Back to the systemd engine after a failed adoption (maintenance mode on)."""
    cluster.progress("migration failed: rolling back to the systemd engine")
    try:
        if pushed:
            _remove_groups_from_cib(cluster)
        if old_text is not None:
            write_file_atomic(cluster.basedir / CONFIG_FILE, old_text, 0o644)
            cluster.reload()
            cluster.admin.sync_locked()
        for host in cluster.hosts:
            cluster.transport.ask(host, "legacy_units", {"action": "retire"})
        crm.set_maintenance(False)
    except Exception as exc:  # report both: the cause matters more
        cluster.warn(f"rollback incomplete ({exc}); the cluster stays in maintenance "
                     "mode: check `s2s-sd status` and `crm_mon`")


def _remove_groups_from_cib(cluster: ClusterAdmin) -> None:
    """Remove this host group's groups (and their constraints) from the CIB; their
    history too, so that nothing is stopped as an orphan afterwards."""
    without = dataclasses.replace(cluster.defs, groups=())
    cib_apply.apply(without, cluster.basedir, cluster.settings)
    for constraint in crm.cli_constraints_of([g.name for g in cluster.defs.groups]):
        crm.delete_constraint(constraint.id)
    crm.refresh()
    crm.wait_idle(120)


# -- Pacemaker -> systemd engine -----------------------------------------------------------

def migrate_to_systemd(cluster: ClusterAdmin, dry_run: bool = False,
                       timeout: float = SETTLE_TIMEOUT) -> list[str]:
    """Hand the groups from Pacemaker back to the systemd engine, stopping nothing:

    maintenance mode on -> record the assignments where the groups run -> engine =
    "systemd" in s2s.toml, sync without units -> stage the systemd engine's units
    (without the bindings that would stop running services) -> start each running
    group's target where it runs (every start is idempotent: it adopts) -> install the
    full units and boot links -> remove the groups from the CIB and their history ->
    maintenance mode off."""
    if cluster.defs.hostgroup.engine is not Engine.PACEMAKER:
        raise BadInput(f"host group {cluster.hostgroup} uses the "
                       f"{cluster.defs.hostgroup.engine} engine already")
    status = cluster.cluster()
    _require_cluster_nodes(cluster, status)
    if status.maintenance_mode:
        raise Refused("the cluster is in maintenance mode (someone else's "
                      "maintenance?): end it first")
    with cluster.admin.locked("migrate --to systemd"):
        _require_all_hosts(cluster)
        where = _cluster_placement(cluster, status)
        steps = [
            "maintenance mode on (the cluster starts, stops and monitors nothing)",
            "record the assignments: " + ", ".join(f"{g} -> {h or '(down)'}"
                                                   for g, h in where.items()),
            f"engine = \"systemd\" in {cluster.basedir / CONFIG_FILE}; sync (no units yet)",
            "stage the systemd engine's units (running services not bound yet)",
            *[f"[{h}] start {target_name(g)}: adopts what runs" for g, h in where.items()
              if h],
            "install the full units and boot links on every host",
            "remove the groups from the CIB, and their history",
            "maintenance mode off",
        ]
        if dry_run:
            return steps
        _adopt_by_systemd(cluster, where, timeout)
        return [f"{g}: {h or 'stopped'} (systemd engine)" for g, h in where.items()]


def _cluster_placement(cluster: ClusterAdmin, status: ClusterStatus
                       ) -> dict[str, str | None]:
    problems: list[str] = []
    where: dict[str, str | None] = {}
    for group in cluster.defs.groups:
        state = status.groups.get(group.name)
        if state is None:
            problems.append(f"{group.name} is not in the cluster")
            continue
        members = pacemaker_members(group)
        failures = status.failures_of(members)
        active = state.active_nodes()
        if failures:
            problems.append(f"{group.name}: " + "; ".join(f.describe() for f in failures))
        elif len(active) > 1:
            problems.append(f"{group.name} is active on {' and '.join(active)}")
        elif active and state.fully_on() is None:
            problems.append(f"{group.name} is only partly up: {member_line(state)}")
        elif state.unmanaged:
            problems.append(f"{group.name} is not managed by the cluster")
        else:
            where[group.name] = state.fully_on()
    if problems:
        raise Refused("the cluster is not in a clean state, nothing was changed: "
                      + "; ".join(problems))
    return where


def _adopt_by_systemd(cluster: ClusterAdmin, where: dict[str, str | None], timeout: float
                      ) -> None:
    crm.set_maintenance(True)
    cluster.progress("maintenance mode on")
    view = cluster.admin.view()
    assignments = dict(view.assignments)
    for name, host in where.items():
        if host:
            assignments[name] = host
    epoch = view.epoch + 1
    answers = cluster.transport.ask_many(cluster.hosts, "set_assignments",
                                         {"epoch": epoch, "assignments": assignments})
    for host, answer in answers.items():
        if not answer.ok:
            raise answer.error or OperationFailed(f"{host}: assignments not recorded")
    cluster.progress("assignments recorded: " + ", ".join(
        f"{g} -> {h}" for g, h in sorted(assignments.items())))
    write_engine(cluster.basedir, Engine.SYSTEMD)
    cluster.reload()
    number, _synced, missed = cluster.admin.sync_locked(units=False)
    if missed:
        raise OperationFailed(f"sync missed {', '.join(missed)}; the cluster stays in "
                              "maintenance mode")
    cluster.progress(f"engine = \"systemd\", generation {number} synced")
    for host, answer in cluster.transport.ask_many(cluster.hosts, "stage_systemd_units",
                                                   {}).items():
        if not answer.ok:
            raise answer.error or OperationFailed(f"{host}: staging units failed")
    for name, host in where.items():
        if host is None:
            continue
        result = cluster.transport.call(host, "start_group",
                                        {"group": name, "generation": number}, timeout=600)
        if not result["ok"]:
            raise OperationFailed(f"{name}: its target did not start on {host} "
                                  f"({result['message']}); the cluster stays in "
                                  "maintenance mode: check, then finish by hand")
        cluster.progress(f"[{host}] {target_name(name)} active: {name} adopted")
    install_everywhere(cluster)
    for name in where:
        group = cluster.group(name)
        if group.pre_move or group.post_move:
            cluster.transport.ask_many(cluster.hosts, "hook_state",
                                       {"group": name, "active": False})
    _remove_groups_from_cib(cluster)
    cluster.progress("groups removed from the CIB")
    crm.set_maintenance(False)
    cluster.progress("maintenance mode off")
    for name, host in where.items():
        seen, _ = cluster.admin.observe(name)
        active = [h for h, o in seen.items() if o.active]
        if host and (active != [host] or not seen[host].fully_up):
            raise OperationFailed(f"{name} is not fully up on {host} only after the "
                                  f"migration: active on {', '.join(active) or 'none'}")
