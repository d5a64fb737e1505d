"""Progress of a group's start on one host (systemd engine): a line per member as it
becomes active, with the seconds since the start began.

The start itself is one blocking request to the target's agent (it returns when systemd
has finished the target's start job, or after up to an hour). Rather than change the
agent protocol to stream, the admin watches from beside it: a second transport (its own
agent session per host; over ssh it rides the same shared connection, so it costs no
handshake) asks the target for the group's unit states every half second, without the
scripts' monitors, and says which members came up; the start's own answer reports the
rest. The watch only reads; a failed or slow poll is skipped, never an error of the start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from s2s_sd.hosts.transport import Transport
from s2s_sd.model import Group
from s2s_sd.naming import member_unit

POLL_SECONDS = 0.5
# The first look only after this: a poll of a remote target starts an agent there, whose
# Python start competes for that host's CPU with the very start it watches; a start
# faster than this is reported from the start's own answer, without one.
FIRST_POLL_SECONDS = 1.0


def active_members(group: Group, units: Mapping[str, str]) -> list[str]:
    """The members whose unit is active, in member order."""
    return [s.name for s in group.services
            if units.get(member_unit(group.name, s.name)) == "active"]


@contextmanager
def member_progress(transport: Transport, group: Group, host: str,
                    progress: Callable[[str], None],
                    clock: Callable[[], float] = time.monotonic
                    ) -> Iterator[Callable[[Mapping[str, Any] | None], None]]:
    """While the block runs (the start), print `  [HOST] MEMBER started (N.N s)` for each
    member that became active. The block hands the start's own answer (its observation)
    to the function it is given, so the last members are reported without another poll:
    a start faster than one poll then costs no second agent session at all."""
    started = clock()
    done = threading.Event()
    reported: set[str] = set()
    reporting = threading.Lock()
    ended: list[bool] = []  # the block is over: a poll still under way says nothing

    def report(units: Mapping[str, str]) -> None:
        with reporting:
            if ended:
                return
            for name in active_members(group, units):
                if name not in reported:
                    reported.add(name)
                    progress(f"  [{host}] {name} started ({clock() - started:.1f} s)")

    def look() -> None:
        answer = transport.ask(host, "observe", {"groups": [group.name], "scripts": False},
                               timeout=10)
        if answer.ok:
            report(answer.value().get("groups", {}).get(group.name, {}).get("units", {}))

    def seen_by_start(observation: Mapping[str, Any] | None) -> None:
        done.set()  # no further poll; one under way may still report, never twice
        report(dict((observation or {}).get("units") or {}))

    def watch() -> None:
        wait = FIRST_POLL_SECONDS
        while not done.wait(wait):
            look()
            wait = POLL_SECONDS

    watcher = threading.Thread(target=watch, name=f"watch {group.name}@{host}", daemon=True)
    watcher.start()
    try:
        yield seen_by_start
    finally:
        done.set()
        with reporting:
            ended.append(True)
        # not joined: a poll under way (an agent still starting on the target) must not
        # hold the move up; it ends with its session, and says nothing any more
