"""Typed errors. Library code raises these; only cli.py turns them into exit codes."""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass


def printable(text: str) -> str:
    """text on one line: every character that is not printable (newline, tab, control
    characters, U+2028, U+0085, bidi controls, ...) as its Python escape, so a value
    quoted in a message can neither start a line of its own nor hide what it is."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


def exit_status(returncode: int) -> str:
    """How a program ended, for a message: "exited with 2", or "killed by signal 11
    (SIGSEGV)" for the negative codes subprocess gives a program a signal ended (a crash
    reported as "exit -11" reads like a program's own verdict)."""
    if returncode >= 0:
        return f"exited with {returncode}"
    number = -returncode
    try:
        name = signal.Signals(number).name
    except ValueError:  # a real-time signal, or one this platform has no name for
        return f"killed by signal {number}"
    return f"killed by signal {number} ({name})"


class S2SError(Exception):
    """Base of every error s2s-sd reports to a user."""


class BadInput(S2SError):
    """Definitions, arguments or a request are wrong. Nothing was changed (exit 2)."""


@dataclass(frozen=True)
class Problem:
    """One finding of loading or validation, printed as `FILE:LINE: KEY.PATH: message`."""

    file: str
    line: int
    key: str
    message: str
    warning: bool = False

    def __str__(self) -> str:
        prefix = "warning: " if self.warning else ""
        return printable(f"{self.file}:{self.line}: {self.key}: {prefix}{self.message}")


class InvalidDefinitions(BadInput):
    """The definitions have errors; carries every problem found, not just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Refused(S2SError):
    """Refused for safety, e.g. the group may be active elsewhere or the lock is held (exit 3)."""


class OperationFailed(S2SError):
    """An operation was tried and failed (exit 1)."""


class CommandFailed(OperationFailed):
    """An external command exited non-zero."""

    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr or stdout).strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        super().__init__(f"{argv[0]} {exit_status(returncode)}{tail}")


class CommandNotFound(OperationFailed):
    """An external program is not installed."""
