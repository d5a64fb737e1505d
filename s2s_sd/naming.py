"""Every name s2s-sd generates, in one place (pure): the systemd units of a group, the
Pacemaker ids of its resources and constraints, the host name of a VIP alias and the
label suffix of a VIP. The renderers, the validator (which checks their lengths and
clashes), the runtime and the agents all ask here, so a name never drifts between the
unit file and the code that starts, stops or observes it."""

from __future__ import annotations

from s2s_sd.model import Group, SystemdService

UNIT_PREFIX = "s2s-"  # of every unit s2s-sd generates; the administrator's units may not use it
CONSTRAINT_PREFIX = "s2s-sd-"  # id prefix of every constraint s2s-sd owns
CLI_PREFIX = "cli-"  # the prefix crm_resource --move/--ban give their constraints
PREFER_PREFIX = f"{CLI_PREFIX}prefer-"  # crm_resource --move's (and s2s-sd move's)
BAN_PREFIX = f"{CLI_PREFIX}ban-"  # crm_resource --ban's


# -- systemd units ------------------------------------------------------------------------

def target_name(group: str) -> str:
    return f"{UNIT_PREFIX}{group}.target"


def member_unit(group: str, service: str) -> str:
    """The unit of a member (the systemd generator writes it for an exec member)."""
    return f"{UNIT_PREFIX}{group}-{service}.service"


GUARD_PREFIX = f"{UNIT_PREFIX}guard@"
GUARD_TEMPLATE = f"{GUARD_PREFIX}.service"  # the guard's template unit, one instance per group


WATCH_UNIT = f"{UNIT_PREFIX}watch.service"  # each host's watcher (hosts/watch.py)
AGENT_UNIT = f"{UNIT_PREFIX}agent.service"  # each host's warm agent (cli/agent_server.py)


def guard_unit(group: str) -> str:
    return f"{GUARD_PREFIX}{group}.service"


def group_units(group: Group) -> list[str]:
    """Every unit of a group, target first: stopping them together stops it all, in the
    reverse of the start order (systemd orders the stop jobs by After=)."""
    units = [target_name(group.name)]
    for service in group.services:
        units.append(member_unit(group.name, service.name))
        if isinstance(service, SystemdService):
            units.append(service.unit)
    units.append(guard_unit(group.name))
    return units


def dropin_path(service: SystemdService) -> str:
    """The drop-in that binds an existing unit (a systemd member) to its group."""
    return f"{service.unit}.d/{UNIT_PREFIX}{service.group}.conf"


# -- Pacemaker ids ------------------------------------------------------------------------

def primitive_id(group: str, service: str) -> str:
    """A member's primitive (and the instance name of a kits member's record)."""
    return f"{group}_{service}"


HOOKS_MEMBER = "hooks"  # the hook member's id is GROUP_hooks


def hooks_id(group: str) -> str:
    """The id of a group's hook member (present when the group has hooks)."""
    return primitive_id(group, HOOKS_MEMBER)


def location_id(rsc: str, what: str) -> str:
    return f"{CONSTRAINT_PREFIX}location-{rsc}-{what}"


def managed_tag_id(hostgroup: str) -> str:
    """The tag holding every top-level resource s2s-sd owns for the host group."""
    return f"{CONSTRAINT_PREFIX}{hostgroup}"


def managed_alert_id(hostgroup: str) -> str:
    """The alert that runs the host group's notify hook (the Pacemaker engine)."""
    return f"{CONSTRAINT_PREFIX}{hostgroup}-notify"


def prefer_id(group: str) -> str:
    """The id crm_resource --move gives its constraint: operators' tools know it."""
    return f"{PREFER_PREFIX}{group}"


# -- VIPs ---------------------------------------------------------------------------------

def alias_hostname(alias: str, hostgroup: str) -> str:
    """The s2s convention: alias `oracle` of host group `c07` is the host name `oracle_c07`."""
    return f"{alias}_{hostgroup}"


def vip_label_suffix(group: str, service: str, vips_in_group: int) -> str:
    """The IPv4 label suffix (IFNAME:SUFFIX) of a group's VIP: one VIP in a group gets the
    group's name, the most readable label; several say which."""
    return group if vips_in_group == 1 else f"{group}_{service}"
