"""Properties of the local recovery decision (recovery.py) over any situation: a frozen
group is never touched, a restart happens only where the group runs and is assigned and
the member had become ready, and migration_threshold failures within failure_timeout
always give up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.recovery import Action, Situation, decide, in_window

pytestmark = pytest.mark.unit

situations = st.builds(
    Situation, was_ready=st.booleans(), frozen=st.booleans(), group_active=st.booleans(),
    assigned_here=st.booleans(),
    failures=st.lists(st.floats(0, 10_000, allow_nan=False), max_size=20).map(tuple),
    now=st.floats(0, 20_000, allow_nan=False))


@given(situations, st.integers(0, 50), st.integers(0, 5_000))
def test_fuzz_recovery_decision(situation: Situation, threshold: int, window: int) -> None:
    decision = decide(situation, threshold, window)
    counted = len(in_window(situation.failures, situation.now, window))
    assert decision.counted == counted
    if situation.frozen:
        assert decision.action is Action.HOLD
        return
    if decision.action is Action.RESTART:
        assert situation.was_ready and situation.group_active and situation.assigned_here
        assert threshold == 0 or counted < threshold
    healthy = situation.was_ready and situation.group_active and situation.assigned_here
    if healthy:
        gives_up = threshold > 0 and counted >= threshold
        assert decision.action is (Action.GIVE_UP if gives_up else Action.RESTART)
    assert decision.reason
