"""Definitions -> a Pacemaker CIB and s2s-sd's OCF agent, {relative path: text} (pure).

What an experienced pcs/crm user would write by hand:

  <group id=GROUP>                 one per service group, members in order, with
                                   resource-stickiness / migration-threshold /
                                   failure-timeout meta attributes
    <primitive id=GROUP_SERVICE>   mount -> ocf:heartbeat:Filesystem (force_unmount=safe)
                                   ip -> ocf:heartbeat:IPaddr2
                                   script -> ocf:s2s:script (this package's agent)
                                   kits -> ocf:s2s:kits (this package's agent)
                                   systemd -> ocf:s2s:unit (unit=UNIT)
                                   exec -> ocf:s2s:unit (unit=s2s-GROUP-SERVICE.service)
                                   (not Pacemaker's systemd: class, which polls
                                   every start and stop: see s2s_sd/ocf/unit)
    <primitive id=GROUP_hooks>     last, when the group has pre_move/post_move hooks:
                                   ocf:s2s:hook, whose stop runs the pre-move hook before
                                   any member stops and whose start runs the post-move
                                   hook after every member started, on whichever host and
                                   for whatever reason the cluster moves the group
  <primitive class=stonith>        one per fence device, banned from the hosts it fences
  <rsc_location>                   a preference per allowed host (first = highest) and,
                                   when the group may not run on every node of the
                                   cluster, one -INFINITY rule for the nodes outside its list
  <tag id=s2s-sd-HOSTGROUP>        Pacemaker's own way of naming a set of resources
                                   (`pcs tag`, crmsh `tag`): every top-level resource
                                   s2s-sd owns for this host group

Everything s2s-sd owns is recognisable, so `apply` can merge it into a live CIB without
touching anything else: top-level resources are in the tag s2s-sd-HOSTGROUP (CIBs of
earlier versions marked them with the meta attribute `s2s-sd-managed=HOSTGROUP`, which
crmsh flags as unknown: apply still recognises it and replaces it by the tag); constraint
ids start with `s2s-sd-`; of the cluster options only `stonith-enabled` is s2s-sd's (and
only when [fencing] says something).

Output is deterministic: groups and devices sorted by name, fixed epoch, no timestamps.
Secret fence parameters are never rendered here unless the caller passes their values
(apply does, at apply time, and never prints them).
"""

# Size: about 540 lines (40 of them the picture above): the CIB is one document built by
# small helpers that share the id registry (_Ids) and the sorted groups and fence devices;
# splitting it would spread the id scheme over modules. The agents are in
# pacemaker_agents.py; the warnings (which share the fence devices) move out next.

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from lxml import etree

from s2s_sd.errors import InvalidDefinitions, Problem
from s2s_sd.kits.layout import kit_timeout, kits_disks
from s2s_sd.model import (
    FENCING_DISABLED,
    Declared,
    Definitions,
    FenceDevice,
    Group,
    IpService,
    KitsService,
    MountService,
    ScriptService,
    Service,
)
from s2s_sd.naming import (
    HOOKS_MEMBER,
    hooks_id,
    location_id,
    managed_alert_id,
    managed_tag_id,
    primitive_id,
)
from s2s_sd.render.pacemaker_agents import (
    AGENT_PROVIDER,
    ALERT_AGENT_PATH,
    ALERT_AGENT_TYPE,
    HOOK,
    HOOK_AGENT_TYPE,
    KITS_AGENT_TYPE,
    STONITH_MONITOR,
    UNIT_AGENT_TYPE,
    agent_of,
    agent_text,
    below_advice,
    unit_of,
)

CIB_FILE = "cib.xml"
AGENT_FILE = "ocf/s2s/script"  # installed as /usr/lib/ocf/resource.d/s2s/script
HOOK_AGENT_FILE = "ocf/s2s/hook"  # installed as /usr/lib/ocf/resource.d/s2s/hook
KITS_AGENT_FILE = "ocf/s2s/kits"  # installed as /usr/lib/ocf/resource.d/s2s/kits
UNIT_AGENT_FILE = "ocf/s2s/unit"  # installed as /usr/lib/ocf/resource.d/s2s/unit
ALERT_AGENT_FILE = "ocf/s2s/alert"  # installed as /usr/lib/ocf/resource.d/s2s/alert

# the meta attribute by which s2s-sd before the tag marked its top-level resources
LEGACY_MANAGED_META = "s2s-sd-managed"
PROPERTY_SET = "cib-bootstrap-options"
STONITH_ENABLED = "stonith-enabled"
PRESERVED_META = ("target-role", "is-managed", "maintenance")  # operators' switches

# The schema every construct used here exists in (Pacemaker >= 2.0); newer clusters
# accept it unchanged, so one generated CIB serves RHEL 8/9, Debian 11/12 and SLES 15.
# `generate pacemaker` passes the installed Pacemaker's newest schema instead, as pcs
# writes it (PacemakerSettings.validate_with); apply keeps the live CIB's.
VALIDATE_WITH = "pacemaker-3.0"
SECRET_MASK = "********"


@dataclass(frozen=True)
class PacemakerSettings:
    """Where things are on the hosts and the defaults s2s-sd writes for every group."""

    basedir: str = "/etc/s2s-sd"
    stickiness: int = 100  # per member: a group of n members sticks with n * 100
    migration_threshold: int = 3  # failures on a host before the group leaves it
    failure_timeout: int | None = None  # None: failures never expire (until cleanup)
    location_step: int = 10  # preference score difference between consecutive hosts
    validate_with: str = VALIDATE_WITH  # the CIB's schema
    # the alert agent notify hooks run through (s2s_sd/ocf/alert; the package's path)
    alert_agent: str = ALERT_AGENT_PATH
    # the cluster's nodes besides the host group's (apply reads them from the live CIB):
    # a group that may run on every node needs no rule keeping it off the others
    other_nodes: tuple[str, ...] = ()


def secret_refs(defs: Definitions) -> list[tuple[str, str, str]]:
    """(device, parameter, file relative to the base dir) of every secret apply needs."""
    return [
        (device.name, param, defs.resolved(ref))
        for device in _fence_devices(defs)
        for param, ref in device.secret_params
    ]


def warnings(defs: Definitions) -> list[str]:
    """What generate and apply must say out loud about the rendered configuration."""
    out: list[str] = []
    fencing = defs.fencing
    if fencing is None:
        out.append("no [fencing] table: stonith-enabled is left as the cluster has it; "
                   "Pacemaker starts nothing without fencing devices")
    elif not fencing.enabled:
        out.append(FENCING_DISABLED)
    for device in _fence_devices(defs):
        if set(defs.hostgroup.host_names) <= set(device.hosts):
            out.append(f"fence device {device.name} fences every host, so it cannot be kept "
                       "off the host it fences; Pacemaker lets a peer run the fencing")
    for group in sorted(defs.groups, key=lambda g: g.name):
        if not group.services:
            out.append(f"group {group.name} has no services: not written to the CIB")
        for service in group.services:
            out += below_advice(service)
    return out


def render_pacemaker(defs: Definitions,
                     settings: PacemakerSettings | None = None) -> dict[str, str]:
    """{"cib.xml": complete CIB, "ocf/s2s/{script,hook,kits,unit}": the OCF agents,
    "ocf/s2s/alert": the alert agent}
    (no secrets inside)."""
    cib = build_cib(defs, settings)
    return {CIB_FILE: to_text(cib), AGENT_FILE: agent_text(),
            HOOK_AGENT_FILE: agent_text(HOOK_AGENT_TYPE),
            KITS_AGENT_FILE: agent_text(KITS_AGENT_TYPE),
            UNIT_AGENT_FILE: agent_text(UNIT_AGENT_TYPE),
            ALERT_AGENT_FILE: agent_text(ALERT_AGENT_TYPE)}


def to_text(element: etree._Element) -> str:
    etree.indent(element, space="  ")
    return etree.tostring(element, encoding="unicode") + "\n"


# -- small lxml helpers -----------------------------------------------------------------

def _sub(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, tag, attrs)


def _nvset(parent: etree._Element, tag: str, owner: str, kind: str,
           pairs: Iterable[tuple[str, str]]) -> etree._Element | None:
    """<instance_attributes>/<meta_attributes> with pcs-style ids: OWNER-KIND-NAME."""
    pairs = list(pairs)
    if not pairs:
        return None
    nvset = _sub(parent, tag, id=f"{owner}-{kind}")
    for name, value in pairs:
        etree.SubElement(nvset, "nvpair", id=f"{owner}-{kind}-{name}", name=name, value=value)
    return nvset


def _seconds(value: int) -> str:
    return f"{value}s"


def _ops(parent: etree._Element, rsc: str, start: int | None, stop: int | None,
         interval: int, monitor_timeout: int, rogue_probe: bool = False) -> None:
    """The operations; rogue_probe: also a monitor with role=Stopped, run on every node
    where the resource should be stopped, so the cluster sees an instance started there
    by hand (and stops it). Its interval is one second longer: Pacemaker tells the two
    monitors apart by name and interval."""
    ops = _sub(parent, "operations")
    specs: list[tuple[str, int, int, str | None]] = [
        ("monitor", interval, monitor_timeout, None)]
    if rogue_probe:
        specs.append(("monitor", interval + 1, monitor_timeout, "Stopped"))
    if start is not None:
        specs.append(("start", 0, start, None))
    if stop is not None:
        specs.append(("stop", 0, stop, None))
    for name, every, timeout, role in specs:
        op = etree.SubElement(ops, "op", id=f"{rsc}-{name}-interval-{every}s", name=name,
                              interval=_seconds(every), timeout=_seconds(timeout))
        if role is not None:
            op.set("role", role)


# -- the CIB ----------------------------------------------------------------------------

class _Ids:
    """Every id of the document, to report duplicates where they were declared."""

    def __init__(self) -> None:
        self.owner: dict[str, tuple[Declared, str | None, str]] = {}
        self.problems: list[Problem] = []

    def claim(self, nodes: Iterable[etree._Element], obj: Declared, key: str | None,
              where: str) -> None:
        """The ids of nodes belong to obj (its `key`, for the line), shown as `where`."""
        line = obj.line_of(key) if key else obj.origin.line
        for node in nodes:
            node_id = node.get("id")
            if node_id is None:
                continue
            if node_id in self.owner:
                first, first_key, first_where = self.owner[node_id]
                first_line = first.line_of(first_key) if first_key else first.origin.line
                self.problems.append(Problem(
                    obj.origin.file, line, where,
                    f"Pacemaker id '{node_id}' is also produced by {first_where} "
                    f"({first.origin.file}:{first_line}); rename one of them"))
                return  # one collision per declared thing: the rest follow from it
            else:
                self.owner[node_id] = (obj, key, where)


def build_cib(defs: Definitions, settings: PacemakerSettings | None = None,
              secrets: Mapping[tuple[str, str], str] | None = None) -> etree._Element:
    """The complete CIB. `secrets`: (device, parameter) -> value, given only by apply."""
    settings = settings or PacemakerSettings()
    cib = etree.Element("cib", {
        "crm_feature_set": "3.0.14", "validate-with": settings.validate_with,
        "epoch": "1", "num_updates": "0", "admin_epoch": "0",
    })
    config = _sub(cib, "configuration")
    crm_config = _sub(config, "crm_config")
    props = _sub(crm_config, "cluster_property_set", id=PROPERTY_SET)
    etree.SubElement(props, "nvpair", id=f"{PROPERTY_SET}-cluster-name", name="cluster-name",
                     value=defs.hostgroup.name)
    stonith = stonith_enabled(defs)
    if stonith is not None:
        etree.SubElement(props, "nvpair", id=f"{PROPERTY_SET}-{STONITH_ENABLED}",
                         name=STONITH_ENABLED, value=stonith)
    nodes = _sub(config, "nodes")
    for number, host in enumerate(defs.hostgroup.host_names, start=1):
        _sub(nodes, "node", id=str(number), uname=host)
    rsc_parent = _sub(config, "resources")
    constraints = _sub(config, "constraints")
    resources = list(managed_resources(defs, settings, secrets))
    locations = list(managed_constraints(defs, settings))
    problems = _claim_all(defs, resources, locations)
    if problems:
        raise InvalidDefinitions(problems)
    for element in resources:
        rsc_parent.append(element)
    for element in locations:
        constraints.append(element)
    tag = managed_tag(defs, resources)
    if tag is not None:
        _sub(config, "tags").append(tag)
    alert = managed_alert(defs, settings)
    if alert is not None:
        _sub(config, "alerts").append(alert)
    _sub(cib, "status")
    return cib


def managed_tag(defs: Definitions, resources: Iterable[etree._Element]
                ) -> etree._Element | None:
    """<tag id=s2s-sd-HOSTGROUP> referring to each of `resources` (None: there are none)."""
    ids = sorted(r.get("id", "") for r in resources)
    if not ids:
        return None
    tag = etree.Element("tag", id=managed_tag_id(defs.hostgroup.name))
    for rsc in ids:
        etree.SubElement(tag, "obj_ref", id=rsc)
    return tag


def id_problems(defs: Definitions) -> list[Problem]:
    """Every Pacemaker id produced twice, against the definition that produced it: the
    rule `check` applies (validate.py) and `generate`/`apply` enforce (build_cib)."""
    return _claim_all(defs, list(managed_resources(defs)), list(managed_constraints(defs)))


def stonith_enabled(defs: Definitions) -> str | None:
    """The stonith-enabled value the definitions ask for (None: leave it alone)."""
    if defs.fencing is None:
        return None
    return "true" if defs.fencing.enabled else "false"


def _claim_all(defs: Definitions, resources: list[etree._Element],
               constraints: list[etree._Element]) -> list[Problem]:
    """Claim every id for the definition that produced it: a member for its primitive,
    the group (its hooks) for the hook member, the group's or device's `hosts` for its
    location constraints."""
    ids = _Ids()
    by_group = {g.name: g for g in defs.groups}
    by_device = {d.name: d for d in _fence_devices(defs)}
    for element in resources:
        rsc = element.get("id", "")
        group = by_group.get(rsc)
        if group is None:
            ids.claim(element.iter(), by_device[rsc], "name", f"fencing.devices.{rsc}")
            continue
        where = f"groups.{rsc}"
        members = {primitive_id(rsc, s.name): s for s in group.services}
        ids.claim([element], group, None, where)
        for child in element:
            service = members.get(child.get("id", ""))
            if child.tag != "primitive":
                ids.claim(child.iter(), group, None, where)
            elif service is not None:
                ids.claim(child.iter(), service, "name", f"{where}.services.{service.name}")
            else:  # the hook member
                key = "pre_move" if group.pre_move else "post_move"
                ids.claim(child.iter(), group, key, f"{where}.{key}")
    for element in constraints:
        rsc = element.get("rsc", "")
        owner: Declared = by_group.get(rsc) or by_device[rsc]
        prefix = "groups" if rsc in by_group else "fencing.devices"
        ids.claim(element.iter(), owner, "hosts", f"{prefix}.{rsc}.hosts")
    return ids.problems


def _fence_devices(defs: Definitions) -> list[FenceDevice]:
    if defs.fencing is None or not defs.fencing.enabled:
        return []
    return sorted(defs.fencing.devices, key=lambda d: d.name)


def _groups(defs: Definitions) -> list[Group]:
    return sorted((g for g in defs.groups if g.services), key=lambda g: g.name)


def managed_resources(defs: Definitions, settings: PacemakerSettings | None = None,
                      secrets: Mapping[tuple[str, str], str] | None = None,
                      ) -> Iterator[etree._Element]:
    """The top-level resources s2s-sd owns: fence devices, then groups, sorted by name."""
    settings = settings or PacemakerSettings()
    for device in _fence_devices(defs):
        yield _stonith(device, secrets or {})
    for group in _groups(defs):
        yield _group(group, settings)


def managed_constraints(defs: Definitions, settings: PacemakerSettings | None = None,
                        ) -> Iterator[etree._Element]:
    settings = settings or PacemakerSettings()
    for device in _fence_devices(defs):
        if set(defs.hostgroup.host_names) <= set(device.hosts):
            continue  # banned everywhere it could not fence anything: see warnings()
        for host in device.hosts:
            yield etree.Element("rsc_location", id=location_id(device.name, f"avoids-{host}"),
                                rsc=device.name, node=host, score="-INFINITY")
    every_node = set(defs.hostgroup.host_names) | set(settings.other_nodes)
    for group in _groups(defs):
        yield from _group_locations(group, settings, every_node)


def _stonith(device: FenceDevice, secrets: Mapping[tuple[str, str], str]) -> etree._Element:
    prim = etree.Element("primitive", {"id": device.name, "class": "stonith",
                                       "type": device.agent})
    params = dict(device.params)
    if "pcmk_host_list" not in params and "pcmk_host_map" not in params:
        params["pcmk_host_list"] = " ".join(device.hosts)
    for param, _ref in device.secret_params:
        if (device.name, param) in secrets:
            params[param] = secrets[(device.name, param)]
    _nvset(prim, "instance_attributes", device.name, "instance_attributes",
           sorted(params.items()))
    interval, timeout = STONITH_MONITOR
    _ops(prim, device.name, None, None, interval, timeout)
    return prim


def _group(group: Group, settings: PacemakerSettings) -> etree._Element:
    element = etree.Element("group", id=group.name)
    if group.description:
        element.set("description", " ".join(group.description.split()))
    meta: list[tuple[str, str]] = []
    stickiness = group.stickiness if group.stickiness is not None else settings.stickiness
    meta.append(("resource-stickiness", str(stickiness)))
    meta.append(("migration-threshold", str(_migration_threshold(group, settings))))
    failure_timeout = _failure_timeout(group, settings)
    if failure_timeout is not None:
        meta.append(("failure-timeout", _seconds(failure_timeout)))
    _nvset(element, "meta_attributes", group.name, "meta_attributes", meta)
    for service in group.services:
        element.append(_primitive(service, settings, group))
    if group.pre_move or group.post_move:
        element.append(_hooks_primitive(group, settings))
    return element


def _migration_threshold(group: Group, settings: PacemakerSettings) -> int:
    return (group.migration_threshold if group.migration_threshold is not None
            else settings.migration_threshold)


def _failure_timeout(group: Group, settings: PacemakerSettings) -> int | None:
    return (group.failure_timeout if group.failure_timeout is not None
            else settings.failure_timeout)


def managed_alert(defs: Definitions, settings: PacemakerSettings | None = None
                  ) -> etree._Element | None:
    """<alert id=s2s-sd-HOSTGROUP-notify> running s2s-sd's alert agent (s2s_sd/ocf/alert)
    for resource, fencing and node events, when the definitions name a notify hook. The
    agent learns from its instance attributes which primitive is which group's member
    (ids alone are ambiguous: a group's name may hold an underscore) and each group's
    migration_threshold and failure_timeout, to tell a give-up from a local restart."""
    notify = defs.hostgroup.notify
    if notify is None:
        return None
    settings = settings or PacemakerSettings()
    alert_id = managed_alert_id(defs.hostgroup.name)
    alert = etree.Element("alert", id=alert_id, path=settings.alert_agent)
    select = _sub(alert, "select")
    for kind in ("select_nodes", "select_fencing", "select_resources"):
        _sub(select, kind)
    groups = []
    for group in _groups(defs):
        members = [service.name for service in group.services]
        if group.pre_move or group.post_move:
            members.append(HOOKS_MEMBER)
        groups.append(f"{group.name}:{_migration_threshold(group, settings)}:"
                      f"{_failure_timeout(group, settings) or 0}:{','.join(members)}")
    _nvset(alert, "instance_attributes", alert_id, "instance_attributes", [
        ("s2s_sd_hostgroup", defs.hostgroup.name), ("s2s_sd_basedir", settings.basedir),
        ("s2s_sd_notify", notify), ("s2s_sd_groups", " ".join(groups))])
    return alert


def _hooks_primitive(group: Group, settings: PacemakerSettings) -> etree._Element:
    """The last member: its stop runs the pre-move hook before any member stops, its start
    the post-move hook after all started (the agent picks NAME.HOST twins itself)."""
    rsc = hooks_id(group.name)
    prim = etree.Element("primitive", {"id": rsc, "class": HOOK.cls,
                                       "provider": AGENT_PROVIDER, "type": HOOK.type})
    params = [("group", group.name)]
    if group.pre_move:
        params.append(("pre_move", f"{settings.basedir}/{group.pre_move}"))
    if group.post_move:
        params.append(("post_move", f"{settings.basedir}/{group.post_move}"))
    params.append(("basedir", settings.basedir))
    _nvset(prim, "instance_attributes", rsc, "instance_attributes", params)
    _ops(prim, rsc, HOOK.start, HOOK.stop, HOOK.interval, HOOK.monitor_timeout)
    return prim


def _params(service: Service, settings: PacemakerSettings,
            group: Group | None = None) -> list[tuple[str, str]]:
    if isinstance(service, KitsService) and group is not None:
        disks = " ".join(d.mountpoint for d in kits_disks(group, service))
        return [("disks", disks), ("kit_timeout", str(kit_timeout(service)))]
    if isinstance(service, MountService):
        params = [("device", service.device), ("directory", service.mountpoint),
                  ("fstype", service.fstype)]
        if service.options:
            params.append(("options", service.options))
        # a busy mount must not block a failover; "safe" finds holders without fuser
        params.append(("force_unmount", "safe"))
        return params
    if isinstance(service, IpService):
        iface = ipaddress.ip_interface(service.address)
        params = [("ip", str(iface.ip)), ("cidr_netmask", str(iface.network.prefixlen))]
        if service.interface:
            params.append(("nic", service.interface))
        return params
    if isinstance(service, ScriptService):
        # the declared paths: the agent picks the NAME.HOST twin on each host itself
        params = [("script", f"{settings.basedir}/{service.script}")]
        if service.config:
            params.append(("config", f"{settings.basedir}/{service.config}"))
        return params
    unit = unit_of(service)
    return [("unit", unit)] if unit else []


def _primitive(service: Service, settings: PacemakerSettings,
               group: Group | None = None) -> etree._Element:
    agent = agent_of(service)
    rsc = primitive_id(service.group, service.name)
    attrs = {"id": rsc, "class": agent.cls}
    if agent.provider:
        attrs["provider"] = agent.provider
    attrs["type"] = agent.type
    prim = etree.Element("primitive", attrs)
    _nvset(prim, "instance_attributes", rsc, "instance_attributes",
           _params(service, settings, group))
    _ops(prim, rsc,
         service.start_timeout or agent.start, service.stop_timeout or agent.stop,
         service.monitor_interval or agent.interval, agent.monitor_timeout,
         rogue_probe=True)
    return prim


def _group_locations(group: Group, settings: PacemakerSettings,
                     every_node: set[str]) -> Iterator[etree._Element]:
    count = len(group.hosts)
    for index, host in enumerate(group.hosts):
        yield etree.Element("rsc_location", id=location_id(group.name, host), rsc=group.name,
                            node=host, score=str((count - index) * settings.location_step))
    if every_node <= set(group.hosts):
        return  # may run on every node: a rule against the others would say nothing
    # never outside the list (a node added to the cluster by hand is "outside" as soon
    # as apply has seen it in the CIB)
    only = etree.Element("rsc_location", id=location_id(group.name, "allowed-hosts"),
                         rsc=group.name)
    rule = etree.SubElement(only, "rule", id=f"{only.get('id')}-rule", score="-INFINITY")
    rule.set("boolean-op", "and")
    for host in group.hosts:
        etree.SubElement(rule, "expression", id=f"{rule.get('id')}-{host}",
                         attribute="#uname", operation="ne", value=host)
    yield only
