"""The host side of the fire drill (`drill`, one operation of the agent): what this host
would need to start the named groups, starting and changing nothing.

Two kinds of request: the checks (generation, versions, every member, hooks, kits, the
Pacemaker node), answered by all hosts at once; and the ARP/ND probes of the VIPs, which
the admin asks for host by host (probes of one address from two hosts at once would
report each other). Arguments are checked like any bad input: exit 2, nothing done.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s2s_sd.agent.core_ops import AgentContext, _arg
from s2s_sd.drill import Finding, VipAnswer
from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.hosts.protocol import COUNTER, NAME, AbsolutePath, ListOf, MapOf, Operation, Text, arg
from s2s_sd.model import (
    ExecService,
    Group,
    IpService,
    KitsService,
    MountService,
    ScriptService,
    Service,
    SystemdService,
)
from s2s_sd.version import package_version

if TYPE_CHECKING:
    from s2s_sd.agent.drill_checks import HostFacts

SHA256 = re.compile(r"[0-9a-f]{64}\Z")
MAX_EXPECTED_FILES = 10000
SYS_CLASS_NET = Path("/sys/class/net")


# -- arguments ------------------------------------------------------------------------------

def _groups(ctx: AgentContext, args: Mapping[str, Any]) -> tuple[list[Group], list[str]]:
    """(the groups to check, the names this host's definitions do not give it): a host on
    another generation may not know a group yet; that is a finding, not an error."""
    from s2s_sd.validate import IDENTIFIER

    groups, unknown = [], []
    for name in _arg(args, "groups", list):
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            raise BadInput(f"request: group {str(name)[:40]!r} is not an identifier")
        group = ctx.defs().group(name)
        if group is None or ctx.host not in group.hosts:
            unknown.append(name)
        else:
            groups.append(group)
    return groups, unknown


def _unknown_findings(ctx: AgentContext, unknown: list[str]) -> list[Finding]:
    from s2s_sd.drill import fail

    return [fail(ctx.host, name, None, "host.definitions",
                 f"this host's definitions do not let group {name} run on {ctx.host}: "
                 "run `s2s-sd sync`") for name in unknown]


def _expected(args: Mapping[str, Any]) -> dict[str, str]:

    raw: dict[Any, Any] = _arg(args, "expected", dict)
    if len(raw) > MAX_EXPECTED_FILES:
        raise BadInput(f"request: more than {MAX_EXPECTED_FILES} expected files")
    for path, digest in raw.items():
        if not (isinstance(path, str) and path.startswith("/") and "/../" not in f"{path}/"):
            raise BadInput(f"request: expected file {str(path)[:60]!r} is not an absolute path")
        if not (isinstance(digest, str) and SHA256.match(digest)):
            raise BadInput(f"request: expected digest of {path} is not a sha256")
    return dict(raw)


def _probes(ctx: AgentContext, args: Mapping[str, Any]) -> list[tuple[Group, IpService]]:

    found = []
    for entry in _arg(args, "probe", list):
        if not (isinstance(entry, list) and len(entry) == 2
                and all(isinstance(part, str) for part in entry)):
            raise BadInput("request: 'probe' must list [group, member] pairs")
        group = ctx.defs().group(entry[0])
        service = next((s for s in group.services if s.name == entry[1]), None) \
            if group else None
        if group is None or not isinstance(service, IpService):
            raise BadInput(f"request: {str(entry[0])[:40]}.{str(entry[1])[:40]} is not an "
                           f"ip member defined on {ctx.host}")
        found.append((group, service))
    return found


# -- what the checks share ------------------------------------------------------------------

def _macs() -> list[str]:
    found = []
    for entry in sorted(SYS_CLASS_NET.glob("*/address")):
        try:
            mac = entry.read_text(encoding="ascii").strip().lower()
        except OSError:
            continue
        if mac and mac.count(":") == 5 and mac != "00:00:00:00:00:00":
            found.append(mac)
    return found


def _cluster_status() -> tuple[Any, str | None]:
    from s2s_sd.engines.pacemaker import crm_tools

    try:
        return crm_tools.status(full=True), None  # nodes are in the full view only
    except OperationFailed as exc:
        return None, str(exc)


def _running(ctx: AgentContext, groups: list[Group], cluster: Any) -> frozenset[str]:
    """The groups that run on this host now: their target is up (systemd engine), or
    the cluster runs a member here (Pacemaker)."""
    if cluster is not None:
        return frozenset(g.name for g in groups if g.name in cluster.groups
                         and ctx.host in cluster.groups[g.name].active_nodes())
    from s2s_sd.engines.systemd.units import systemd_running, unit_states
    from s2s_sd.naming import target_name
    from s2s_sd.observation import ACTIVE_STATES

    if not groups or not systemd_running():
        return frozenset()
    states = unit_states([target_name(g.name) for g in groups])
    return frozenset(g.name for g in groups
                     if states.get(target_name(g.name), "inactive") in ACTIVE_STATES)


def _facts(ctx: AgentContext, groups: list[Group], cluster: Any) -> HostFacts:
    from s2s_sd.agent.drill_checks import HostFacts
    from s2s_sd.hosts.observe import mounted_paths

    return HostFacts(host=ctx.host, defs=ctx.defs(), basedir=ctx.basedir,
                     running=_running(ctx, groups, cluster),
                     mounted=frozenset(mounted_paths()))


# -- the checks ------------------------------------------------------------------------------

MemberCheck = Callable[["HostFacts", Group, Any], list[Finding]]


def _member_checks() -> dict[type[Service], MemberCheck]:
    from s2s_sd.agent.drill_checks.exec_member import check_exec
    from s2s_sd.agent.drill_checks.kits import check_kits
    from s2s_sd.agent.drill_checks.mount import check_mount
    from s2s_sd.agent.drill_checks.script import check_script
    from s2s_sd.agent.drill_checks.systemd_unit import check_systemd

    return {MountService: check_mount, ScriptService: check_script, ExecService: check_exec,
            SystemdService: check_systemd, KitsService: check_kits}


def check_group(facts: HostFacts, group: Group, pacemaker: bool
                ) -> tuple[list[Finding], list[list[str]]]:
    """Every check of GROUP on this host but the VIP probes; (findings, VIPs to probe)."""
    from s2s_sd.agent.drill_checks.hooks import check_hooks
    from s2s_sd.agent.drill_checks.ip import check_ip
    from s2s_sd.agent.drill_checks.pacemaker import check_agents

    checks = _member_checks()
    found: list[Finding] = []
    probes: list[list[str]] = []
    for service in group.services:
        if isinstance(service, IpService):
            ip_findings, needs_probe = check_ip(facts, group, service)
            found += ip_findings
            if needs_probe:
                probes.append([group.name, service.name])
        else:
            found += checks[type(service)](facts, group, service)
    found += check_hooks(facts, group)
    if pacemaker:
        found += check_agents(facts, group)
    return found, probes


def _check(ctx: AgentContext, args: Mapping[str, Any]) -> dict[str, Any]:
    from s2s_sd.agent.drill_checks.host import check_generation, check_installed, check_version
    from s2s_sd.agent.drill_checks.pacemaker import check_node
    from s2s_sd.model import Engine

    groups, unknown = _groups(ctx, args)
    generation: int = _arg(args, "generation", int)
    digest: str = _arg(args, "digest", str)
    admin_version: str = _arg(args, "version", str)
    expected = _expected(args)
    host_time = time.time()  # the admin brackets it with its own clock (host.clock)
    pacemaker = ctx.defs().hostgroup.engine is Engine.PACEMAKER
    cluster, cluster_error = _cluster_status() if pacemaker else (None, None)
    facts = _facts(ctx, groups, cluster)
    names = [g.name for g in groups] + unknown
    found = _unknown_findings(ctx, unknown)
    found += check_generation(facts, names, generation, digest)
    found += check_version(facts, names, admin_version, package_version())
    found += check_installed(facts, names, expected)
    if pacemaker:
        found += check_node(facts, names, cluster, cluster_error)
    with ThreadPoolExecutor(max_workers=min(8, len(groups) or 1)) as pool:
        per_group = list(pool.map(lambda g: check_group(facts, g, pacemaker), groups))
    probes = [probe for _, group_probes in per_group for probe in group_probes]
    for group_findings, _ in per_group:
        found += group_findings
    return {"host": ctx.host, "time": host_time, "macs": _macs(),
            "running": sorted(facts.running), "probe": probes,
            "findings": [f.as_dict() for f in found]}


def _probe(ctx: AgentContext, args: Mapping[str, Any]) -> dict[str, Any]:
    from s2s_sd.agent.drill_checks import HostFacts
    from s2s_sd.agent.drill_checks.ip import probe_vip

    probes = _probes(ctx, args)
    facts = HostFacts(host=ctx.host, defs=ctx.defs(), basedir=ctx.basedir)
    # different addresses do not disturb each other: one thread per VIP
    with ThreadPoolExecutor(max_workers=min(8, len(probes) or 1)) as pool:
        results = list(pool.map(lambda p: probe_vip(facts, p[0], p[1]), probes))
    answers: list[VipAnswer] = [a for _, a in results if a is not None]
    return {"host": ctx.host,
            "findings": [f.as_dict() for found, _ in results for f in found],
            "answers": [a.as_dict() for a in answers]}


@dataclass(frozen=True)
class DrillRequest:
    """The checks (groups, generation, digest, version, expected) or the VIP probes
    (probe: [group, member] pairs); the finer rules (known groups, ip members, sha256
    digests) are this module's, checked before anything runs."""

    groups: tuple[str, ...] | None = arg(ListOf(NAME), required=False)
    generation: int | None = arg(COUNTER, required=False)
    digest: str | None = arg(Text(), required=False)
    version: str | None = arg(Text(), required=False)
    expected: dict[str, str] | None = arg(MapOf(AbsolutePath(), Text()), required=False)
    probe: tuple[tuple[str, ...], ...] | None = arg(ListOf(ListOf(NAME, max_items=2)),
                                                    required=False)


def _as_args(request: DrillRequest) -> dict[str, Any]:
    """The checked request as the argument mapping this module reads (lists, not tuples)."""
    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, tuple) else value

    return {name: plain(value) for name, value in dataclasses.asdict(request).items()
            if value is not None}


def op_drill(ctx: AgentContext, request: DrillRequest) -> dict[str, Any]:
    """`probe` in the request: the VIP probes; else every other check."""
    args = _as_args(request)
    if "probe" in args:
        return _probe(ctx, args)
    return _check(ctx, args)


DRILL_OPERATIONS: Mapping[str, Operation[Any]] = {
    "drill": Operation(DrillRequest, op_drill),
}
