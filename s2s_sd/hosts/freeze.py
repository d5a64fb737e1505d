"""Frozen groups (`s2s-sd freeze GROUP`): while a group is frozen, s2s-sd changes nothing
of it: no local restart by its monitor, no guard-initiated start, no move, start or stop.
The mark is a file in the host group's state dir on every host, so each host's own
monitor sees it without asking the admin host (which may be down)."""

from __future__ import annotations

from s2s_sd.hosts import state

FROZEN_PREFIX = "frozen-"


def is_frozen(hostgroup: str, group: str) -> bool:
    """Whether the group is frozen on this host."""
    return (state.state_dir(hostgroup) / f"{FROZEN_PREFIX}{group}").is_file()
