"""Commands of the Pacemaker engine alone: `maintenance`, `cleanup`, `migrate`, and the
cluster admin `apply pacemaker` uses against the running cluster (cli/pacemaker.py). Its
`move`, `start`, `stop` and `status` go through the Engine protocol (cli/runtime.py,
engines/pacemaker/engine.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from s2s_sd.cli.common import basedir_option, echo_warnings, load_checked, local_host, warn
from s2s_sd.engines.engine import require_member
from s2s_sd.engines.pacemaker.migrate import migrate_to_pacemaker, migrate_to_systemd
from s2s_sd.engines.pacemaker.runtime import ClusterAdmin
from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions, Engine
from s2s_sd.render.pacemaker import PacemakerSettings


def _progress(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


def cluster_admin(basedir: Path, definitions: Definitions | None = None,
                  settings: PacemakerSettings | None = None) -> ClusterAdmin:
    host = local_host()
    if definitions is None:
        definitions, warnings = load_checked(basedir, host)
        echo_warnings(warnings)
    require_member(definitions, host)
    return ClusterAdmin(definitions, basedir, host, progress=_progress, settings=settings)


def echo_admin_warnings(admin: ClusterAdmin) -> None:
    for text in admin.warnings:
        warn(text)


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
            lines = migrate_to_pacemaker(admin, dry_run=dry_run)
        else:
            lines = migrate_to_systemd(admin, dry_run=dry_run)
        echo_admin_warnings(admin)
    if dry_run:
        click.echo(f"migrate --to {engine}: plan (the state is clean; nothing changed)")
        for number, line in enumerate(lines, start=1):
            click.echo(f"  {number:2d}. {line}")
        return
    click.echo(f"host group {definitions.hostgroup.name} now runs on the {engine} engine:")
    for line in lines:
        click.echo(f"  {line}")


__all__ = ["cleanup", "freeze", "maintenance", "migrate"]
