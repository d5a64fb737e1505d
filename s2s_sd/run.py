"""The one subprocess wrapper: every external command of s2s-sd goes through `run`.

argv lists only (never a shell), an explicit environment when one is given, text in and
out, and typed errors instead of CalledProcessError.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from s2s_sd.errors import CommandFailed, CommandNotFound, OperationFailed


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
) -> Result:
    """Run argv and return its result.

    check: raise CommandFailed on a non-zero exit.
    env: the whole environment; extra_env: added to the current (or given) environment.
    """
    if isinstance(argv, str):  # a string would be split into characters: a bug, not input
        raise TypeError("run() takes an argv list, not a string")
    full_env: dict[str, str] | None = None
    if env is not None or extra_env is not None:
        full_env = dict(os.environ if env is None else env)
        full_env.update(extra_env or {})
    try:
        proc = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(f"{argv[0]}: not installed or not on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise OperationFailed(f"{argv[0]} did not finish within {timeout} s") from exc
    result = Result(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise CommandFailed(argv, proc.returncode, proc.stdout, proc.stderr)
    return result


PIPE = subprocess.PIPE


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start a long-running process (lab nodes, agent sessions) and return its handle."""
    try:
        return subprocess.Popen(
            list(argv), env=dict(env) if env is not None else None,
            stdout=stdout, stderr=stderr, stdin=stdin,
        )
    except FileNotFoundError as exc:
        raise CommandNotFound(f"{argv[0]}: not installed or not on PATH") from exc
