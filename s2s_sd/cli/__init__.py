"""The s2s-sd command line. Only this package prints and chooses exit codes.

Exit codes: 0 ok, 1 operation failed, 2 bad input or usage, 3 refused for safety.
Each subcommand lives in a module of this package and is imported only when it runs.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
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
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            assert isinstance(command, click.Command)
            return command
        return super().get_command(ctx, cmd_name)


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
                 "maintenance": f"{_CLU}:maintenance", "cleanup": f"{_CLU}:cleanup",
                 "migrate": f"{_CLU}:migrate",
                 "kits": f"{_KIT}:kits", "where": f"{_KIT}:where",
                 "relocate": f"{_KIT}:relocate", "link": f"{_KIT}:link",
                 "drill": "s2s_sd.cli.drill:drill",
             })
@click.version_option(package_name="s2s-sd")
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
