"""Options and helpers shared by the command modules."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click

from s2s_sd import checks
from s2s_sd.errors import Problem
from s2s_sd.load import BASEDIR_ENV, DEFAULT_BASEDIR
from s2s_sd.model import Definitions

F = TypeVar("F", bound=Callable[..., Any])


def local_host() -> str:
    return os.uname().nodename


def basedir_option(func: F) -> F:
    return click.option(
        "--basedir", type=click.Path(file_okay=False, path_type=Path), envvar=BASEDIR_ENV,
        default=DEFAULT_BASEDIR, show_default=True, show_envvar=True,
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


def host_option(func: F) -> F:
    return click.option(
        "--host", default=None, metavar="HOST",
        help="Resolve host-specific NAME.HOST twins for HOST (default: this host's name).",
    )(func)


def load_checked(basedir: Path, host: str | None, files: bool = True, kits: bool = False,
                 staged: Mapping[str, str] | None = None) -> tuple[Definitions, list[Problem]]:
    """checks.load_checked, for this host unless told otherwise."""
    return checks.load_checked(basedir, host or local_host(), files, kits, staged)


def warn(text: str) -> None:
    """Every warning of s2s-sd: one line on stderr, `s2s-sd: warning: TEXT`."""
    click.echo(f"s2s-sd: warning: {text}", err=True)


def echo_warnings(problems: list[Problem]) -> None:
    for problem in problems:
        if problem.warning:
            click.echo(str(problem), err=True)
