"""kits members: the service kits on the group's disks that are mounted here pass the
same checks as a start would make (`bash -n`, executables, a stop script)."""

from __future__ import annotations

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.drill import Finding, fail, ok, warn
from s2s_sd.kits.layout import kits_disks
from s2s_sd.kits.runner import check_disks, find_kits
from s2s_sd.model import Group, KitsService


def check_kits(facts: HostFacts, group: Group, service: KitsService) -> list[Finding]:
    host, member = facts.host, service.name
    disks = [d.mountpoint for d in kits_disks(group, service) if d.mountpoint in facts.mounted]
    if not disks:
        return [ok(host, group.name, member, "kits.syntax",
                   "no disk of the group is mounted here: its kits are checked where it runs")]
    problems = check_disks(disks)
    if not problems:
        return [ok(host, group.name, member, "kits.syntax",
                   f"{len(find_kits(disks))} kit(s) on {', '.join(disks)} pass the checks")]
    return [(warn if p.warning else fail)(host, group.name, member, "kits.syntax", str(p))
            for p in problems]
