"""`s2s-sd drill`: could every host take every group? Asks every allowed host of every
named group what it would need to start the group there; starts and changes nothing."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from s2s_sd.cli.common import basedir_option, json_option, warn
from s2s_sd.cli.drill_print import show
from s2s_sd.cli.runtime import _admin, _definitions
from s2s_sd.hosts.drill_run import record_drill, run_drill


@click.command()
@basedir_option
@click.argument("groups", nargs=-1, metavar="[GROUP]...")
@click.option("--host", "hosts", multiple=True, metavar="HOST",
              help="Ask only this host (repeatable; default: every allowed host).")
@json_option
@click.option("--problems", is_flag=True, help="List only the WARN and FAIL findings.")
def drill(basedir: Path, groups: tuple[str, ...], hosts: tuple[str, ...], as_json: bool,
          problems: bool) -> None:
    """Fire drill: could every allowed host start every GROUP (default: all)?

    Each host checks what it would need (generation, versions, devices, mountpoints,
    fstab, interfaces, VIP answers, scripts, programs, units, hooks, kits, the cluster
    node), in parallel, starting and changing nothing. Prints a host x group table of
    OK / WARN / FAIL and every finding with its reason; exit 1 when anything fails."""
    with _admin(basedir, _definitions(basedir)) as admin:
        report = run_drill(admin.transport, admin.defs, basedir, admin.host, groups, hosts)
    show(report, as_json, show_ok=not problems)
    try:  # for `status`: how long ago each group was drilled, with which result
        record_drill(report, time.time())
    except OSError as exc:
        warn(f"the drill was not recorded: {exc}")
    if report.failed:
        sys.exit(1)
