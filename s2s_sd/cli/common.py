"""Options and helpers shared by the command modules."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from s2s_sd.cli import LEADING_BASEDIR
from s2s_sd.errors import BadInput, Problem, printable
from s2s_sd.load_files import BASEDIR_ENV, DEFAULT_BASEDIR
from s2s_sd.model import Definitions

F = TypeVar("F", bound=Callable[..., Any])


def local_host() -> str:
    return os.uname().nodename


def _basedir(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    assert param.name is not None
    leading = ctx.meta.get(LEADING_BASEDIR)
    if leading is not None and ctx.get_parameter_source(param.name) in (
            ParameterSource.DEFAULT, ParameterSource.ENVIRONMENT, ParameterSource.DEFAULT_MAP):
        return Path(leading)
    return value


def basedir_option(func: F) -> F:
    return click.option(
        "--basedir", type=click.Path(file_okay=False, path_type=Path), envvar=BASEDIR_ENV,
        default=DEFAULT_BASEDIR, show_default=True, show_envvar=True, callback=_basedir,
        help="Base dir holding s2s.toml, groups/, init.d/, sysconfig/, hooks/.",
    )(func)


def _json_requested(_ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        from s2s_sd.cli import request_json_errors

        request_json_errors()
    return value


def json_option(func: F) -> F:
    """--json: the command's output as one JSON object with `schema_version` on stdout,
    and its errors as one too (README.md, "--json outputs")."""
    return click.option(
        "--json", "as_json", is_flag=True, is_eager=True, callback=_json_requested,
        help="Machine-readable output: one JSON object on stdout, errors too.",
    )(func)


def target_host(positional: str | None, option: str | None) -> str:
    """The HOST of `move GROUP HOST` (as pcs and crm take it) or of `--to HOST`."""
    if positional is not None and option is not None and positional != option:
        raise BadInput(f"two target hosts: {printable(positional)!r} and --to "
                       f"{printable(option)!r}; name one")
    target = positional or option
    if target is None:
        raise BadInput("name the target host: move GROUP HOST (or --to HOST)")
    return target


def host_option(func: F) -> F:
    return click.option(
        "--host", default=None, metavar="HOST",
        help="Resolve host-specific NAME.HOST twins for HOST (default: this host's name).",
    )(func)


def load_checked(basedir: Path, host: str | None, files: bool = True, kits: bool = False,
                 staged: Mapping[str, str] | None = None) -> tuple[Definitions, list[Problem]]:
    """checks.load_checked, for this host unless told otherwise."""
    # imported here: checks pulls in validation and both renderers (lxml), which the
    # commands run by units and other hosts (member, vip, guard, agent) never need
    from s2s_sd import checks

    return checks.load_checked(basedir, host or local_host(), files, kits, staged)


def warn(text: str) -> None:
    """Every warning of s2s-sd: one line on stderr, `s2s-sd: warning: TEXT`."""
    click.echo(f"s2s-sd: warning: {text}", err=True)


def require_named_host(definitions: Definitions, host: str | None) -> None:
    """--host HOST must be a host of the host group: for any other name no twin applies,
    and the output would silently be the plain files' (a typo, most likely)."""
    if host is not None and host not in definitions.hostgroup.host_names:
        raise BadInput(f"--host {printable(host)}: not in host group "
                       f"{definitions.hostgroup.name} "
                       f"({', '.join(definitions.hostgroup.host_names)})")


def echo_warnings(problems: list[Problem]) -> None:
    for problem in problems:
        if problem.warning:
            click.echo(str(problem), err=True)
