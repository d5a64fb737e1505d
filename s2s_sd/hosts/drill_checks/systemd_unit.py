"""systemd members: the existing unit is installed on this host (`systemctl cat`) and is
not enabled to start at boot by itself, outside the group (it would start on every host
that boots)."""

from __future__ import annotations

from s2s_sd.drill import Finding, fail, ok
from s2s_sd.hosts.drill_checks import HostFacts
from s2s_sd.model import Group, SystemdService

# `systemctl is-enabled` states in which the unit starts at boot without the group
STARTS_BY_ITSELF = frozenset({"enabled", "enabled-runtime", "alias"})


def check_systemd(facts: HostFacts, group: Group, service: SystemdService) -> list[Finding]:
    host, member, unit = facts.host, service.name, service.unit
    shown = facts.systemctl(["cat", "--", unit])
    if not shown.ok:
        detail = (shown.stderr or shown.stdout).strip().splitlines()
        return [fail(host, group.name, member, "systemd.unit",
                     f"{unit}: not installed here" + (f" ({detail[-1]})" if detail else ""))]
    found = [ok(host, group.name, member, "systemd.unit", f"{unit}: installed")]
    state = facts.systemctl(["is-enabled", "--", unit]).stdout.strip()
    if state in STARTS_BY_ITSELF:
        found.append(fail(host, group.name, member, "systemd.enabled",
                          f"{unit} is {state}: it starts at boot outside the group "
                          f"(systemctl disable {unit})"))
    elif state.startswith("masked"):
        found.append(fail(host, group.name, member, "systemd.enabled",
                          f"{unit} is masked: the group cannot start it"))
    else:
        found.append(ok(host, group.name, member, "systemd.enabled",
                        f"{unit} is {state or 'not enabled'}: only the group starts it"))
    return found
