"""host add | remove: the host list of s2s.toml, edited in place, then synced."""

from __future__ import annotations

import ipaddress
from functools import partial
from pathlib import Path

import click

from s2s_sd.cli.changes import Change
from s2s_sd.cli.common import basedir_option, echo_warnings, load_checked, local_host
from s2s_sd.cli.runtime import sync_all
from s2s_sd.edit import add_table, add_to_list, remove_from_list, remove_table
from s2s_sd.engines.in_process import open_session
from s2s_sd.errors import BadInput, OperationFailed, Refused, S2SError
from s2s_sd.hosts import enroll
from s2s_sd.load_files import MAIN_FILE
from s2s_sd.model import Definitions, Engine
from s2s_sd.plan import assigned_host
from s2s_sd.validate import HOSTNAME

HOSTGROUP = ("hostgroup",)
no_sync_option = click.option(
    "--no-sync", is_flag=True, help="Change s2s.toml only; run `s2s-sd sync` later.")


@click.group()
def host() -> None:
    """Add hosts to the host group or remove them."""


def _host_name(value: str, what: str) -> str:
    if not HOSTNAME.match(value) or len(value) > 253:
        raise BadInput(f"{what} {value!r}: not a host name (RFC 1123: letters, digits, -, .)")
    return value


def _sync(basedir: Path, definitions: Definitions) -> None:
    """Sync the changed base dir; a failure says that s2s.toml is changed already."""
    try:
        sync_all(basedir, definitions)
    except S2SError:
        click.echo(f"{MAIN_FILE} is changed; the sync failed: fix the cause, then "
                   "s2s-sd sync", err=True)
        raise


@host.command("add")
@basedir_option
@click.argument("name")
@click.option("--address", default=None, metavar="A",
              help="IP address or DNS name to reach it by (default: NAME).")
@no_sync_option
def host_add(basedir: Path, name: str, address: str | None, no_sync: bool) -> None:
    """Add host NAME: reach it over ssh as s2s-sd will (BatchMode, strict host key
    checking), show and record the host key that was verified, check that s2s-sd answers
    there, add it to s2s.toml and sync. An unknown or changed host key is refused (exit 3)."""
    _host_name(name, "host name")
    if address is not None:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            _host_name(address, "--address")
    definitions, warnings = load_checked(basedir, None)
    echo_warnings(warnings)
    if name in definitions.hostgroup.host_names:
        raise BadInput(f"host {name} is in host group {definitions.hostgroup.name} already")
    change = Change(basedir)
    # the edit is tried before the host is contacted: a layout we cannot edit fails first
    change.edit(MAIN_FILE, lambda text: add_to_list(text, HOSTGROUP, "hosts", name))
    target = address or name
    click.echo(f"{name}: ssh root@{target} (BatchMode, strict host key checking)")
    probe = enroll.probe(target)
    if probe.host_key:
        click.echo(f"{name}: host key {probe.host_key}"
                   + (f" (known_hosts entry {probe.known_hosts})" if probe.known_hosts else ""))
    if probe.outcome is enroll.Outcome.UNREACHABLE:
        raise OperationFailed(f"{name}: unreachable at {target}: {probe.detail}; "
                              f"{enroll.fix_for(probe, name)}; nothing was changed")
    if probe.outcome is not enroll.Outcome.VERIFIED or probe.host_key is None:
        fix = enroll.fix_for(probe, name, enroll.known_hosts_file(target))
        raise Refused(f"{name}: {probe.outcome.value} ({probe.detail}): {fix}; "
                      "nothing was changed")
    click.echo(f"{name}: s2s-sd {probe.version} answers at {probe.program}")
    values = [("address", address)] if address and address != name else []
    values.append(("host_key", probe.host_key))
    change.edit(MAIN_FILE, lambda text: add_table(
        text, ("hosts", name), values, after=[("hosts",), HOSTGROUP]))
    new_definitions = change.validate()
    assert new_definitions is not None  # nothing tolerated: a problem raised
    change.write()
    click.echo(f"{MAIN_FILE}: {name} added to hostgroup.hosts, [hosts.{name}] records "
               "its host key")
    if definitions.hostgroup.engine is Engine.PACEMAKER:
        click.echo(f"note: the pacemaker engine runs groups only on cluster nodes: {name} "
                   "must join the corosync cluster too (e.g. pcs cluster node add)")
    if no_sync:
        click.echo("next: s2s-sd sync")
        return
    _sync(basedir, new_definitions)
    open_groups = [g.name for g in new_definitions.groups if name in g.hosts]
    click.echo(f"next: groups that may run on {name}: {', '.join(open_groups) or 'none'}; "
               f"add it to a group's hosts list to use it there, then s2s-sd check && "
               f"s2s-sd sync; s2s-sd status")


def _groups_on(definitions: Definitions, basedir: Path, name: str) -> list[str]:
    """Groups assigned to (systemd engine) or running on (pacemaker engine) host name."""
    names = [g.name for g in definitions.groups]
    if definitions.hostgroup.engine is Engine.PACEMAKER:
        from s2s_sd.engines.pacemaker.crm_mon import Placement
        from s2s_sd.engines.pacemaker.runtime import ClusterAdmin

        with ClusterAdmin(definitions, basedir, local_host()) as cluster:
            where = Placement.of(cluster.cluster(), names).where
        return [g for g in names if where.get(g) in (name, "?")]
    with open_session(definitions, basedir, local_host()) as session:
        view = session.view()
        return [g.name for g in definitions.groups
                if assigned_host(g, view.assignments) == name]


@host.command("remove")
@basedir_option
@click.argument("name")
@no_sync_option
def host_remove(basedir: Path, name: str, no_sync: bool) -> None:
    """Remove host NAME from s2s.toml and from every group's hosts list, then sync.
    Refused (exit 3) while a group is assigned to it or could run nowhere else."""
    definitions, warnings = load_checked(basedir, None)
    echo_warnings(warnings)
    hostgroup = definitions.hostgroup
    if name not in hostgroup.host_names:
        raise BadInput(f"host {name} is not in host group {hostgroup.name} "
                       f"({', '.join(hostgroup.host_names)})")
    if name == local_host():
        raise Refused(f"{name} is this host, the one administering the host group: run "
                      "`s2s-sd host remove` from another host of the group")
    only_there = [g.name for g in definitions.groups if tuple(g.hosts) == (name,)]
    if only_there:
        raise Refused(f"group(s) {', '.join(only_there)} can run only on {name}: give them "
                      "another host first; nothing was changed")
    assigned = _groups_on(definitions, basedir, name)
    if assigned:
        raise Refused(f"group(s) {', '.join(assigned)} assigned to {name}: move them first "
                      f"(s2s-sd move GROUP --to HOST); nothing was changed")
    change = Change(basedir)
    change.edit(MAIN_FILE, lambda text: remove_from_list(text, HOSTGROUP, "hosts", name))
    change.edit(MAIN_FILE, partial(remove_table, table=("hosts", name), missing_ok=True))
    listed = [g for g in definitions.groups if "hosts" in g.key_lines and name in g.hosts]
    for group in listed:
        table = ("groups", group.name) if group.origin.file == MAIN_FILE else ()
        change.edit(group.origin.file,
                    partial(remove_from_list, table=table, key="hosts", item=name))
    new_definitions = change.validate()
    assert new_definitions is not None
    changed = change.write()
    click.echo(f"{', '.join(changed)}: {name} removed from hostgroup.hosts"
               + (f" and from the hosts of group(s) {', '.join(g.name for g in listed)}"
                  if listed else ""))
    if no_sync:
        click.echo(f"next: s2s-sd sync; {name} keeps its copy of the base dir and its units "
                   "until s2s-sd is removed there")
        return
    _sync(basedir, new_definitions)
    click.echo(f"next: {name} keeps its last generation and units, and is no longer asked; "
               "remove s2s-sd there (its package, or the s2s-* units) when it leaves for good")
