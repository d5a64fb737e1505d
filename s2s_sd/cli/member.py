"""`s2s-sd member run|ready|failed GROUP MEMBER`: run by a member's own unit (systemd
engine), never by users: readiness, monitoring and local recovery (hosts/health.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from s2s_sd.cli.common import basedir_option, local_host
from s2s_sd.hosts import health
from s2s_sd.load import load_definitions


@click.group(hidden=True)
def member() -> None:
    """A member's health, run by its unit: run (monitor loop), ready, failed."""


@member.command("run")
@basedir_option
@click.argument("group")
@click.argument("name", metavar="MEMBER")
def run_command(basedir: Path, group: str, name: str) -> None:
    """Start MEMBER, tell systemd when it is ready, then check it every monitor_interval;
    exit 1 with the reason when it no longer runs."""
    defs = load_definitions(basedir, local_host())
    sys.exit(health.run_member(defs, basedir, group, name))


@member.command("ready")
@basedir_option
@click.argument("group")
@click.argument("name", metavar="MEMBER")
def ready_command(basedir: Path, group: str, name: str) -> None:
    """Return when the exec MEMBER is ready (exit 1 when its process ended first)."""
    defs = load_definitions(basedir, local_host())
    click.echo(f"{group}/{name} is ready: {health.ready_member(defs, group, name)}")


@member.command("failed")
@basedir_option
@click.argument("group")
@click.argument("name", metavar="MEMBER")
def failed_command(basedir: Path, group: str, name: str) -> None:
    """After MEMBER's unit failed: log it, run the notify hook, restart or give up."""
    defs = load_definitions(basedir, local_host())
    click.echo(f"{group}/{name}: {health.member_failed(defs, basedir, local_host(), group, name)}")
