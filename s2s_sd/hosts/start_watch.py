"""Progress of a group's start on one host (systemd engine): a line per member as it
becomes active, with the seconds since the start began.

The start itself is one blocking request to the target's agent (it returns when systemd
has finished the target's start job, or after up to an hour). Rather than change the
agent protocol to stream, the admin watches from beside it: a second transport (its own
agent session per host; over ssh it rides the same shared connection, so it costs no
handshake) asks the target for the group's unit states every half second, without the
scripts' monitors, and says which members came up. The watch only reads; a failed or
slow poll is skipped, never an error of the start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from s2s_sd.hosts.transport import Transport
from s2s_sd.model import Group
from s2s_sd.naming import member_unit

POLL_SECONDS = 0.5


def active_members(group: Group, units: dict[str, str]) -> list[str]:
    """The members whose unit is active, in member order."""
    return [s.name for s in group.services
            if units.get(member_unit(group.name, s.name)) == "active"]


@contextmanager
def member_progress(transport: Transport, group: Group, host: str,
                    progress: Callable[[str], None],
                    clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """While the block runs (the start), print `  [HOST] MEMBER started (N.N s)` for each
    member that became active; one last look after it, so the last ones are not missed."""
    started = clock()
    done = threading.Event()
    reported: set[str] = set()

    def look() -> None:
        answer = transport.ask(host, "observe", {"groups": [group.name], "scripts": False},
                               timeout=10)
        if not answer.ok:
            return
        units = answer.value().get("groups", {}).get(group.name, {}).get("units", {})
        for name in active_members(group, units):
            if name not in reported:
                reported.add(name)
                progress(f"  [{host}] {name} started ({clock() - started:.1f} s)")

    def watch() -> None:
        while not done.wait(POLL_SECONDS):
            look()

    watcher = threading.Thread(target=watch, name=f"watch {group.name}@{host}", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
    look()  # not after a failed start: its host may be gone, and the failure says enough
