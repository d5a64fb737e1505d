"""What to do after a member of a running group failed on this host (pure): the systemd
engine's local recovery, decided by `s2s-sd member failed` (hosts/health.py) each time a
member's unit ends other than by a clean stop.

Pacemaker's semantics, so that administrators who know one know the other: a failure
while the member ran counts; `migration_threshold` failures within `failure_timeout`
(the newest counting back) make the host give the group up: it is stopped here and stays
failed (no automatic failover on the systemd engine: that needs quorum and fencing). A
member that fails its start gives up at once (Pacemaker's start-failure-is-fatal): a move
then rolls back instead of retrying on the target. Threshold 0 never gives up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from s2s_sd.model import DEFAULT_FAILURE_TIMEOUT, DEFAULT_MIGRATION_THRESHOLD, Group


class Action(StrEnum):
    RESTART = "restart"  # systemd restarts the member (Restart=on-failure), and the
    #                      members after it with it
    HOLD = "hold"  # leave it stopped and the rest as it is: frozen, or the group is not up
    GIVE_UP = "give-up"  # stop the group on this host; it stays failed here


@dataclass(frozen=True)
class Situation:
    """What `member failed` found on the host when the member's unit ended."""

    was_ready: bool  # the member had become ready in this run of its unit
    frozen: bool  # s2s-sd freeze GROUP
    group_active: bool  # the group's target is still active (not being stopped)
    assigned_here: bool  # this host's assignment record names this host
    failures: tuple[float, ...]  # times of this member's failures, this one included
    now: float


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    counted: int  # failures within the window


def thresholds(group: Group) -> tuple[int, int]:
    """(migration_threshold, failure_timeout) with the systemd engine's defaults; a
    failure_timeout of 0 means failures never expire (as in Pacemaker)."""
    threshold = (DEFAULT_MIGRATION_THRESHOLD if group.migration_threshold is None
                 else group.migration_threshold)
    window = (DEFAULT_FAILURE_TIMEOUT if group.failure_timeout is None
              else group.failure_timeout)
    return threshold, window


def in_window(failures: Sequence[float], now: float, window: int) -> tuple[float, ...]:
    """The failures that still count: all of them with window 0, else the newer ones."""
    return tuple(sorted(f for f in failures if window == 0 or now - f < window))


def decide(situation: Situation, threshold: int, window: int) -> Decision:
    counted = len(in_window(situation.failures, situation.now, window))
    if situation.frozen:
        return Decision(Action.HOLD, "the group is frozen: not restarted", counted)
    if not situation.was_ready:
        return Decision(Action.GIVE_UP, "it failed to start", counted)
    if not situation.group_active:
        return Decision(Action.HOLD, "the group is not up here: not restarted", counted)
    if not situation.assigned_here:
        # a restart would start the group where it is not assigned: never without the guard
        return Decision(Action.GIVE_UP, "the group is not assigned to this host", counted)
    if threshold and counted >= threshold:
        span = f" within {window} s" if window else ""
        return Decision(Action.GIVE_UP, f"{counted} failures{span} reach migration_threshold "
                        f"{threshold}", counted)
    limit = f" of {threshold}" if threshold else ""
    return Decision(Action.RESTART, f"failure {counted}{limit}: restarting it and the members "
                    "after it", counted)
