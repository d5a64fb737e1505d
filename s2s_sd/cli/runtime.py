"""Commands across hosts: sync, and move, start, stop, status, recover through the host
group's engine (engines/choose.py picks it once; these parse, call it and print); and the
two that hosts run themselves: guard (from the units) and agent (over ssh)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import click

from s2s_sd.cli.common import (
    basedir_option,
    echo_warnings,
    json_option,
    load_checked,
    local_host,
    target_host,
    warn,
)
from s2s_sd.cli.completion import complete_groups, complete_hosts
from s2s_sd.engines.engine import RunOptions, require_member
from s2s_sd.engines.in_process import open_session
from s2s_sd.engines.systemd.guard import guard as guard_check
from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import BadInput, S2SError
from s2s_sd.hosts import sync as sync_module
from s2s_sd.hosts.lock import process_start
from s2s_sd.hosts.protocol import MAX_REQUEST_BYTES, parse_request, read_line
from s2s_sd.hosts.transport import Transport, error_to_wire
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions
from s2s_sd.model import Engine as EngineKind
from s2s_sd.timings import Timings, seconds_since_process_start, timing_lines

if TYPE_CHECKING:  # imported where used: `guard` runs at every group start, and fast
    from s2s_sd.agent.core_ops import AgentContext
    from s2s_sd.engines.engine import Engine

break_lock_option = click.option(
    "--break-lock", is_flag=True,
    help="Break an admin lock whose holder is gone (it is reported, never broken silently).")


cluster_timeout_option = click.option(
    "--timeout", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
    help="Pacemaker engine: how long to wait (default 300).")


def _progress(text: str) -> None:
    click.echo(text)
    sys.stdout.flush()


def _definitions(basedir: Path, files: bool = True) -> Definitions:
    """The definitions, checked as `check` does; files=False: without the files they
    name (scripts' `bash -n` and shellcheck: 13 ms a script, over a second for 100)."""
    definitions, warnings = load_checked(basedir, local_host(), files=files)
    echo_warnings(warnings)
    return definitions


def _pacemaker(definitions: Definitions) -> bool:
    """The Pacemaker engine's commands live in cli/cluster.py (imported only then)."""
    return definitions.hostgroup.engine is EngineKind.PACEMAKER


def _engine(basedir: Path, definitions: Definitions, timings: Timings | None = None
            ) -> Engine:
    """The host group's engine (chosen once, engines/choose.py); the runtime commands call
    through it and print. Imported here: `guard` and `agent` start without the engines.
    timings: where a move records its steps (`move --timings`)."""
    from s2s_sd.engines.choose import open_engine

    return open_engine(definitions, basedir, local_host(), progress=_progress, on_warning=warn,
                       timings=timings)


def _admin(basedir: Path, definitions: Definitions | None = None) -> Admin:
    host = local_host()
    if definitions is None:
        definitions = _definitions(basedir)
    require_member(definitions, host)
    return Admin(definitions, basedir, host, progress=_progress, on_warning=warn,
                 watch_starts=True)


@click.command("sync")
@basedir_option
@click.option("--list", "list_only", is_flag=True, help="List the generations kept here.")
@click.option("--restore", type=int, metavar="N",
              help="Put generation N back and sync it to every host as a new generation.")
@break_lock_option
def sync_command(basedir: Path, list_only: bool, restore: int | None, break_lock: bool) -> None:
    """Copy the base dir to every host as a new numbered generation."""
    if list_only:
        hostgroup = load_definitions(basedir, local_host()).hostgroup.name
        current = sync_module.read_generation(hostgroup)
        for generation in sync_module.list_generations(hostgroup):
            mark = "*" if generation.number == current.number else " "
            click.echo(f"{mark} {generation.number:5d}  {generation.digest[:16]}")
        return
    if restore is not None:
        hostgroup = load_definitions(basedir, local_host()).hostgroup.name
        sync_module.restore_into(hostgroup, restore, basedir,
                                 sync_module.host_check(local_host(), hostgroup))
        click.echo(f"generation {restore} restored into {basedir}")
    sync_all(basedir, break_lock=break_lock)


def sync_all(basedir: Path, definitions: Definitions | None = None,
             break_lock: bool = False) -> None:
    """Sync to every host and say where; exit 1 when a host missed it."""
    if definitions is None:
        definitions = _definitions(basedir)
    host = local_host()
    require_member(definitions, host)
    with open_session(definitions, basedir, host, progress=_progress,
                      on_warning=warn) as session:
        number, synced, missed = session.sync(break_lock)
    click.echo(f"generation {number}: {', '.join(synced) or 'no host'}"
               + (f"; NOT synced: {', '.join(missed)}{session.why(missed)}" if missed else ""))
    if missed:
        sys.exit(1)


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
@click.argument("host", required=False, shell_complete=complete_hosts)
@click.option("--to", "to", default=None, metavar="HOST",
              help="Host to move the group to (the same as HOST).",
              shell_complete=complete_hosts)
@click.option("--dry-run", is_flag=True, help="Print the steps; change nothing.")
@click.option("--force", is_flag=True,
              help="Move although the source is unreachable (only on ARP/ND silence).")
@break_lock_option
@click.option("--timeout", type=click.FloatRange(min=1), default=None, metavar="SECONDS",
              help="Pacemaker engine: how long to wait for the group on the target "
                   "(default 300).")
@click.option("--lifetime", default=None, metavar="DURATION",
              help="Pacemaker engine: keep the preference for this long (30m, 2h, PT1H); "
                   "it then expires by itself.")
@click.option("--keep-constraint", is_flag=True,
              help="Pacemaker engine: on failure or timeout, keep the move's constraint.")
@click.option("--timings", "show_timings", is_flag=True,
              help="Afterwards, where the time went: each step with its host and seconds "
                   "(also when the move fails).")
def move(basedir: Path, group: str, host: str | None, to: str | None, dry_run: bool,
         force: bool, break_lock: bool, timeout: float | None, lifetime: str | None,
         keep_constraint: bool, show_timings: bool) -> None:
    """Move GROUP to HOST (or --to HOST), never running it on two hosts at once.

    Pacemaker engine: a location constraint, a wait until every member runs on the
    target, and the constraint removed again (none is left behind)."""
    to = target_host(host, to)
    options = RunOptions(break_lock=break_lock, force=force, timeout=timeout,
                         lifetime=lifetime, keep_constraint=keep_constraint)
    timings = _timings()
    with timings.step("load the definitions"):
        definitions = _definitions(basedir)
    if not dry_run and not _pacemaker(definitions):
        from s2s_sd.engines.net.netlink import prepare_netlink

        # the move's observe of this host needs pyroute2: imported in the background
        # while the engine is set up and the other hosts are reached
        prepare_netlink()
    # as always: the sessions a move opened end with the process; a dry run's drill
    # reuses them and then closes them
    engine = _engine(basedir, definitions, timings)
    if not dry_run:
        with _printed(timings, show_timings):
            engine.move(group, to, options)
        return
    steps = engine.move(group, to, options, dry_run=True)
    from s2s_sd.cli.drill_print import show_drill_target

    with engine:
        click.echo(f"move {group} --to {to}: plan (nothing changed)")
        for number, step in enumerate(steps, start=1):
            click.echo(f"  {number:2d}. {step}")
        # could TO take GROUP? The fire drill of that one cell (exit 1 when it finds a
        # failure: the move would fail)
        if show_drill_target(engine.drill_target(group, to)):
            sys.exit(1)


def _timings() -> Timings:
    """A recorder of where a command's time goes, from the start of its process (the
    interpreter and the imports, which no step inside the program sees)."""
    timings = Timings()
    started = seconds_since_process_start(process_start(os.getpid()))
    if started is not None:
        timings.add("program start (interpreter, imports)", None, started - timings.total())
    return timings


@contextmanager
def _printed(timings: Timings, wanted: bool, err: bool = False) -> Iterator[None]:
    """Print the timings after the block, also when it fails (that time was spent too);
    err: on stderr (after a JSON output)."""
    try:
        yield
    finally:
        if wanted:
            for line in timing_lines(timings):
                click.echo(line, err=err)


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
@break_lock_option
@cluster_timeout_option
def start(basedir: Path, group: str, break_lock: bool, timeout: float | None) -> None:
    """Start GROUP on its assigned host (Pacemaker engine: target-role=Started, where the
    cluster places it)."""
    host = _engine(basedir, _definitions(basedir)).start(
        group, RunOptions(break_lock=break_lock, timeout=timeout))
    click.echo(f"{group} runs on {host}")


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
@break_lock_option
@cluster_timeout_option
def stop(basedir: Path, group: str, break_lock: bool, timeout: float | None) -> None:
    """Stop GROUP wherever it is active (Pacemaker engine: target-role=Stopped)."""
    stopped = _engine(basedir, _definitions(basedir)).stop(
        group, RunOptions(break_lock=break_lock, timeout=timeout))
    click.echo(f"{group} stopped" + (f" on {', '.join(stopped)}" if stopped else
                                     " (it was not active anywhere)"))


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
@break_lock_option
def recover(basedir: Path, group: str, break_lock: bool) -> None:
    """Finish or roll back an interrupted move of GROUP, so it runs on exactly one host.

    The crashed move's own admin lock is broken (and reported) once its process is
    provably gone; any other stale lock needs --break-lock."""
    host = _engine(basedir, _definitions(basedir)).recover(group, RunOptions(break_lock=break_lock))
    click.echo(f"{group} runs on {host}; the interrupted move is resolved")


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
def cleanup(basedir: Path, group: str) -> None:
    """Clear GROUP's failed state and restart counts on every host of the group.

    systemd engine: `systemctl reset-failed` of its units on each of its hosts, so
    `status` shows it down, not failed. Pacemaker engine: its failed actions and fail
    counts (crm_resource --cleanup), and the `cli-` constraints a move left behind."""
    definitions = _definitions(basedir)
    if _pacemaker(definitions):
        from s2s_sd.cli import cluster

        cluster.cleanup(definitions, basedir, group)
        return
    with _admin(basedir, definitions) as admin:
        cleared = admin.cleanup(group)
    for host, failed in cleared.items():
        click.echo(f"[{host}] {group}: " + (f"cleared {', '.join(failed)}" if failed
                                            else "nothing failed"))


def _freeze(basedir: Path, group: str, frozen: bool, break_lock: bool) -> None:
    definitions = _definitions(basedir)
    if _pacemaker(definitions):
        if break_lock:
            raise BadInput("--break-lock is a systemd-engine option")
        from s2s_sd.cli import cluster

        cluster.freeze(definitions, basedir, group, frozen)
        return
    with _admin(basedir, definitions) as admin:
        holding = admin.freeze(group, frozen, break_lock)
    if frozen:
        click.echo(f"{group} frozen on {', '.join(holding)}: move, start, stop, recover and "
                   f"boot leave it alone until `s2s-sd unfreeze {group}`")
    else:
        click.echo(f"{group} unfrozen")


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
@break_lock_option
def freeze(basedir: Path, group: str, break_lock: bool) -> None:
    """Leave GROUP alone: no move, start, stop or recover, no start at boot.

    Its members can then be stopped and started by hand (maintenance) without s2s-sd
    fighting back (a start by hand still passes the guard: never on two hosts); `status`
    shows it frozen. systemd engine: a mark on every host of the
    host group (exit 3 naming where it is when a host cannot be reached); Pacemaker
    engine: is-managed=false on the group."""
    _freeze(basedir, group, True, break_lock)


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
@break_lock_option
def unfreeze(basedir: Path, group: str, break_lock: bool) -> None:
    """End a freeze of GROUP: s2s-sd (or the cluster) manages it again."""
    _freeze(basedir, group, False, break_lock)


@click.command()
@basedir_option
@click.argument("groups", nargs=-1, metavar="[GROUP]...", shell_complete=complete_groups)
@json_option
@click.option("--timings", "show_timings", is_flag=True,
              help="Afterwards, where the time went: the program's start, the definitions, "
                   "the hosts' answers and each host's own steps (on stderr with --json).")
def status(basedir: Path, groups: tuple[str, ...], as_json: bool, show_timings: bool
           ) -> None:
    """What runs where: per group, its assigned host and what is active on every host.

    Name groups to see only those (the hosts' alarms stay). Exit 1 when there is an
    alarm (a group active on two hosts, on a host it is not assigned to, partly up, an
    interrupted move) or a host could not be asked (the reason is shown). Pacemaker
    engine: from crm_mon, with failed actions, fail counts, leftover `cli-` constraints,
    maintenance mode and offline nodes."""
    timings = _timings()
    with _printed(timings, show_timings, err=as_json):
        with timings.step("load the definitions"):
            # what runs where, even while a script is broken: status changes nothing, and
            # the commands that run scripts (sync, move, start) check them
            definitions = _definitions(basedir, files=False)
        unknown = [g for g in groups if definitions.group(g) is None]
        if unknown:
            raise BadInput(f"no such group: {', '.join(unknown)} (groups: "
                           f"{', '.join(g.name for g in definitions.groups)})")
        engine = _engine(basedir, definitions, timings)
        try:
            report = engine.status()
            if groups:
                report = report.only(groups)
            from s2s_sd import status_print

            with timings.step("print"):  # before the agents end: the reader waits less
                if as_json:
                    click.echo(json.dumps(status_print.to_json(report), indent=2,
                                          sort_keys=True))
                else:
                    click.echo(status_print.render_text(report, time.time()))
        finally:
            with timings.step("end the host sessions"):
                engine.close()
    if report.exit_code:
        sys.exit(report.exit_code)


@click.command()
@basedir_option
@click.argument("group", shell_complete=complete_groups)
def guard(basedir: Path, group: str) -> None:
    """Exit 0 when GROUP may start on this host, 3 (with the reason) when it may not.

    The generated units run this before a group's first member starts."""
    host = local_host()
    definitions = load_definitions(basedir, host)
    if definitions.group(group) is None:
        raise BadInput(f"group '{group}' is not defined in {basedir}")
    reason = guard_check(definitions, basedir, host, group)
    click.echo(f"{group} may start on {host}: {reason}")


@click.command(hidden=True)
@basedir_option
@click.option("--once", is_flag=True, help="One round, then exit (for a test or a look).")
def watch(basedir: Path, once: bool) -> None:
    """Watch for concurrency violations (run by s2s-watch.service on every host).

    Every 5 s: is a group active here also active on another host, does another host
    answer ARP/ND for one of its VIPs here? An alarm in `status`, actions.log and the
    notify hook; with on_concurrency = "stop" the host it is not assigned to stops it."""
    from s2s_sd.agent.core_ops import AgentContext
    from s2s_sd.agent.dispatch import dispatch
    from s2s_sd.hosts import watch as watcher

    host = local_host()

    def definitions() -> Definitions:
        defs = load_definitions(basedir, host)
        if defs.hostgroup.engine is not EngineKind.SYSTEMD:
            raise BadInput("watch: the pacemaker engine's cluster probes for rogue "
                           "instances itself (role=Stopped monitors)")
        return defs

    def transport(defs: Definitions) -> Transport:
        context = AgentContext(basedir=basedir, host=host, _defs=defs)
        return Transport(defs, host, basedir, lambda op, args: dispatch(context, op, args))

    watcher.run_forever(definitions, basedir, host, transport, rounds=1 if once else None)


def answer_request(basedir: Path, context: AgentContext | None, raw: bytes) -> tuple[str, int]:
    """One request -> (answer line, exit code). Never raises."""
    from s2s_sd.agent.core_ops import AgentContext
    from s2s_sd.agent.dispatch import dispatch

    try:
        op, args = parse_request(raw)
        context = context or AgentContext(basedir=basedir, host=local_host())
        result = dispatch(context, op, args)
    except S2SError as exc:
        from s2s_sd.cli import exit_code_for

        return json.dumps(error_to_wire(exc)), exit_code_for(exc)
    except Exception as exc:  # a bug of ours: answer in the protocol, no traceback
        return json.dumps({"ok": False, "kind": "failed",
                           "message": f"internal error: {type(exc).__name__}: {exc}"}), 1
    return json.dumps({"ok": True, "result": result}), 0


@click.command(hidden=True)
@basedir_option
@click.option("--stream", is_flag=True,
              help="Answer one request per line until end of input (one session of a move).")
@click.option("--serve", is_flag=True,
              help="Serve the other hosts' agent sessions warm, as a fork server "
                   "(s2s-agent.service).")
def agent(basedir: Path, stream: bool, serve: bool) -> None:
    """Answer requests from the admin host (JSON on stdin, JSON on stdout)."""
    if serve:
        from s2s_sd.cli.agent_server import serve as serve_sessions

        serve_sessions()
        return
    if not stream:
        line, code = answer_request(basedir, None, sys.stdin.buffer.read(MAX_REQUEST_BYTES + 1))
        click.echo(line)
        sys.exit(code)
    from s2s_sd.agent.core_ops import AgentContext
    from s2s_sd.engines.net.netlink import prepare_netlink

    context = AgentContext(basedir=basedir, host=local_host())
    prepare_netlink()  # a session's observe needs it; meanwhile its first requests run
    for line in stream_answers(basedir, context, sys.stdin.buffer):
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def stream_answers(basedir: Path, context: AgentContext, stream: BinaryIO) -> Iterator[str]:
    """One answer line per request line of STREAM; a line over the size limit is answered
    as bad input without ever being held in memory as a whole."""
    while True:
        try:
            raw = read_line(stream)
        except S2SError as exc:
            yield json.dumps(error_to_wire(exc))
            continue
        if raw is None:
            return
        if raw.strip():
            yield answer_request(basedir, context, raw)[0]
