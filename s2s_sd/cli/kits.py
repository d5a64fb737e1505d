"""Service kits: `kits` (run by the kits members' units and ocf:s2s:kits), `where`,
`relocate` and `link`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from s2s_sd.cli import JSON_SCHEMA_VERSION
from s2s_sd.cli.common import basedir_option, json_option, local_host
from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.kits.layout import DEFAULT_KIT_TIMEOUT, Layout, kit_timeout, kits_disks
from s2s_sd.kits.relocate import add_holders, add_local_holders, link_elsewhere, plan_across
from s2s_sd.kits.relocate import relocate as relocate_across
from s2s_sd.kits.runner import OCF_ERR_ARGS, KitRunner
from s2s_sd.kits.tree import (
    LOCAL_DISKS_ENV,
    SERVICE_ROOT_ENV,
    layout_from_env,
    link_path,
    local_where,
    purge_old_copies,
    unlink_path,
)
from s2s_sd.load import load_definitions
from s2s_sd.load_files import MAIN_FILE
from s2s_sd.model import Definitions, KitsService
from s2s_sd.naming import primitive_id


def _log(prefix: str) -> Callable[[str], None]:
    def log(text: str) -> None:
        click.echo(f"{prefix}: {text}", err=True)
    return log


def _optional_defs(basedir: Path) -> Definitions | None:
    """The definitions when this host has a base dir; a standalone host has none."""
    if not (basedir / MAIN_FILE).exists():
        return None
    return load_definitions(basedir, local_host())


def layout_options(func: Any) -> Any:
    func = click.option("--service-root", default=None, metavar="DIR", envvar=SERVICE_ROOT_ENV,
                        help="Where the /service/NN/NAME links are (default /service).")(func)
    func = click.option("--local-disks", default=None, metavar="DIR", envvar=LOCAL_DISKS_ENV,
                        help="Where the local disks NN are (default /disk/local).")(func)
    return func


def _layout(service_root: str | None, local_disks: str | None) -> Layout:
    return layout_from_env(service_root, local_disks)


# -- kits --------------------------------------------------------------------------------

@click.command()
@basedir_option
@click.argument("action", type=click.Choice(["start", "stop", "monitor", "status", "check"]))
@click.argument("disks", nargs=-1)
@click.option("--group", "group", default=None, metavar="GROUP",
              help="Use the disks of GROUP's kits member (instead of DISKS).")
@click.option("--instance", default=None, help="Resource name, for the log and the record.")
@click.option("--timeout", type=click.IntRange(min=1), default=None,
              help=f"Seconds per kit script (default {DEFAULT_KIT_TIMEOUT}).")
@click.option("--probe", is_flag=True, help="monitor: a probe (nothing started here yet).")
@json_option
def kits(basedir: Path, action: str, disks: tuple[str, ...], group: str | None,
         instance: str | None, timeout: int | None, probe: bool, as_json: bool) -> None:
    """Start, stop, monitor or check the service kits on DISKS (DISK/NAME/sbin/start|stop|
    state). Exit codes are OCF's (0 ok, 1 failed, 6 a kit is broken, 7 not running):
    ocf:s2s:kits and the kits members' units run this."""
    if group is not None:
        defs = load_definitions(basedir, local_host())
        found = defs.group(group)
        members = [s for s in (found.services if found else ()) if isinstance(s, KitsService)]
        if found is None or not members:
            raise BadInput(f"group '{group}' has no kits member")
        disks = tuple(d.mountpoint for m in members for d in kits_disks(found, m))
        instance = instance or primitive_id(group, members[0].name)
        timeout = timeout or kit_timeout(members[0])
    if not disks or any(not d.startswith("/") for d in disks):
        click.echo("s2s-sd kits: give the disks as absolute paths (or --group)", err=True)
        sys.exit(OCF_ERR_ARGS)
    name = instance or "kits"
    runner = KitRunner(disks, name, timeout or DEFAULT_KIT_TIMEOUT, log=_log(f"s2s kits {name}"))
    if action == "status":
        states = runner.states()
        if as_json:
            click.echo(json.dumps({"schema_version": JSON_SCHEMA_VERSION,
                                   "kits": [s.as_dict() for s in states]}, indent=2))
        else:
            for state in states:
                mark = " (started here)" if state.started_here else ""
                click.echo(f"{state.kit.name:20} {state.label}{mark}  {state.kit.path}")
                for line in state.output.splitlines()[:5]:
                    click.echo(f"{'':20}   {line}")
            if not states:
                click.echo("no kits on " + ", ".join(disks))
        sys.exit(runner.monitor(probe=True))
    if action == "start":
        sys.exit(runner.start())
    if action == "stop":
        sys.exit(runner.stop())
    if action == "check":
        sys.exit(runner.check())
    sys.exit(runner.monitor(probe))


# -- where -------------------------------------------------------------------------------

def _yes(value: Any) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def _print_where(host: str, entries: list[dict[str, Any]], service_root: str) -> None:
    if not entries:
        click.echo(f"no services on {host} (nothing under {service_root}/NN/)")
    for entry in entries:
        holder = entry.get("holder") or {}
        if entry["local"]:
            held = f"local disk of {host}"
        else:
            parts = []
            for group, hosts in (holder.get("groups") or {}).items():
                if hosts is None:
                    parts.append(f"group {group}")
                else:
                    parts.append(f"group {group} on {', '.join(hosts) or 'no host (stopped)'}")
            held = "; ".join(parts) or "no known disk"
        running = entry["running"]
        if not entry["available"] and entry.get("running_on"):
            running = any(entry["running_on"].values())
            where = ", ".join(h for h, r in entry["running_on"].items() if r)
            run_text = f"{_yes(running)}" + (f" (on {where})" if where else "")
        else:
            run_text = _yes(running) + (f" (sbin/state exit {entry['state']})"
                                        if entry["state"] is not None else "")
        click.echo(f"{entry['name']}: configured here: {_yes(entry['configured'])}, "
                   f"available here: {_yes(entry['available'])}, running: {run_text}, "
                   f"held by: {held}")
        for link in entry["links"]:
            click.echo(f"  {link['link']} -> {link['target'] or '(not a symlink)'}"
                       + ("" if link["available"] else "  [not available here]"))
    if holder_unreachable := sorted({h for e in entries
                                     for h in (e.get("holder") or {}).get("unreachable", [])}):
        click.echo(f"UNREACHABLE: {', '.join(holder_unreachable)} (what runs there is unknown)")


@click.command()
@basedir_option
@layout_options
@click.argument("name", required=False)
@json_option
def where(basedir: Path, local_disks: str | None, service_root: str | None,
          name: str | None, as_json: bool) -> None:
    """Where logical services are: per /service/NN/NAME, whether it is configured here
    (the link points into a disk), available here (the disk is mounted here), running
    (its sbin/state), and which group on which host holds it."""
    layout = _layout(service_root, local_disks)
    defs = _optional_defs(basedir)
    entries = local_where(layout, defs, name)
    if name is not None and not entries:
        raise BadInput(f"no service '{name}' on this host (no "
                       f"{os.path.join(layout.service_root, 'NN', name)})")
    if defs is not None:
        add_holders(defs, basedir, local_host(), entries)
    else:
        add_local_holders(local_host(), entries)
    if as_json:
        click.echo(json.dumps({"schema_version": JSON_SCHEMA_VERSION, "host": local_host(),
                               "services": entries}, indent=2, sort_keys=True))
    else:
        _print_where(local_host(), entries, layout.service_root)


# -- relocate ------------------------------------------------------------------------------

@click.command()
@basedir_option
@layout_options
@click.argument("name")
@click.option("--to", "to", default=None, metavar="GROUP|local",
              help="The group whose disks get the service, or `local`.")
@click.option("--dry-run", is_flag=True, help="Print the steps; change nothing.")
@click.option("--purge", is_flag=True,
              help="Delete the old copy (with --to: right after the move; alone: the copies "
                   "kept by earlier relocations).")
def relocate(basedir: Path, local_disks: str | None, service_root: str | None, name: str,
             to: str | None, dry_run: bool, purge: bool) -> None:
    """Move service NAME (every /service/NN/NAME) to GROUP's disks or the local disks:
    copy (owners, modes, links, xattrs), verify, switch the links atomically on every
    host concerned, keep the old copy until --purge. Refused (exit 3) while NAME runs."""
    layout = _layout(service_root, local_disks)
    defs = _optional_defs(basedir)
    if to is None:
        if not purge:
            raise BadInput("give --to GROUP|local, or --purge to delete kept old copies")
        if dry_run:
            raise BadInput("--dry-run needs --to")
        removed = purge_old_copies(layout, defs, name)
        for path in removed:
            click.echo(f"deleted {path}")
        click.echo(f"{name}: {len(removed)} old copies deleted")
        return
    host = local_host()
    if dry_run:
        relocation = plan_across(layout, defs, host, name, to)
        click.echo(f"relocate {name} --to {to}: plan (nothing changed)")
        for number, step in enumerate(relocation.steps(purge), start=1):
            click.echo(f"  {number:2d}. {step}")
        return
    relocation, changes = relocate_across(layout, defs, basedir, host, name, to, purge,
                                          log=lambda t: click.echo(t),
                                          progress=_log(f"relocate {name}"))
    _report(relocation, changes.done, changes.failed)


def _report(relocation: Any, done: dict[str, list[str]], failed: dict[str, str]) -> None:
    for host, changes in sorted(done.items()):
        for change in changes:
            click.echo(f"{host}: {change}")
    for target, digest in sorted(relocation.digests.items()):
        click.echo(f"verified {target}: manifest sha256 {digest}")
    click.echo(f"{relocation.name} relocated to {relocation.to}"
               + (f"; old copies kept: {', '.join(relocation.old_copies)} "
                  f"(`s2s-sd relocate {relocation.name} --purge` deletes them)"
                  if relocation.old_copies else ""))
    if failed:
        for host, error in sorted(failed.items()):
            click.echo(f"NOT updated: {host}: {error}", err=True)
        raise OperationFailed(f"the /service links of {relocation.name} could not be changed "
                              f"on {', '.join(sorted(failed))}: relink them there (the data "
                              "was moved and verified)")


# -- link ----------------------------------------------------------------------------------

@click.command()
@basedir_option
@layout_options
@click.argument("path")
@click.argument("name", required=False)
@click.option("--disk", "number", type=click.IntRange(0, 999), default=0, show_default=True,
              help="Which /service/NN of the service gets the content.")
@click.option("--undo", is_flag=True,
              help="Move the content back to PATH and remove the symlink (NAME not needed).")
def link(basedir: Path, local_disks: str | None, service_root: str | None, path: str,
         name: str | None, number: int, undo: bool) -> None:
    """Turn PATH (e.g. /var/nsr) into a symlink to /service/NN/NAME/PATH, moving its
    content there, so the data moves with the service. When the service is on a group's
    disks, the other hosts of the group get the same symlink (where PATH is absent or an
    empty directory there). Refused (exit 3) while NAME runs."""
    layout = _layout(service_root, local_disks)
    defs = _optional_defs(basedir)
    log = _log("link")
    try:
        if undo:
            where_it_was = unlink_path(layout, defs, path, log=log)
            click.echo(f"{path}: content moved back from {where_it_was}")
            # the other hosts have the same symlink to the same stable path
            stable, name = where_it_was, _service_of(layout, where_it_was)
        else:
            if name is None:
                raise BadInput("give the service NAME (or --undo)")
            stable = link_path(layout, defs, path, name, number, log=log)
            click.echo(f"{path} -> {stable}")
    except OSError as exc:
        raise OperationFailed(f"{path}: {exc}") from exc
    _link_elsewhere(defs, basedir, layout, path, stable, name, undo)


def _service_of(layout: Layout, stable: str) -> str | None:
    """NAME of a path /service/NN/NAME/..."""
    parts = os.path.relpath(stable, layout.service_root).split("/")
    return parts[1] if len(parts) > 2 else None


def _link_elsewhere(defs: Definitions | None, basedir: Path, layout: Layout, path: str,
                    stable: str, name: str | None, undo: bool) -> None:
    """The same symlink on the other hosts of the group holding the service (what each
    changed, or why not)."""
    changes = link_elsewhere(defs, basedir, layout, local_host(), os.path.normpath(path),
                             stable, name, undo)
    for other, lines in sorted(changes.done.items()):
        for change in lines:
            click.echo(f"{other}: {change}")
    if changes.failed:
        for other, error in sorted(changes.failed.items()):
            click.echo(f"NOT changed: {other}: {error}", err=True)
        raise OperationFailed(f"{path} could not be {'restored' if undo else 'linked'} on "
                              f"{', '.join(sorted(changes.failed))}")
