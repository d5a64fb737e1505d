"""The one polling loop of the Pacemaker engine (crm_tools.wait_until), on a scripted
clock: met at the first look, a failure that ends the wait, the timeout and its message."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from s2s_sd.engines.pacemaker.crm_tools import wait_until

pytestmark = pytest.mark.unit


class Clock:
    """A monotonic clock that moves only when the wait sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def looks(*seen: str) -> Iterator[str]:
    yield from seen
    raise AssertionError("looked once more than the script")


def test_met_at_the_first_look_does_not_sleep() -> None:
    clock = Clock()
    script = looks("up")
    waited = wait_until(lambda: next(script), lambda seen: seen == "up", 10,
                        clock=clock, sleep=clock.sleep)
    assert waited.met and waited.why_not == "" and waited.last == "up"
    assert clock.sleeps == []


def test_met_after_polls_at_the_interval() -> None:
    clock = Clock()
    script = looks("down", "starting", "up")
    waited = wait_until(lambda: next(script), lambda seen: seen == "up", 10, interval=0.5,
                        clock=clock, sleep=clock.sleep)
    assert waited.met and waited.last == "up"
    assert clock.sleeps == [0.5, 0.5]


def test_a_failure_ends_the_wait_with_its_description() -> None:
    clock = Clock()
    script = looks("starting", "failed: start of db on n3")
    waited = wait_until(lambda: next(script), lambda seen: seen == "up", 10,
                        failed=lambda seen: seen.removeprefix("failed: ")
                        if seen.startswith("failed") else "",
                        clock=clock, sleep=clock.sleep)
    assert not waited.met
    assert waited.why_not == "start of db on n3"
    assert waited.last == "failed: start of db on n3"


def test_done_wins_over_a_failure_seen_at_the_same_look() -> None:
    waited = wait_until(lambda: "up", lambda seen: True, 10, failed=lambda seen: "old failure")
    assert waited.met


def test_the_timeout_says_so_with_the_last_thing_seen() -> None:
    clock = Clock()
    waited = wait_until(lambda: f"down at {clock.now:.1f}", lambda seen: False, 1.0,
                        interval=0.25, clock=clock, sleep=clock.sleep)
    assert not waited.met
    assert waited.why_not == "timeout after 1 s"
    # it looks once more after the last sleep: a condition met just in time counts
    assert clock.sleeps == [0.25] * 4
    assert waited.last == "down at 101.0"


def test_a_zero_timeout_looks_once() -> None:
    clock = Clock()
    waited = wait_until(lambda: "down", lambda seen: False, 0, clock=clock, sleep=clock.sleep)
    assert (waited.met, waited.why_not, clock.sleeps) == (False, "timeout after 0 s", [])
