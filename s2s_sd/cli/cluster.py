"""Commands of the Pacemaker engine: `maintenance`, `cleanup`, `migrate`, and the
Pacemaker side of `move`, `start`, `stop`, `status` and `apply pacemaker` (runtime.py and
pacemaker.py hand over to these when the host group's engine is "pacemaker")."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from s2s_sd.cli.common import basedir_option, echo_warnings, load_checked, local_host, warn
from s2s_sd.errors import BadInput
from s2s_sd.hosts.cluster import DEFAULT_MOVE_TIMEOUT, ClusterAdmin, parse_lifetime
from s2s_sd.model import Definitions, Engine
from s2s_sd.render.pacemaker import PacemakerSettings
from s2s_sd.status import StatusReport


def _progress(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


def cluster_admin(basedir: Path, definitions: Definitions | None = None,
                  settings: PacemakerSettings | None = None) -> ClusterAdmin:
    host = local_host()
    if definitions is None:
        definitions, warnings = load_checked(basedir, host)
        echo_warnings(warnings)
    if host not in definitions.hostgroup.host_names:
        raise BadInput(f"this host ({host}) is not in host group {definitions.hostgroup.name}")
    return ClusterAdmin(definitions, basedir, host, progress=_progress, settings=settings)


def _warnings(admin: ClusterAdmin) -> None:
    for text in admin.warnings:
        warn(text)


# -- move / start / stop / status (called by runtime.py) ----------------------------------

def move(definitions: Definitions, basedir: Path, group: str, to: str, dry_run: bool,
         timeout: float | None, lifetime: str | None, keep_constraint: bool) -> None:
    life = parse_lifetime(lifetime) if lifetime else None
    with cluster_admin(basedir, definitions) as admin:
        steps = admin.move(group, to, timeout=timeout or DEFAULT_MOVE_TIMEOUT, lifetime=life,
                           keep_constraint=keep_constraint, dry_run=dry_run)
        _warnings(admin)
    if dry_run:
        click.echo(f"move {group} --to {to}: plan (nothing changed)")
        for number, step in enumerate(steps, start=1):
            click.echo(f"  {number:2d}. {step}")


def start(definitions: Definitions, basedir: Path, group: str, timeout: float | None) -> None:
    with cluster_admin(basedir, definitions) as admin:
        host = admin.start(group, timeout=timeout or DEFAULT_MOVE_TIMEOUT)
    click.echo(f"{group} runs on {host}")


def stop(definitions: Definitions, basedir: Path, group: str, timeout: float | None) -> None:
    with cluster_admin(basedir, definitions) as admin:
        stopped = admin.stop(group, timeout=timeout or DEFAULT_MOVE_TIMEOUT)
    click.echo(f"{group} stopped" + (f" on {', '.join(stopped)}" if stopped else
                                     " (it was not active anywhere)"))


def status_report(definitions: Definitions, basedir: Path) -> StatusReport:
    with cluster_admin(basedir, definitions) as admin:
        report = admin.status()
        _warnings(admin)
    return report


def apply_live(definitions: Definitions, basedir: Path,
               settings: PacemakerSettings) -> None:
    """`s2s-sd apply pacemaker` against the running cluster."""
    with cluster_admin(basedir, definitions, settings) as admin:
        report = admin.apply_live()
        _warnings(admin)
    from s2s_sd.cli.pacemaker import print_apply_result

    if not print_apply_result(report["result"]):
        return
    for line in report["changes"]:
        click.echo(f"  {line}")
    if not report["changes"]:
        click.echo("  no group started, stopped or moved")
    if not report["settled"]:
        click.echo("s2s-sd: the cluster did not settle in time: see `s2s-sd status`",
                   err=True)
        sys.exit(1)


# -- commands of their own ----------------------------------------------------------------

def _pacemaker_only(definitions: Definitions, command: str) -> None:
    if definitions.hostgroup.engine is not Engine.PACEMAKER:
        raise BadInput(f"`s2s-sd {command}`: host group {definitions.hostgroup.name} uses the "
                       f"{definitions.hostgroup.engine} engine (Pacemaker only)")


@click.command()
@basedir_option
@click.argument("switch", type=click.Choice(["on", "off"]))
def maintenance(basedir: Path, switch: str) -> None:
    """Cluster maintenance mode on or off (pacemaker engine).

    On: the cluster starts, stops, moves and monitors nothing; work on the services by
    hand. Off: the cluster probes everything again and takes over; waits until it
    settled and shows where the groups run."""
    definitions, warnings = load_checked(basedir, local_host())
    echo_warnings(warnings)
    _pacemaker_only(definitions, "maintenance")
    with cluster_admin(basedir, definitions) as admin:
        for line in admin.maintenance(switch == "on"):
            click.echo(line)


def cleanup(definitions: Definitions, basedir: Path, group: str) -> None:
    """Clear GROUP's failed actions and fail counts, and remove the `cli-` constraints a
    move left behind (runtime.py's `cleanup` hands over with the pacemaker engine)."""
    with cluster_admin(basedir, definitions) as admin:
        for line in admin.cleanup(group):
            click.echo(line)


def freeze(definitions: Definitions, basedir: Path, group: str, frozen: bool) -> None:
    with cluster_admin(basedir, definitions) as admin:
        for line in admin.freeze(group, frozen):
            click.echo(line)


@click.command()
@basedir_option
@click.option("--to", "engine", required=True, type=click.Choice(["pacemaker", "systemd"]),
              help="The engine to hand the host group to.")
@click.option("--dry-run", is_flag=True, help="Check and print the steps; change nothing.")
def migrate(basedir: Path, engine: str, dry_run: bool) -> None:
    """Hand a running host group to the other engine without stopping any group.

    --to pacemaker: a host group run by the systemd engine is adopted by the
    corosync/Pacemaker cluster its hosts form; --to systemd: the reverse. Refused (exit 3)
    when the current state is not clean: a group partly up, active twice, or failed."""
    definitions, warnings = load_checked(basedir, local_host())
    echo_warnings(warnings)
    with cluster_admin(basedir, definitions) as admin:
        if engine == "pacemaker":
            lines = admin.migrate_to_pacemaker(dry_run=dry_run)
        else:
            lines = admin.migrate_to_systemd(dry_run=dry_run)
        _warnings(admin)
    if dry_run:
        click.echo(f"migrate --to {engine}: plan (the state is clean; nothing changed)")
        for number, line in enumerate(lines, start=1):
            click.echo(f"  {number:2d}. {line}")
        return
    click.echo(f"host group {definitions.hostgroup.name} now runs on the {engine} engine:")
    for line in lines:
        click.echo(f"  {line}")


__all__ = ["cleanup", "freeze", "maintenance", "migrate"]
