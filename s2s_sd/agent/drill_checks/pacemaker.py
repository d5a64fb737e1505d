"""The Pacemaker engine: this node is a cluster member, online and not in standby (or
maintenance), and every resource agent the CIB gives a group exists on it."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.agent.drill_checks.systemd_unit import unit_state
from s2s_sd.drill import Finding, Level, fail, for_groups, ok
from s2s_sd.engines.pacemaker.crm_mon import ClusterStatus
from s2s_sd.model import Group
from s2s_sd.render.pacemaker import build_cib


def check_node(facts: HostFacts, groups: Iterable[str], status: ClusterStatus | None,
               error: str | None) -> list[Finding]:
    """STATUS: crm_mon's view from this node; ERROR: why it could not be read."""
    host, check = facts.host, "pacemaker.node"
    if status is None:
        return for_groups(host, groups, Level.FAIL, check,
                          f"no cluster status here: {error or 'crm_mon failed'}")
    node = status.nodes.get(host)
    if node is None:
        return for_groups(host, groups, Level.FAIL, check,
                          f"{host} is not a node of the cluster "
                          f"({', '.join(sorted(status.nodes)) or 'no nodes'})")
    if not node.usable:
        return for_groups(host, groups, Level.FAIL, check,
                          f"node {host} is {node.label}: it cannot run resources")
    return for_groups(host, groups, Level.OK, check, f"node {host} is online")


def agents_of(facts: HostFacts, group: Group) -> list[tuple[str, str | None, str]]:
    """(class, provider, type) of every primitive of GROUP in the CIB s2s-sd generates."""
    cib = build_cib(facts.defs)
    found = []
    for element in cib.iterfind(f"configuration/resources/group[@id='{group.name}']/primitive"):
        found.append((element.get("class", ""), element.get("provider"),
                      element.get("type", "")))
    return found


def check_agents(facts: HostFacts, group: Group) -> list[Finding]:
    found = []
    for cls, provider, kind in dict.fromkeys(agents_of(facts, group)):
        name = f"{cls}:{provider}:{kind}" if provider else f"{cls}:{kind}"
        if cls == "ocf":
            path = facts.ocf_root / (provider or "") / kind
            present = path.is_file() and os.access(path, os.X_OK)
        elif cls == "stonith":
            present = shutil.which(kind, path=facts.search_path) is not None
        elif cls == "systemd":
            present = unit_state(facts, kind)[0] == "loaded"
        else:
            present = False
        if present:
            found.append(ok(facts.host, group.name, None, "pacemaker.agent",
                            f"{name} is installed"))
        else:
            found.append(fail(facts.host, group.name, None, "pacemaker.agent",
                              f"{name} is not installed here"))
    return found
