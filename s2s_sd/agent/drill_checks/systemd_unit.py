"""systemd members: the existing unit is installed on this host (systemd can load it: a
drop-in of s2s-sd alone is not a unit) and is not enabled to start at boot by itself,
outside the group (it would start on every host that boots)."""

from __future__ import annotations

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.drill import Finding, fail, ok
from s2s_sd.model import Group, SystemdService

# UnitFileState values with which the unit starts at boot without the group
STARTS_BY_ITSELF = frozenset({"enabled", "enabled-runtime", "alias"})


def unit_state(facts: HostFacts, unit: str) -> tuple[str, str]:
    """(LoadState, UnitFileState) of UNIT on this host, as systemctl shows them; a
    systemctl that cannot answer gives ("unknown: WHY", "")."""
    shown = facts.systemctl(["show", "--property=LoadState,UnitFileState", "--", unit])
    if not shown.ok:
        detail = (shown.stderr or shown.stdout).strip().splitlines()
        return f"unknown: {detail[-1] if detail else f'exit {shown.returncode}'}", ""
    values = dict(line.partition("=")[::2] for line in shown.stdout.splitlines())
    return values.get("LoadState", "unknown"), values.get("UnitFileState", "")


def check_systemd(facts: HostFacts, group: Group, service: SystemdService) -> list[Finding]:
    host, member, unit = facts.host, service.name, service.unit
    load, file_state = unit_state(facts, unit)
    if load == "not-found":
        return [fail(host, group.name, member, "systemd.unit", f"{unit}: not installed here")]
    if load != "loaded":
        return [fail(host, group.name, member, "systemd.unit", f"{unit}: {load}")]
    found = [ok(host, group.name, member, "systemd.unit", f"{unit}: installed")]
    if file_state in STARTS_BY_ITSELF:
        found.append(fail(host, group.name, member, "systemd.enabled",
                          f"{unit} is {file_state}: it starts at boot outside the group "
                          f"(systemctl disable {unit})"))
    else:
        found.append(ok(host, group.name, member, "systemd.enabled",
                        f"{unit} is {file_state or 'not enabled'}: only the group starts it"))
    return found
