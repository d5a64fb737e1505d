"""The s2s-sd command line. Only this package prints and chooses exit codes.

Exit codes: 0 ok, 1 operation failed, 2 bad input or usage, 3 refused for safety.
Each subcommand lives in a module of this package and is registered in `_register`.
"""

from __future__ import annotations

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


def report(error: S2SError) -> int:
    """Print an error the way users see it and return its exit code."""
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


@click.group(cls=S2SGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="s2s-sd")
def main() -> None:
    """Service groups on host groups, run by systemd or Pacemaker."""


def _register() -> None:
    from s2s_sd.cli import definitions

    for module in (definitions,):
        for command in module.COMMANDS:
            main.add_command(command)
    main.add_command(__import__("s2s_sd.cli.vip", fromlist=["vip"]).vip)
    from s2s_sd.cli import pacemaker
    definitions.generate.add_command(pacemaker.generate_pacemaker)
    definitions.apply.add_command(pacemaker.apply_pacemaker)


_register()

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "OperationFailed", "main"]
