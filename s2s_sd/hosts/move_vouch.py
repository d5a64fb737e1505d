"""A move's start vouched for on its target: by the move journal the admin wrote there,
and by the one-time token with which the agent starting the group spares the guard unit
a Python start.

The guard (`s2s-sd guard GROUP`, engines/systemd/guard.py) lets a group start here
without asking the other hosts when a current journal of a move to this host says so:
the admin proved the group down everywhere just before (move_vouches). The agent that
runs that move's start here (start_group) makes the same check in-process, before the
start jobs, and when the journal vouches it leaves a token for the guard unit's helper
(units/s2s-guard). The helper accepts the token only while the process named in it
lives (pid and start time), for TOKEN_SECONDS after it was written, and once (it
removes it); otherwise it
runs `s2s-sd guard GROUP`. That is the same decision from the same records a moment
earlier, for a shell's start instead of a Python program's with its imports (a tenth of
a second of every move's start, and of the client-visible gap).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from s2s_sd import paths
from s2s_sd.errors import Refused
from s2s_sd.hosts import lock as locks
from s2s_sd.hosts import state
from s2s_sd.model import Definitions
from s2s_sd.move_plan import FORWARD_STEPS
from s2s_sd.plan import MoveInProgress, guard_verdict
from s2s_sd.writer import write_file_atomic

JOURNAL_TRUST_SECONDS = 600
# journal steps in which the journal's target may start the group: the admin has just
# proven it down everywhere else
STARTING_STEPS = frozenset(FORWARD_STEPS)
TOKEN_DIR = "guard-vouched"  # below the run dir; units/s2s-guard reads it there
TOKEN_SECONDS = 60  # units/s2s-guard: `find -mmin -1`

Clock = Callable[[], float]
PidAlive = Callable[[int, int | None, str | None], bool]


def journal_current(journal: state.Journal, host: str, now: float,
                    pid_alive: PidAlive) -> bool:
    """A journal entry gives permission only while its move is alive and recent."""
    if now - journal.started > JOURNAL_TRUST_SECONDS:
        return False
    if journal.admin == host:
        return pid_alive(journal.pid, journal.pid_started, journal.boot_id)
    return True


def move_vouches(defs: Definitions, host: str, group_name: str, clock: Clock = time.time,
                 pid_alive: PidAlive = locks.process_alive) -> str | None:
    """Why GROUP may start here as a move's start, or None without a current journal of
    a move to this host; Refused while a journaled move is in another step, or when the
    group may not run here at all."""
    hostgroup = defs.hostgroup.name
    journal = state.read_journal(hostgroup, group_name)
    if journal is None or not journal_current(journal, host, clock(), pid_alive):
        return None
    if journal.step not in STARTING_STEPS:
        raise Refused(f"a move of {group_name} ({journal.source or '-'} -> "
                      f"{journal.target}) is in progress, step {journal.step}")
    move = MoveInProgress(journal.group, journal.source or "-", journal.target)
    assignments = state.read_assignment_state(hostgroup).groups
    verdict = guard_verdict(defs, group_name, host, assignments, move)
    if not verdict.allowed:
        raise Refused(verdict.reason)
    return verdict.reason


def token_path(group_name: str) -> Path:
    return Path(paths.run_dir()) / TOKEN_DIR / group_name


@contextmanager
def vouched_start(defs: Definitions, host: str, group_name: str, clock: Clock = time.time,
                  pid_alive: PidAlive = locks.process_alive) -> Iterator[str | None]:
    """Around a start's jobs: the guard's token while a move's journal vouches for this
    start (the reason), none otherwise (then the guard unit asks the other hosts, or
    refuses with its own words)."""
    try:
        reason = move_vouches(defs, host, group_name, clock, pid_alive)
    except Refused:
        reason = None
    path = token_path(group_name)
    if reason is not None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # one line: the process the helper checks (pid and start time: a reused pid is
        # another process), then what it prints (no newline in reasons)
        pid = os.getpid()
        write_file_atomic(path, f"{pid} {locks.process_start(pid)} "
                                f"{' '.join(reason.split())}\n", 0o600)
    try:
        yield reason
    finally:
        if reason is not None:
            path.unlink(missing_ok=True)
