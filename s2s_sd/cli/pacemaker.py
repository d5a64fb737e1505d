"""`s2s-sd generate pacemaker` and `s2s-sd apply pacemaker`."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import click

from s2s_sd.cli.cluster import cluster_admin, echo_admin_warnings
from s2s_sd.cli.common import (
    basedir_option,
    echo_warnings,
    host_option,
    load_checked,
    require_named_host,
    warn,
)
from s2s_sd.engines.pacemaker import apply_live as live
from s2s_sd.engines.pacemaker import cib as engine
from s2s_sd.engines.pacemaker import cib_tools
from s2s_sd.errors import Problem, Refused
from s2s_sd.model import Definitions, Engine
from s2s_sd.render.pacemaker import (
    AGENT_FILE,
    CIB_FILE,
    HOOK_AGENT_FILE,
    VALIDATE_WITH,
    PacemakerSettings,
    render_pacemaker,
    secret_refs,
    warnings,
)
from s2s_sd.writer import write_output_dir

target_basedir_option = click.option(
    "--target-basedir", default=None, metavar="DIR",
    help="Base dir path on the hosts, written into the resource parameters (default: "
         "--basedir, absolute; sync keeps the same path on every host).")


def _settings(basedir: Path, target_basedir: str | None) -> PacemakerSettings:
    return PacemakerSettings(basedir=target_basedir or str(basedir.absolute()))


def _echo_all_warnings(definitions: Definitions, problems: list[Problem]) -> None:
    """Validation warnings, then what the Pacemaker configuration itself must say
    (the fencing warning only once, even when validation gave it already)."""
    echo_warnings(problems)
    fencing_reported = any(p.warning and p.key == "fencing.enabled" for p in problems)
    for message in warnings(definitions):
        if fencing_reported and message.startswith("fencing is disabled"):
            continue
        warn(message)


@click.command("pacemaker")
@basedir_option
@host_option
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output directory; replaced as a whole, atomically.")
@target_basedir_option
@click.option("--validate-with", "schema", default=None, metavar="SCHEMA",
              help="The CIB's schema, e.g. pacemaker-3.9 (default: the newest the "
                   f"installed Pacemaker knows, as pcs writes it; {VALIDATE_WITH} without "
                   "Pacemaker).")
def generate_pacemaker(basedir: Path, host: str | None, out: Path,
                       target_basedir: str | None, schema: str | None) -> None:
    """Write OUT/cib.xml (a complete CIB) and the OCF agents OUT/ocf/s2s/ (script, hook,
    kits, unit)."""
    definitions, problems = load_checked(basedir, host)
    require_named_host(definitions, host)
    _echo_all_warnings(definitions, problems)
    schema = cib_tools.check_schema(schema) if schema else cib_tools.installed_schema()
    settings = replace(_settings(basedir, target_basedir),
                       validate_with=schema or VALIDATE_WITH)
    files = render_pacemaker(definitions, settings)
    write_output_dir(out, files, executable=lambda relpath: relpath.startswith("ocf/"))
    secrets = secret_refs(definitions)
    if secrets:
        names = ", ".join(f"{device}.{param}" for device, param, _ in secrets)
        click.echo(f"s2s-sd: note: secret parameters ({names}) are not written to {CIB_FILE}; "
                   "`s2s-sd apply pacemaker` reads them from their files", err=True)
    if definitions.hostgroup.engine is not Engine.PACEMAKER:
        click.echo(f"s2s-sd: note: host group {definitions.hostgroup.name} uses the "
                   f"{definitions.hostgroup.engine} engine; this is what a Pacemaker cluster "
                   "would run", err=True)
    click.echo(f"{out}: {CIB_FILE} ({len(definitions.groups)} groups), {AGENT_FILE}, "
               f"{HOOK_AGENT_FILE}")


@click.command("pacemaker")
@basedir_option
@host_option
@click.option("--cib-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Work on this CIB file instead of the live cluster (like CIB_file=F).")
@click.option("--dry-run", is_flag=True, help="Show the difference and check it; push nothing.")
@target_basedir_option
def apply_pacemaker(basedir: Path, host: str | None, cib_file: Path | None, dry_run: bool,
                    target_basedir: str | None) -> None:
    """Make the cluster's s2s-sd part match the definitions, as one patch.

    Reads the CIB (cibadmin --query, or the file), shows the difference, checks the
    merged CIB with crm_verify (an invalid one is refused) and pushes one patch. What
    s2s-sd did not create stays exactly as it is. Against the running cluster it first
    installs the units and OCF agents on every host (from the synced base dir) and
    afterwards waits for the cluster to settle and reports what started or moved."""
    definitions, problems = load_checked(basedir, host)
    require_named_host(definitions, host)
    if definitions.hostgroup.engine is not Engine.PACEMAKER:
        raise Refused(f"host group {definitions.hostgroup.name} uses the "
                      f"{definitions.hostgroup.engine} engine: set engine = \"pacemaker\" in "
                      "[hostgroup] first (both engines must never run the same groups)")
    _echo_all_warnings(definitions, problems)
    if cib_file is None and not os.environ.get(cib_tools.CIB_FILE_ENV) and not dry_run:
        # the running cluster: units and agents on every host first, then the CIB, then
        # wait for the cluster to settle and say what it did
        apply_live(definitions, basedir, _settings(basedir, target_basedir))
        return
    print_apply_result(engine.apply(definitions, basedir, _settings(basedir, target_basedir),
                                    cib_file=cib_file, dry_run=dry_run))


def apply_live(definitions: Definitions, basedir: Path,
               settings: PacemakerSettings) -> None:
    """`s2s-sd apply pacemaker` against the running cluster."""
    with cluster_admin(basedir, definitions, settings) as admin:
        report = live.apply_live(admin)
        echo_admin_warnings(admin)
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


def print_apply_result(result: engine.ApplyResult) -> bool:
    """Warnings, the masked diff, the changes and the outcome of an apply; True when
    something was (or, dry run, would be) pushed."""
    for message in result.warnings:
        warn(message)
    if result.diff:
        click.echo(result.diff, nl=False)
    for change in result.changes:
        click.echo(f"  {change}")
    if not result.changes:
        click.echo(f"{result.target}: s2s-sd part matches the definitions; nothing to push")
        return False
    if result.dry_run:
        click.echo(f"{result.target}: dry run: {len(result.changes)} change(s) would be pushed "
                   "as one patch (crm_verify accepts the result); nothing was changed")
    else:
        click.echo(f"{result.target}: pushed {len(result.changes)} change(s) as one patch")
    return True


COMMANDS_GENERATE = [generate_pacemaker]
COMMANDS_APPLY = [apply_pacemaker]
