"""`s2s-sd apply pacemaker` against the running cluster: the units and OCF agents on every
host first, then the CIB change as one patch, then the wait for the cluster to settle and
what it started, stopped or moved. A function of a `ClusterAdmin` (runtime.py), whose lock
and views it uses; migrate.py installs everywhere the same way."""

from __future__ import annotations

from typing import Any

from s2s_sd.engines.pacemaker import cib as cib_apply
from s2s_sd.engines.pacemaker import crm_tools as crm
from s2s_sd.engines.pacemaker.crm_mon import Placement
from s2s_sd.engines.pacemaker.runtime import SETTLE_TIMEOUT, ClusterAdmin
from s2s_sd.errors import OperationFailed, Refused


def apply_live(cluster: ClusterAdmin, dry_run: bool = False, timeout: float = SETTLE_TIMEOUT
               ) -> dict[str, Any]:
    """Install units and OCF agents on every host, push the CIB change, wait for the
    cluster to settle, and say what it started, stopped or moved."""
    if dry_run:
        result = cib_apply.apply(cluster.defs, cluster.basedir, cluster.settings, dry_run=True)
        return {"result": result, "installed": {}, "changes": [], "settled": True}
    status = cluster.cluster()
    cluster.require_quorum(status)
    with cluster.admin.locked("apply pacemaker"):
        view = cluster.admin.view()
        number = cluster.admin.check_generations(view)
        if number == 0:
            raise Refused(f"{cluster.basedir} was never synced to the hosts: run "
                          "`s2s-sd sync` first (the cluster runs the scripts, hooks and "
                          "units of the synced base dir)")
        installed = install_everywhere(cluster)
        before = Placement.of(status, [g.name for g in cluster.defs.groups])
        result = cib_apply.apply(cluster.defs, cluster.basedir, cluster.settings)
        changes: list[str] = []
        settled = True
        if result.pushed:
            cluster.progress(f"pushed {len(result.changes)} change(s); waiting for the "
                             "cluster to settle")
            settled = crm.wait_idle(timeout)
            after = Placement.of(cluster.cluster(), [g.name for g in cluster.defs.groups])
            changes = before.changes(after)
        return {"result": result, "installed": installed, "changes": changes,
                "settled": settled}


def install_everywhere(cluster: ClusterAdmin) -> dict[str, Any]:
    """The synced units and OCF agents installed on every host (`install_local`), per host
    what was written and removed; an unreachable host is a warning, a failed install an
    error."""
    answers = cluster.transport.ask_many(cluster.hosts, "install_local", {}, timeout=300)
    installed: dict[str, Any] = {}
    for host, answer in answers.items():
        if answer.ok:
            value = answer.value()
            installed[host] = value
            if value.get("written") or value.get("removed"):
                cluster.progress(f"[{host}] units and agents: {len(value['written'])} "
                                 f"written, {len(value['removed'])} removed")
        elif answer.unreachable:
            cluster.warn(f"{host} unreachable: its units and OCF agents are not updated; "
                         "the cluster may fail to run groups there until it is synced")
        else:
            raise answer.error or OperationFailed(f"{host}: install failed")
    return installed
