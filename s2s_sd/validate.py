"""Model -> list of problems (pure: no file system, no processes).

Checks the rules that span keys, services and groups: identifiers, host membership,
duplicates, colliding VIPs and mountpoints, addresses, interface names. File checks
(scripts exist, are executable, pass `bash -n`) need I/O and live in checks.py.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Iterable, Iterator

from s2s_sd.errors import Problem
from s2s_sd.kits.layout import kits_problems
from s2s_sd.load_reader import MAX_PATH_BYTES
from s2s_sd.model import (
    FENCING_DISABLED,
    Declared,
    Definitions,
    Engine,
    ExecService,
    Group,
    Host,
    IpService,
    KitsService,
    MountService,
    Service,
    SystemdService,
)
from s2s_sd.naming import UNIT_PREFIX, alias_hostname, member_unit
from s2s_sd.render.pacemaker import id_problems
from s2s_sd.vip_rules import interface_name_ok, network_or_broadcast, never_a_vip

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME = re.compile(rf"{HOST_LABEL}(?:\.{HOST_LABEL})*\Z")
# "ssh-ed25519 SHA256:<base64>", as ssh reports the key a host presented
HOST_KEY = re.compile(r"[A-Za-z0-9@._-]+ SHA256:[A-Za-z0-9+/]+=*\Z")
ALIAS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?\Z")
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@-]+\.service\Z")
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]*[$]?\Z")
DEVICE = re.compile(r"(/\S+|UUID=\S+|LABEL=\S+|PARTUUID=\S+|[^\s/:]+:/\S*)\Z")
MAX_UNIT_NAME = 255
# a fence agent's name (the primitive's type) and the name of a parameter (an nvpair
# name, and part of the nvpair's XML id)
FENCE_AGENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def _problem(obj: Declared, key: str | None, where: str, message: str,
             warning: bool = False) -> Problem:
    line = obj.line_of(key) if key else obj.origin.line
    return Problem(obj.origin.file, line, where, message, warning)


def service_path(service: Service, key: str | None = None) -> str:
    base = f"groups.{service.group}.services.{service.name}"
    return f"{base}.{key}" if key else base


def validate(defs: Definitions) -> list[Problem]:
    """Every problem of the definitions, sorted by file and line."""
    problems: list[Problem] = []
    problems.extend(_hostgroup(defs))
    problems.extend(_fencing(defs))
    problems.extend(_groups(defs))
    if not any(not p.warning for p in problems) and not any(
            s.incomplete for g in defs.groups for s in g.services):
        # the Pacemaker ids, claimed by the renderer itself (one rule for check and
        # generate); only on otherwise valid definitions, which the renderer can render
        problems.extend(id_problems(defs))
    return sorted(problems, key=lambda p: (p.file, p.line, p.key, p.message))


def _hostgroup(defs: Definitions) -> Iterator[Problem]:
    hg = defs.hostgroup
    if not IDENTIFIER.match(hg.name):
        yield _problem(hg, "name", "hostgroup.name",
                       f"'{hg.name}' is not an identifier (letter, then letters, digits, _)")
    if not hg.hosts:
        yield _problem(hg, "hosts", "hostgroup.hosts", "must name at least one host")
    seen: set[str] = set()
    for host in hg.hosts:
        if not HOSTNAME.match(host.name) or len(host.name) > 253:
            yield _problem(hg, "hosts", "hostgroup.hosts",
                           f"'{host.name}' is not a valid host name (RFC 1123)")
        if host.name in seen:
            yield _problem(hg, "hosts", "hostgroup.hosts", f"host '{host.name}' is listed twice")
        seen.add(host.name)
        if host.address is not None:
            try:
                ipaddress.ip_address(host.address)
            except ValueError:
                if not HOSTNAME.match(host.address):
                    yield _problem(host, "address", f"hosts.{host.name}.address",
                                   f"'{host.address}' is neither an IP address nor a host name")
        if host.host_key is not None and not HOST_KEY.match(host.host_key):
            yield _problem(host, "host_key", f"hosts.{host.name}.host_key",
                           f"'{host.host_key}' is not a key fingerprint "
                           "(\"TYPE SHA256:...\", as `s2s-sd host add` records it)")


def _fencing(defs: Definitions) -> Iterator[Problem]:
    hg = defs.hostgroup
    fencing = defs.fencing
    if hg.engine is not Engine.PACEMAKER:
        return
    if fencing is None:
        yield _problem(hg, "engine", "fencing",
                       "the pacemaker engine needs a [fencing] table: devices, or an explicit "
                       "'enabled = false' for labs")
        return
    if not fencing.enabled:
        yield _problem(fencing, "enabled", "fencing.enabled",
                       FENCING_DISABLED, warning=True)
        return
    if not fencing.devices:
        yield _problem(fencing, "enabled", "fencing.devices",
                       "fencing is enabled but no [[fencing.devices]] are defined")
    names: set[str] = set()
    covered: set[str] = set()
    for device in fencing.devices:
        where = f"fencing.devices.{device.name}"
        if not IDENTIFIER.match(device.name):
            yield _problem(device, "name", f"{where}.name",
                           f"'{device.name}' is not an identifier")
        if device.name in names:
            yield _problem(device, "name", f"{where}.name",
                           f"fence device '{device.name}' is defined twice")
        names.add(device.name)
        if not FENCE_AGENT.match(device.agent):
            yield _problem(device, "agent", f"{where}.agent",
                           f"'{device.agent}' is not a fence agent name (e.g. fence_ipmilan)")
        for key, pairs in (("params", device.params), ("secret_params", device.secret_params)):
            for param, _value in pairs:
                if not PARAMETER.match(param):
                    yield _problem(device, key, f"{where}.{key}",
                                   f"'{param}' is not a parameter name (letters, digits, _, -)")
        if not device.hosts:
            yield _problem(device, "hosts", f"{where}.hosts", "must name the hosts it fences")
        listed: set[str] = set()
        for host in device.hosts:
            if host not in hg.host_names:
                yield _problem(device, "hosts", f"{where}.hosts",
                               f"host '{host}' is not in hostgroup.hosts")
            elif host in listed:
                yield _problem(device, "hosts", f"{where}.hosts", f"host '{host}' is listed twice")
            listed.add(host)
            covered.add(host)
        overlap = {k for k, _ in device.params} & {k for k, _ in device.secret_params}
        for key in sorted(overlap):
            yield _problem(device, "secret_params", f"{where}.secret_params",
                           f"'{key}' is given both in params and secret_params")
    for host in hg.host_names:
        if host not in covered:
            yield _problem(fencing, "devices", "fencing.devices",
                           f"no fence device fences host '{host}'", warning=True)


def _groups(defs: Definitions) -> Iterator[Problem]:
    hg = defs.hostgroup
    group_seen: dict[str, Group] = {}
    vips: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, IpService] = {}
    aliases: dict[str, IpService] = {}
    units: dict[str, SystemdService] = {}
    mounts: list[MountService] = []
    host_ips = _host_addresses(defs)
    for group in defs.groups:
        where = f"groups.{group.name}"
        if not IDENTIFIER.match(group.name):
            yield _problem(group, None, where,
                           f"group name '{group.name}' is not an identifier "
                           "(letter, then letters, digits, _)")
        if group.name in group_seen:
            first = group_seen[group.name]
            yield _problem(group, None, where,
                           f"group '{group.name}' is already defined at "
                           f"{first.origin.file}:{first.origin.line}")
        group_seen[group.name] = group
        listed: set[str] = set()
        for host in group.hosts:
            if host not in hg.host_names:
                yield _problem(group, "hosts", f"{where}.hosts",
                               f"host '{host}' is not in hostgroup.hosts")
            if host in listed:
                yield _problem(group, "hosts", f"{where}.hosts", f"host '{host}' is listed twice")
            listed.add(host)
        # a group without services: load.py says so (`services = []`, no [[services]]);
        # here it would only repeat services that load.py could not read
        names: set[str] = set()
        for service in group.services:
            yield from (problem for problem in _service(service, group, names, vips, aliases,
                                                        units, mounts, defs, host_ips)
                        if problem.key.rpartition(".")[2] not in service.incomplete)
    yield from _mount_overlaps(m for m in mounts
                               if not {"mountpoint", "device"} & m.incomplete)


def _service(service: Service, group: Group, names: set[str],
             vips: dict[IPAddress, IpService], aliases: dict[str, IpService],
             units: dict[str, SystemdService], mounts: list[MountService],
             defs: Definitions, host_ips: dict[IPAddress, Host]) -> Iterator[Problem]:
    """The problems of one service (and it noted where later services are checked
    against it: names, VIPs, aliases, units, mounts)."""
    if not IDENTIFIER.match(service.name):
        yield _problem(service, "name", service_path(service, "name"),
                       f"service name '{service.name}' is not an identifier")
    elif service.name in names:
        yield _problem(service, "name", service_path(service, "name"),
                       f"service '{service.name}' is defined twice in group '{group.name}'")
    names.add(service.name)
    unit = member_unit(group.name, service.name)
    if len(unit) > MAX_UNIT_NAME:
        yield _problem(service, "name", service_path(service, "name"),
                       f"the unit name {unit[:40]}... exceeds {MAX_UNIT_NAME} characters")
    if isinstance(service, IpService):
        yield from _ip(service, vips, aliases, defs, host_ips)
    elif isinstance(service, MountService):
        yield from _mount(service)
        mounts.append(service)
    elif isinstance(service, SystemdService):
        yield from _unit(service, units)
    elif isinstance(service, ExecService):
        yield from _exec(service)
    elif isinstance(service, KitsService):
        for found in kits_problems(group, service):
            yield _problem(service, found.key, service_path(service, found.key), found.message)


def _ip_of(text: str) -> IPAddress | None:
    """text as an IP address (zone dropped, IPv4-mapped IPv6 as IPv4), else None."""
    try:
        address = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _host_addresses(defs: Definitions) -> dict[IPAddress, Host]:
    """The address of every host as far as the definitions say: its `address` (an IP, or
    the name of another host of the group, followed), or its name when that is an IP."""
    by_name = {h.name: h for h in defs.hostgroup.hosts}
    found: dict[IPAddress, Host] = {}
    for host in defs.hostgroup.hosts:
        value = host.address or host.name
        followed = {host.name}
        while value in by_name and value not in followed:
            followed.add(value)
            value = by_name[value].address or value
        for candidate in (value, host.name):
            address = _ip_of(candidate)
            if address is not None:
                found.setdefault(address, host)
    return found


def _ip(service: IpService, vips: dict[IPAddress, IpService], aliases: dict[str, IpService],
        defs: Definitions, host_ips: dict[IPAddress, Host]) -> Iterator[Problem]:
    prefix = service.address.partition("/")[2]
    if "/" not in service.address:
        yield _problem(service, "address", service_path(service, "address"),
                       f"'{service.address}' needs a prefix length, e.g. {service.address}/24")
    elif not prefix.isdigit() or "%" in service.address:
        yield _problem(service, "address", service_path(service, "address"),
                       f"'{service.address}': give the prefix length as a number (no netmask, "
                       "no %zone)")
    else:
        try:
            iface = ipaddress.ip_interface(service.address)
        except ValueError:
            yield _problem(service, "address", service_path(service, "address"),
                           f"'{service.address}' is not an IPv4/IPv6 address with prefix length")
        else:
            address = iface.ip
            network = iface.network
            mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
            if mapped is not None:
                yield _problem(service, "address", service_path(service, "address"),
                               f"'{address}' is an IPv4-mapped IPv6 address: give the IPv4 "
                               f"address {mapped} itself")
            elif address in host_ips:
                host = host_ips[address]
                yield _problem(service, "address", service_path(service, "address"),
                               f"VIP {address} is the address of host {host.name} "
                               f"({host.origin.file}:{host.line_of('address')}): taking it "
                               "down would take the host off the network")
            elif never_a_vip(address):
                yield _problem(service, "address", service_path(service, "address"),
                               f"'{address}' cannot be a virtual IP (multicast, loopback, "
                               "link-local or unspecified)")
            elif network_or_broadcast(iface):
                yield _problem(service, "address", service_path(service, "address"),
                               f"'{address}' is the network or broadcast address of {network}")
            elif address in vips:
                other = vips[address]
                yield _problem(service, "address", service_path(service, "address"),
                               f"VIP {address} is also used by {service_path(other)} "
                               f"({other.origin.file}:{other.line_of('address')})")
            vips.setdefault(address, service)
    if service.interface is not None and not interface_name_ok(service.interface):
        yield _problem(service, "interface", service_path(service, "interface"),
                       f"'{service.interface}' is not a valid interface name "
                       "(at most 15 characters, no '/', ':' or blanks)")
    if service.alias is not None:
        if not ALIAS.match(service.alias):
            yield _problem(service, "alias", service_path(service, "alias"),
                           f"alias '{service.alias}' must be letters, digits, '-' or '_'")
        elif service.alias in aliases:
            other = aliases[service.alias]
            yield _problem(service, "alias", service_path(service, "alias"),
                           f"alias '{service.alias}' is also used by {service_path(other)}")
        elif alias_hostname(service.alias, defs.hostgroup.name) in defs.hostgroup.host_names:
            yield _problem(service, "alias", service_path(service, "alias"),
                           f"alias name '{alias_hostname(service.alias, defs.hostgroup.name)}'"
                           " is a host name")
        aliases.setdefault(service.alias, service)


def _mount(service: MountService) -> Iterator[Problem]:
    mp = service.mountpoint
    if not _valid_mountpoint(mp):
        yield _problem(service, "mountpoint", service_path(service, "mountpoint"),
                       f"'{_shorten(mp)}' must be an absolute, normalised path other than /, "
                       f"without blanks, at most {MAX_PATH_BYTES} bytes")
    if not DEVICE.match(service.device):
        yield _problem(service, "device", service_path(service, "device"),
                       f"'{service.device}' must be a device path, UUID=, LABEL= or host:/path")
    if any(ch.isspace() for ch in service.fstype):
        yield _problem(service, "fstype", service_path(service, "fstype"),
                       f"'{service.fstype}' is not a file system type")
    if service.options is not None and any(ch.isspace() for ch in service.options):
        yield _problem(service, "options", service_path(service, "options"),
                       "mount options must not contain blanks")


def _normal_absolute(mp: str) -> bool:
    return mp.startswith("/") and mp != "/" and posixpath.normpath(mp) == mp


def _valid_mountpoint(mp: str) -> bool:
    # blanks would split the space-separated disk lists of kits members and fstab fields
    return (_normal_absolute(mp) and not any(ch.isspace() for ch in mp)
            and len(mp.encode("utf-8", "surrogateescape")) <= MAX_PATH_BYTES)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _mount_overlaps(mounts: Iterable[MountService]) -> Iterator[Problem]:
    """Same mountpoint twice, a mountpoint inside another group's, a nested mountpoint
    mounted before its parent, the same device twice. A mountpoint's ancestors are looked
    up only at the lengths some mountpoint has (mp[:n] where mp[n] is '/'): never every
    ancestor string cut anew, which is quadratic in the depth (an 800 KB path: minutes)."""
    ordered = list(mounts)
    first_by_path: dict[str, tuple[int, MountService]] = {}
    first_by_device: dict[str, MountService] = {}
    for index, service in enumerate(ordered):
        first_by_path.setdefault(service.mountpoint, (index, service))
    # nesting means something only between absolute, normalised paths
    lengths = sorted({len(mp) for mp in first_by_path if _normal_absolute(mp)})
    for index, service in enumerate(ordered):
        mp = service.mountpoint
        first_index, first = first_by_path[mp]
        if first_index != index:
            yield _problem(service, "mountpoint", service_path(service, "mountpoint"),
                           f"mountpoint {_shorten(mp)} is also used by {service_path(first)}")
            continue
        ancestors = (mp[:n] for n in lengths if n < len(mp) and mp[n] == "/")
        for ancestor in ancestors if _normal_absolute(mp) else ():
            if ancestor not in first_by_path:
                continue
            parent_index, parent = first_by_path[ancestor]
            if parent.group != service.group:
                yield _problem(service, "mountpoint", service_path(service, "mountpoint"),
                               f"{_shorten(mp)} is inside {_shorten(parent.mountpoint)} of "
                               f"another group ({service_path(parent)}): the groups could not "
                               "move apart")
            elif parent_index > index:
                yield _problem(service, "mountpoint", service_path(service, "mountpoint"),
                               f"{_shorten(mp)} is inside {_shorten(parent.mountpoint)}, which "
                               f"is mounted later ({service_path(parent)}): put that one first")
        # a parent that comes later in another group sees this one as its child: report
        # the pair once, on the nested one (above)
        if service.device in first_by_device:
            yield _problem(service, "device", service_path(service, "device"),
                           f"device {_shorten(service.device)} is also mounted by "
                           f"{service_path(first_by_device[service.device])}")
        first_by_device.setdefault(service.device, service)


def _unit(service: SystemdService, units: dict[str, SystemdService]) -> Iterator[Problem]:
    name = service.unit
    if not UNIT_NAME.match(name):
        yield _problem(service, "unit", service_path(service, "unit"),
                       f"'{name}' is not a service unit name (NAME.service)")
    elif name.startswith(UNIT_PREFIX):
        yield _problem(service, "unit", service_path(service, "unit"),
                       f"'{name}': units named s2s-* belong to s2s-sd itself")
    elif name in units:
        yield _problem(service, "unit", service_path(service, "unit"),
                       f"unit {name} is already a member: {service_path(units[name])}")
    units.setdefault(name, service)


def _exec(service: ExecService) -> Iterator[Problem]:
    program = service.command[0]
    if not program.startswith("/"):
        yield _problem(service, "command", service_path(service, "command"),
                       f"the program '{program}' must be an absolute path")
    ready = service.ready
    if ready is not None and ready.command is not None and not ready.command[0].startswith("/"):
        yield _problem(ready, "command", service_path(service, "ready.command"),
                       f"the program '{ready.command[0]}' must be an absolute path")
    if service.user is not None and not USER_NAME.match(service.user):
        yield _problem(service, "user", service_path(service, "user"),
                       f"'{service.user}' is not a valid user name")
