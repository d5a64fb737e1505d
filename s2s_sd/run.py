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


@dataclass(frozen=True)
class Finished:
    """How a program run by `run_logged` ended: its exit code, or killed at the timeout."""

    returncode: int
    timed_out: bool
    seconds: float


def run_logged(
    argv: Sequence[str],
    *,
    output: str | None,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    kill_grace: float = 5.0,
) -> Finished:
    """Run argv with stdout and stderr into the file `output` (not a pipe: a daemon the
    program starts may keep its output open for ever), or this process's own (None: a
    unit's journal), in a session of its own. At the timeout the whole process group gets
    SIGTERM, then SIGKILL after kill_grace."""
    import contextlib
    import signal
    import time

    if isinstance(argv, str):
        raise TypeError("run_logged() takes an argv list, not a string")
    began = time.monotonic()
    with open(output, "ab") if output is not None else contextlib.nullcontext() as sink:
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=sink,
                stderr=subprocess.STDOUT if sink is not None else None,
                env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
        except FileNotFoundError as exc:
            raise CommandNotFound(f"{argv[0]}: not installed or not on PATH") from exc
        except PermissionError as exc:
            raise OperationFailed(f"{argv[0]}: cannot execute: {exc.strerror}") from exc
        try:
            code = proc.wait(timeout=timeout)
            return Finished(code, False, time.monotonic() - began)
        except subprocess.TimeoutExpired:
            # the whole group: what the program started is as stuck as the program
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=kill_grace)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            return Finished(proc.returncode if proc.returncode is not None else -9, True,
                            time.monotonic() - began)
