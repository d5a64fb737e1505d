"""`s2s-sd vip up|down|status`: virtual IPs on this host (or in a network namespace).

Two forms, the same for each subcommand:

    s2s-sd vip up 10.1.2.3/24 [--interface eth0] [--label ora] [--alias oracle_c07]
    s2s-sd vip up GROUP SERVICE [--basedir DIR]      (what the generated units run)

The group form takes address, interface and alias from the definitions, the alias as
ALIAS_CLUSTER; the address form takes the alias name literally.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from s2s_sd.cli import JSON_SCHEMA_VERSION
from s2s_sd.cli.common import basedir_option, json_option, local_host, warn
from s2s_sd.engines import vip_member
from s2s_sd.engines.net.hosts_file import DEFAULT_HOSTS_FILE
from s2s_sd.engines.net.ops import vip_down, vip_status, vip_up
from s2s_sd.engines.net.vip import (
    Announce,
    Probe,
    Vip,
    VipResult,
    VipStatus,
    make_vip,
    vip_for_service,
)
from s2s_sd.errors import BadInput
from s2s_sd.load import load_definitions

F = TypeVar("F", bound=Callable[..., Any])


def _common_options(func: F) -> F:
    options = [
        click.argument("target", nargs=-1, required=True, metavar="ADDRESS/PREFIX | GROUP SERVICE"),
        click.option("--interface", "-i", metavar="IF",
                     help="Interface (default: the one whose connected route covers the "
                          "address)."),
        click.option("--label", metavar="LABEL",
                     help="IPv4 label: SUFFIX or IF:SUFFIX, at most 15 characters in all "
                          "(default IF:vip; group form: IF:GROUP)."),
        click.option("--alias", metavar="NAME",
                     help="Host name to map to the address in the hosts file."),
        click.option("--hosts-file", type=click.Path(dir_okay=False, path_type=Path),
                     default=DEFAULT_HOSTS_FILE, show_default=True,
                     help="Hosts file holding the alias."),
        click.option("--netns", metavar="PATH",
                     help="Act in this network namespace (/run/netns/NAME, /proc/PID/ns/net "
                          "or a name) instead of the current one."),
        basedir_option,
        json_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


force_option = click.option(
    "--force", is_flag=True,
    help="Also adopt (up) or remove (down) an address s2s-sd did not add: IPv4 without "
         "its label, IPv6 without its address protocol or record (e.g. one added by hand, "
         "or by an older s2s-sd).")


def _resolve(
    target: tuple[str, ...], interface: str | None, label: str | None, alias: str | None,
    basedir: Path,
) -> Vip:
    if len(target) == 1:
        return make_vip(target[0], interface=interface, label=label, hostname=alias)
    if len(target) == 2:
        given = [name for name, value in (("--interface", interface), ("--label", label),
                                          ("--alias", alias)) if value is not None]
        if given:
            raise BadInput(f"{', '.join(given)}: not with GROUP SERVICE; the definitions "
                           "say where the VIP goes")
        definitions = load_definitions(basedir, local_host())
        return vip_for_service(definitions, target[0], target[1])
    raise BadInput("give ADDRESS/PREFIX, or GROUP SERVICE")


def _milliseconds(value: int) -> float:
    return value / 1000


def _print_result(result: VipResult, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"schema_version": JSON_SCHEMA_VERSION, **result.as_dict()},
                              indent=2, sort_keys=True))
        return
    click.echo(vip_member.result_line(result))
    for warning in result.warnings:
        warn(warning)


@click.group()
def vip() -> None:
    """Virtual IPs: add with duplicate check and announcement, remove, report."""


@vip.command()
@_common_options
@click.option("--count", default=5, show_default=True, type=click.IntRange(0, 100),
              help="Announcements (gratuitous ARP / unsolicited NA) to send.")
@click.option("--interval", default=200, show_default=True, type=click.IntRange(0, 10000),
              metavar="MS", help="Milliseconds between announcements.")
@click.option("--probe-count", default=vip_member.MEMBER_PROBE.count, show_default=True,
              type=click.IntRange(1, 20),
              help="ARP probes / duplicate address detection solicitations.")
@click.option("--probe-interval", default=round(vip_member.MEMBER_PROBE.interval * 1000),
              show_default=True,
              type=click.IntRange(0, 10000), metavar="MS",
              help="Milliseconds between probes, and to wait for answers after the last.")
@force_option
def up(target: tuple[str, ...], interface: str | None, label: str | None, alias: str | None,
       hosts_file: Path, netns: str | None, basedir: Path, as_json: bool, count: int,
       interval: int, probe_count: int, probe_interval: int, force: bool) -> None:
    """Add the VIP here unless another host answers for it, then announce it.

    Up of a VIP that is already here announces it again and succeeds. Exit 3 when
    another host answers for the address (its MAC is named), or when the address is here
    but was not added by s2s-sd (the interface's own address, after a typo): --force.
    """
    wanted = _resolve(target, interface, label, alias, basedir)
    result = vip_up(
        wanted, netns=netns, hosts=hosts_file,
        announce=Announce(count, _milliseconds(interval)),
        probe=Probe(probe_count, _milliseconds(probe_interval),
                    _milliseconds(probe_interval)),
        force=force,
        take_over=vip_member.take_over(wanted),
    )
    _print_result(result, as_json)


@vip.command()
@_common_options
@force_option
def down(target: tuple[str, ...], interface: str | None, label: str | None, alias: str | None,
         hosts_file: Path, netns: str | None, basedir: Path, as_json: bool, force: bool) -> None:
    """Remove the VIP (and its alias) here. A VIP that is not here is success.

    Exit 3 when the address is here but was not added by s2s-sd (unless --force)."""
    wanted = _resolve(target, interface, label, alias, basedir)
    _print_result(vip_down(wanted, netns=netns, hosts=hosts_file, force=force), as_json)


@vip.command()
@_common_options
@click.option("--check", is_flag=True,
              help="Exit 3 when the VIP is not up here (as an init script's status does); "
                   "the monitor of a group's ip member uses it.")
def status(target: tuple[str, ...], interface: str | None, label: str | None,
           alias: str | None, hosts_file: Path, netns: str | None, basedir: Path,
           as_json: bool, check: bool) -> None:
    """Say whether the VIP is up here, on which interface, with which label, and
    whether s2s-sd added it (its label; IPv6: address protocol 83 or its record)."""
    wanted = _resolve(target, interface, label, alias, basedir)
    state = vip_status(wanted, netns=netns, hosts=hosts_file)
    if as_json:
        click.echo(json.dumps({"schema_version": JSON_SCHEMA_VERSION, **state.as_dict()},
                              indent=2, sort_keys=True))
    else:
        _print_status(state, wanted.address.version)
    if check and not state.present:
        sys.exit(3)  # LSB's "not running": the ip member's monitor loop reads the code


def _print_status(state: VipStatus, version: int) -> None:
    if state.present:
        line = f"{state.address}: up on {state.interface}"
        line += f" ({state.label})" if state.label else ""
        line += " (tentative: duplicate detection pending or failed)" if state.tentative else ""
        if version == 6:  # `ip` shows IPv4 labels, never IPv6 ownership
            line += f"; s2s-sd's ({state.owned_by})" if state.owned_by \
                else f"; not added by s2s-sd ({state.not_ours})"
    elif state.held_as:
        line = f"{state.address}: down; {state.held_as} is on {state.interface}"
    else:
        line = f"{state.address}: down"
    if state.hostname:
        mapped = ", ".join(state.hostname_addresses) or "nothing"
        line += f"; alias {state.hostname} -> {mapped}"
    click.echo(line)


COMMANDS = [vip]
