"""Where the time of an operation went (`move --timings`): a small recorder the move is
given, filled step by step, printed by the CLI after the normal output.

The recorder only measures and keeps; it prints nothing and decides nothing, so the move
reads the same with or without it. A step is a name, the host it ran on (None: the
admin's own bookkeeping or several hosts at once) and its seconds. Steps that a host
measured itself (each member's start on the target, from systemd's own timestamps) are
added with `add`; the others are timed around the code that does them with `step`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# an agent's first step: how long its process ran before the request (interpreter, imports)
AGENT_START = "agent start (interpreter, imports)"


@dataclass(frozen=True)
class Timing:
    step: str
    host: str | None
    seconds: float
    # nested under the step before it (a member's start within "start on the target")
    detail: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "host": self.host, "seconds": round(self.seconds, 3),
                "detail": self.detail}


class Timings:
    """The steps of one operation, in the order they finished (threads may add)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self._entries: list[Timing] = []
        self._lock = threading.Lock()

    @contextmanager
    def step(self, name: str, host: str | None = None) -> Iterator[None]:
        """Time the block as step NAME (also when it raises: a failed step cost time too)."""
        began = self.clock()
        try:
            yield
        finally:
            self.add(name, host, self.clock() - began)

    def add(self, name: str, host: str | None, seconds: float, detail: bool = False) -> None:
        with self._lock:
            self._entries.append(Timing(name, host, max(0.0, seconds), detail))

    def add_members(self, host: str, seconds: Mapping[str, float], verb: str) -> None:
        """Per-unit seconds a host measured (agent start_group/stop_group), as details."""
        for unit, value in seconds.items():
            self.add(f"{unit} {verb}", host, float(value), detail=True)

    def add_host(self, host: str, seconds: Mapping[str, float], remote: bool) -> None:
        """The steps a host measured itself (an agent's answer), as details. AGENT_START
        only when the host is another: the admin's own is answered in its process."""
        for step, value in seconds.items():
            if remote or step != AGENT_START:
                self.add(step, host, float(value), detail=True)

    @property
    def entries(self) -> tuple[Timing, ...]:
        with self._lock:
            return tuple(self._entries)

    def seconds(self) -> dict[str, float]:
        """step -> seconds (the last of a name wins), for an answer over the wire."""
        return {t.step: round(t.seconds, 4) for t in self.entries}

    def total(self) -> float:
        return self.clock() - self.started

    def as_dict(self) -> dict[str, Any]:
        return {"total_seconds": round(self.total(), 3),
                "steps": [t.as_dict() for t in self.entries]}


def seconds_since_process_start(started_ticks: int | None) -> float | None:
    """How long ago this process started (/proc's start time in clock ticks since boot):
    the interpreter's start and the imports, which no step inside the program sees."""
    if started_ticks is None:
        return None
    now = time.clock_gettime(time.CLOCK_BOOTTIME)
    return max(0.0, now - started_ticks / os.sysconf("SC_CLK_TCK"))


def timing_lines(timings: Timings) -> list[str]:
    """The table `--timings` prints: one line per step, details indented, then the total."""
    entries = timings.entries
    width = max([len(_label(t)) for t in entries] + [len("total")])
    lines = ["timings:"]
    for entry in entries:
        lines.append(f"  {_label(entry):<{width}}  {entry.seconds:6.3f} s")
    lines.append(f"  {'total':<{width}}  {timings.total():6.3f} s")
    return lines


def _label(entry: Timing) -> str:
    where = f"[{entry.host}] " if entry.host else ""
    return ("  " if entry.detail else "") + where + entry.step
