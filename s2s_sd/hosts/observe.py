"""What actually runs on this host: per group, its units, VIPs, mounts and scripts.

This is the ground truth moves and status rely on. A group counts as active on a host
when anything of it is: a unit up or on its way, a VIP on an interface, a mountpoint
mounted, a script reporting it runs. Everything is read directly (systemd over D-Bus,
addresses over netlink, /proc/self/mountinfo), never from s2s-sd's own records.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

from s2s_sd import paths
from s2s_sd.engines.net.ops import vip_status
from s2s_sd.engines.net.vip import vip_for_service
from s2s_sd.engines.systemd.units import restart_counts, unit_states
from s2s_sd.hosts.health import last_failure
from s2s_sd.model import Definitions, Group, IpService, MountService, ScriptService, SystemdService
from s2s_sd.naming import UNIT_PREFIX, guard_unit, member_unit, target_name
from s2s_sd.observation import GroupObservation
from s2s_sd.run import run

_OCTAL = re.compile(rb"\\([0-7]{3})")


def _unescape_mountinfo(field: str) -> str:
    """The kernel writes blanks, tabs, newlines and backslashes as \\ooo; the rest of the
    path is the raw bytes (UTF-8 here), which must stay as they are."""
    raw = field.encode("utf-8", "surrogateescape")
    return _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), raw).decode("utf-8",
                                                                          "surrogateescape")


def mounted_paths() -> set[str]:
    paths = set()
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as handle:
        for line in handle:
            fields = line.split()
            if len(fields) > 4:
                paths.add(_unescape_mountinfo(fields[4]))
    return paths


def script_status(basedir: str, service: ScriptService) -> int:
    """The OCF monitor code of a script member on this host (0 runs, 7 stopped)."""
    env = {"OCF_RESKEY_script": f"{basedir}/{service.script}",
           "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    if service.config:
        env["OCF_RESKEY_config"] = f"{basedir}/{service.config}"
    result = run([paths.ocf_agent("script"), "monitor"], check=False, env=env, timeout=60)
    return result.returncode


def _units_of(group: Group) -> list[str]:
    # the guard counts: a host whose guard runs is about to start the group, so two
    # guards racing each other both see the other and both refuse
    units = [guard_unit(group.name)] + [member_unit(group.name, s.name) for s in group.services]
    units += [s.unit for s in group.services if isinstance(s, SystemdService)]
    return units


def observe(defs: Definitions, basedir: str, groups: list[str] | None = None,
            scripts: bool = True) -> dict[str, GroupObservation]:
    """Observe the named groups (default: all) on this host."""
    chosen = [g for g in defs.groups if groups is None or g.name in groups]
    bound_units = sorted({u for g in chosen for u in _units_of(g) if not u.startswith(UNIT_PREFIX)})
    patterns = [f"{UNIT_PREFIX}*", *bound_units]
    states = unit_states(patterns)
    mounts = mounted_paths()
    result: dict[str, GroupObservation] = {}
    script_jobs: list[tuple[GroupObservation, ScriptService]] = []
    for group in chosen:
        seen = GroupObservation(group.name, target=states.get(target_name(group.name),
                                                              "inactive"))
        for unit in _units_of(group):
            seen.units[unit] = states.get(unit, "inactive")
        for service in group.services:
            if isinstance(service, IpService):
                vip = vip_for_service(defs, group.name, service.name)
                seen.vips[service.address] = vip_status(vip, hosts=None).present
            elif isinstance(service, MountService):
                seen.mounts[service.mountpoint] = service.mountpoint in mounts
            elif isinstance(service, ScriptService) and scripts:
                script_jobs.append((seen, service))
        result[group.name] = seen
    members = {member_unit(g.name, s.name): (result[g.name], s.name)
               for g in chosen for s in g.services}
    # only units that ran: an inactive unit's count was cleared by its clean stop or
    # matters no more; asking costs a systemctl call
    ran = [u for u in members if states.get(u, "inactive") != "inactive"]
    for unit, count in restart_counts(ran).items():
        seen, name = members[unit]
        seen.restarts[name] = count
    for seen, name in members.values():
        if (failure := last_failure(seen.group, name)) is not None:
            seen.last_failures[name] = failure
    if script_jobs:
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(lambda job: script_status(basedir, job[1]), script_jobs))
        for (seen, service), code in zip(script_jobs, codes, strict=True):
            seen.scripts[service.name] = code
    return result
