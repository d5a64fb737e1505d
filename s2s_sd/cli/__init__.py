"""The s2s-sd command line. Only this package prints and chooses exit codes.

Exit codes: 0 ok, 1 operation failed, 2 bad input or usage, 3 refused for safety.
Each subcommand lives in a module of this package and is imported only when it runs.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from s2s_sd.errors import BadInput, InvalidDefinitions, OperationFailed, Refused, S2SError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3


def exit_code_for(error: S2SError) -> int:
    if isinstance(error, BadInput):
        return EXIT_BAD_INPUT
    if isinstance(error, Refused):
        return EXIT_REFUSED
    return EXIT_FAILED


JSON_SCHEMA_VERSION = 1
_json_requested = False


def request_json_errors() -> None:
    """A command's --json was given: its errors go to stdout as JSON too (cli/common.py
    json_option), so a script reading stdout always gets one object."""
    global _json_requested
    _json_requested = True


def error_json(error: S2SError) -> dict[str, Any]:
    """An error as `--json` prints it (schema in README.md, "--json outputs")."""
    kind = ("bad_input" if isinstance(error, BadInput) else
            "refused" if isinstance(error, Refused) else "failed")
    problems = [{"file": p.file, "line": p.line, "key": p.key, "message": p.message,
                 "warning": p.warning}
                for p in (error.problems if isinstance(error, InvalidDefinitions) else ())]
    return {"schema_version": JSON_SCHEMA_VERSION, "ok": False,
            "error": {"kind": kind, "exit_code": exit_code_for(error),
                      "message": str(error), "problems": problems}}


def report(error: S2SError) -> int:
    """Print an error the way users see it and return its exit code (in --json mode,
    also as one JSON object on stdout)."""
    if _json_requested:
        click.echo(json.dumps(error_json(error), indent=2, sort_keys=True))
    if isinstance(error, InvalidDefinitions):
        for problem in error.problems:
            click.echo(str(problem), err=True)
        errors = sum(1 for p in error.problems if not p.warning)
        click.echo(f"s2s-sd: {errors} error(s) in the definitions; nothing was changed", err=True)
    else:
        kind = "refused" if isinstance(error, Refused) else "error"
        click.echo(f"s2s-sd: {kind}: {error}", err=True)
    return exit_code_for(error)


class S2SGroup(click.Group):
    """Turns typed errors into exit codes and keeps tracebacks away from users."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        global _json_requested
        _json_requested = False  # until a command's --json is parsed
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except S2SError as exc:
            sys.exit(report(exc))
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("s2s-sd: aborted", err=True)
            sys.exit(EXIT_FAILED)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt:
            click.echo("s2s-sd: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug of ours: say so plainly, never a traceback
            if os.environ.get("S2S_SD_DEBUG"):
                traceback.print_exc()
            click.echo(
                f"s2s-sd: internal error: {type(exc).__name__}: {exc} "
                "(set S2S_SD_DEBUG=1 for details)",
                err=True,
            )
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


class LazyGroup(click.Group):
    """Imports a subcommand's module only when that command runs: `vip up` in a unit's
    ExecStart must not pay for jinja2, lxml and every renderer (start-up time is
    failover time)."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command: click.Command | None
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
        else:
            command = super().get_command(ctx, cmd_name)
        if command is not None:
            parent = ctx.command_path.partition(" ")[2]
            attach_examples(command, f"{parent} {cmd_name}".strip())
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]
                        ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            suggestion = _suggest(args[0] if args else "", self._visible(ctx))
            if suggestion is None:
                raise
            raise click.UsageError(f"{exc.message} {suggestion}", ctx) from None

    def _visible(self, ctx: click.Context) -> list[str]:
        return [name for name in self.list_commands(ctx) if name not in HIDDEN_COMMANDS]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands by topic, each with its whole first sentence (click's own list
        sorts them alphabetically and cuts a text at its first "e.g.")."""
        entries: dict[str, list[tuple[str, str]]] = {}
        for name in self._visible(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            section = SECTION_OF.get(name, "Commands") if ctx.parent is None else "Commands"
            entries.setdefault(section, []).append((name, _summary(command)))
        order = [*SECTIONS, "Commands"]
        for section in sorted(entries, key=order.index):
            rows = entries[section]
            if ctx.parent is None:  # the topics' own order: the usual workflow first
                rank = {name: i for i, name in enumerate(SECTIONS.get(section, ()))}
                rows.sort(key=lambda row: (rank.get(row[0], len(rank)), row[0]))
            with formatter.section(section):
                formatter.write_dl(rows)

# The top-level help's topics, each in the order an administrator meets its commands
SECTIONS: dict[str, tuple[str, ...]] = {
    "Definitions": ("init", "check", "group", "service", "host", "generate", "apply"),
    "Runtime": ("status", "start", "stop", "move", "recover", "cleanup", "freeze",
                "unfreeze", "sync", "drill"),
    "Cluster (Pacemaker engine)": ("maintenance", "migrate"),
    "Service kits": ("kits", "where", "relocate", "link"),
    "Virtual IPs": ("vip",),
}
SECTION_OF = {name: section for section, names in SECTIONS.items() for name in names}
# run by s2s-sd itself (units, other hosts), not by users: callable, but not listed
HIDDEN_COMMANDS = frozenset({"guard", "agent", "member", "watch"})

# One example per command, shown at the end of its --help (kept here, beside the topics,
# so a new command without one fails tests/unit/test_cli_help.py)
EXAMPLES: dict[str, str] = {
    "init": "s2s-sd init --basedir /etc/s2s-sd-c08",
    "check": "s2s-sd check --host claudia",
    "group": "s2s-sd group new db --hosts claudia,cathy",
    "group new": "s2s-sd group new db --hosts claudia,cathy",
    "service": "s2s-sd service new db listener --type script",
    "host": "s2s-sd host add cindy --address 192.168.77.13",
    "generate": "s2s-sd generate systemd --out /tmp/units",
    "generate systemd": "s2s-sd generate systemd --out /tmp/units",
    "generate pacemaker": "s2s-sd generate pacemaker --out /tmp/cib.xml",
    "apply": "s2s-sd apply systemd",
    "apply systemd": "s2s-sd apply systemd",
    "apply pacemaker": "s2s-sd apply pacemaker --dry-run",
    "status": "s2s-sd status --json",
    "start": "s2s-sd start ora",
    "stop": "s2s-sd stop ora",
    "move": "s2s-sd move ora cathy        (or: s2s-sd move ora --to cathy)",
    "recover": "s2s-sd recover ora",
    "sync": "s2s-sd sync --dry-run",
    "drill": "s2s-sd drill ora",
    "maintenance": "s2s-sd maintenance on",
    "cleanup": "s2s-sd cleanup ora",
    "freeze": "s2s-sd freeze ora",
    "unfreeze": "s2s-sd unfreeze ora",
    "migrate": "s2s-sd migrate --dry-run",
    "kits": "s2s-sd kits status /disk/san/ora --json",
    "where": "s2s-sd where oracle",
    "relocate": "s2s-sd relocate oracle --to ora --dry-run",
    "link": "s2s-sd link /disk/san/ora/oracle",
    "vip": "s2s-sd vip status 192.168.77.100/24",
}


def attach_examples(command: click.Command, path: str) -> None:
    """Give COMMAND (named PATH, e.g. "generate systemd") and its subcommands the
    example of EXAMPLES as the end of their help, unless they have an epilog already."""
    example = EXAMPLES.get(path) or EXAMPLES.get(path.partition(" ")[0])
    if example is not None and not command.epilog:
        command.epilog = f"\b\nExample:\n  {example}"
    # click's own summary cuts at the first "e.g." and at 45 characters
    command.short_help = _summary(command)
    if isinstance(command, click.Group) and not isinstance(command, LazyGroup):
        for name, sub in command.commands.items():
            attach_examples(sub, f"{path} {name}")


# The end of a help text's first sentence: a full stop before a capital, not "e.g."
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)\.\s+(?=[A-Z(])")


def _summary(command: click.Command) -> str:
    """A command's summary: its short_help, else its help's first sentence, whole."""
    if command.short_help:
        return command.short_help
    paragraph = " ".join(inspect.cleandoc(command.help or "").split("\n\n")[0].split())
    return _SENTENCE_END.split(paragraph, maxsplit=1)[0].rstrip(".")


def _suggest(typed: str, names: list[str]) -> str | None:
    close = difflib.get_close_matches(typed, names, n=3, cutoff=0.6)
    if not close:
        return None
    return "Did you mean " + " or ".join(repr(name) for name in close) + "?"

# where `s2s-sd --basedir DIR COMMAND` leaves DIR for the command (ctx.meta is shared by
# every context of one invocation)
LEADING_BASEDIR = "s2s_sd.basedir"


def _remember_basedir(ctx: click.Context, param: click.Parameter, value: Path | None
                      ) -> Path | None:
    if value is not None:
        ctx.meta[LEADING_BASEDIR] = value
    return value


def leading_basedir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """--basedir before the subcommand (`s2s-sd --basedir DIR status`), as habit types it;
    the subcommand's own --basedir, when given too, wins."""
    return click.option(
        "--basedir", type=click.Path(file_okay=False, path_type=Path), default=None,
        expose_value=False, is_eager=True, callback=_remember_basedir, metavar="DIR",
        help="Base dir for the command (the same as the command's own --basedir).",
    )(func)



class MainGroup(LazyGroup, S2SGroup):
    pass


_DEF = "s2s_sd.cli.definitions"
_RUN = "s2s_sd.cli.runtime"
_CLU = "s2s_sd.cli.cluster"
_KIT = "s2s_sd.cli.kits"


@click.group(cls=MainGroup, context_settings={"help_option_names": ["-h", "--help"]},
             lazy={
                 "check": f"{_DEF}:check", "guard": f"{_RUN}:guard", "init": f"{_DEF}:init",
                 "service": f"{_DEF}:service", "group": f"{_DEF}:group_command",
                 "host": "s2s_sd.cli.hosts:host", "vip": "s2s_sd.cli.vip:vip",
                 "sync": f"{_RUN}:sync_command", "move": f"{_RUN}:move",
                 "start": f"{_RUN}:start", "stop": f"{_RUN}:stop", "status": f"{_RUN}:status",
                 "recover": f"{_RUN}:recover", "agent": f"{_RUN}:agent",
                 "freeze": f"{_RUN}:freeze", "unfreeze": f"{_RUN}:unfreeze",
                 "watch": f"{_RUN}:watch",
                 "maintenance": f"{_CLU}:maintenance", "cleanup": f"{_RUN}:cleanup",
                 "migrate": f"{_CLU}:migrate",
                 "kits": f"{_KIT}:kits", "where": f"{_KIT}:where",
                 "relocate": f"{_KIT}:relocate", "link": f"{_KIT}:link",
                 "drill": "s2s_sd.cli.drill:drill",
                 "member": "s2s_sd.cli.member:member",
             })
@click.version_option(package_name="s2s-sd")
@leading_basedir_option
def main() -> None:
    """Service groups on host groups, run by systemd or Pacemaker."""


@main.group(cls=LazyGroup, lazy={"systemd": f"{_DEF}:generate_systemd",
                                 "pacemaker": "s2s_sd.cli.pacemaker:generate_pacemaker"})
def generate() -> None:
    """Generate systemd units or a Pacemaker configuration from the definitions."""


@main.group(cls=LazyGroup, lazy={"systemd": f"{_DEF}:apply_systemd",
                                 "pacemaker": "s2s_sd.cli.pacemaker:apply_pacemaker"})
def apply() -> None:
    """Install the generated configuration on this host or the cluster."""


__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "OperationFailed", "main"]
