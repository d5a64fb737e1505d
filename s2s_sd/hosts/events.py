"""Events of a group's life on this host (failure, local restart, give-up, move, alarm):
one line in the host's actions.log and, when the definitions name one, a run of the
notify hook, like a Pacemaker alert agent.

The hook gets the event as arguments and as environment, so a one-line shell script can
forward it to mail, a pager or a ticket system:

    hooks/notify EVENT GROUP MEMBER HOST REASON
    S2S_EVENT, S2S_GROUP, S2S_MEMBER, S2S_HOST, S2S_REASON, S2S_SD_BASEDIR

MEMBER is empty for an event of the whole group. The hook runs with a timeout and its
failure is logged, never raised: a broken pager must not stop a recovery or a move.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from s2s_sd.errors import OperationFailed
from s2s_sd.hosts import state
from s2s_sd.model import Definitions
from s2s_sd.run import run

NOTIFY_TIMEOUT = 30


@dataclass(frozen=True)
class Event:
    event: str  # a word: "failure", "restart", "give-up", "moved", "concurrency", ...
    group: str
    member: str | None
    host: str
    reason: str

    def line(self) -> str:
        """The event as one actions.log line (after the host and host group)."""
        what = f"{self.group}/{self.member}" if self.member else self.group
        return f"event {self.event} {what}: {self.reason}"


def notify_hook(defs: Definitions, basedir: Path) -> Path | None:
    """The host group's notify hook (`[hostgroup] notify`, host twin resolved), if any."""
    notify = defs.hostgroup.notify
    return basedir / defs.resolved(notify) if notify else None


def emit(hostgroup: str, event: Event, notify_hook: Path | None, basedir: Path) -> None:
    """Log the event on this host and run the notify hook, if any, with it."""
    state.log_action(hostgroup, event.host, event.line())
    if notify_hook is None:
        return
    env = {"S2S_EVENT": event.event, "S2S_GROUP": event.group,
           "S2S_MEMBER": event.member or "", "S2S_HOST": event.host,
           "S2S_REASON": event.reason, "S2S_SD_BASEDIR": str(basedir),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    argv = [str(notify_hook), event.event, event.group, event.member or "", event.host,
            event.reason]
    try:
        result = run(argv, check=False, env=env, timeout=NOTIFY_TIMEOUT, cwd=str(basedir))
    except (OperationFailed, OSError) as exc:  # timed out or not executable
        state.log_action(hostgroup, event.host, f"notify hook failed for {event.event} "
                         f"of {event.group}: {exc}")
        return
    if not result.ok:
        output = (result.stdout + result.stderr).strip()[-500:]
        state.log_action(hostgroup, event.host, f"notify hook failed for {event.event} "
                         f"of {event.group} (exit {result.returncode}): {output}")
