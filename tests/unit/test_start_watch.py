"""A systemd-engine start prints a line per member as it becomes active, with the seconds
since the start began (hosts/start_watch.py), read by polling while the start blocks."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from s2s_sd.hosts import start_watch
from s2s_sd.hosts.transport import Answer, HostUnreachable
from s2s_sd.naming import member_unit
from tests.unit.scenarios import group

pytestmark = pytest.mark.unit


class Polled:
    """Answers `observe` with one more member active per poll; the first poll fails
    (a slow or broken poll is skipped, never an error of the start)."""

    def __init__(self, name: str) -> None:
        self.group = group(name)
        self.polls = 0
        self.lock = threading.Lock()

    def ask(self, host: str, op: str, args: Mapping[str, Any] | None = None,
            timeout: float = 120) -> Answer:
        assert (op, dict(args or {})) == ("observe", {"groups": [self.group.name],
                                                      "scripts": False})
        with self.lock:
            self.polls += 1
            polls = self.polls
        if polls == 1:
            return Answer(host, error=HostUnreachable(host, "no answer within 10 s"))
        units = {member_unit(self.group.name, s.name): "active" if i < polls - 1
                 else "activating" for i, s in enumerate(self.group.services)}
        return Answer(host, result={"groups": {self.group.name: {"units": units}}})


def test_a_line_per_member_in_order_with_elapsed_seconds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_watch, "POLL_SECONDS", 0.01)
    monkeypatch.setattr(start_watch, "FIRST_POLL_SECONDS", 0.01)
    polled = Polled("censhare")
    lines: list[str] = []
    with start_watch.member_progress(polled, polled.group, "n2",  # type: ignore[arg-type]
                                     lines.append):
        deadline = time.monotonic() + 5
        while polled.polls < len(polled.group.services) + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    names = [s.name for s in polled.group.services]
    assert [line.split()[1] for line in lines] == names
    for line in lines:
        assert line.startswith("  [n2] ") and line.endswith(" s)") and " started (" in line


def test_nothing_more_after_a_failed_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_watch, "FIRST_POLL_SECONDS", 60)  # no poll during the block
    polled = Polled("web")
    lines: list[str] = []
    with pytest.raises(RuntimeError), start_watch.member_progress(
            polled, polled.group, "n1", lines.append):  # type: ignore[arg-type]
        raise RuntimeError("the start failed")
    assert lines == [] and polled.polls == 0


def test_the_start_answer_reports_the_rest_without_another_poll(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_watch, "FIRST_POLL_SECONDS", 60)  # a start faster than a poll
    polled = Polled("web")
    lines: list[str] = []
    units = {member_unit(polled.group.name, s.name): "active" for s in polled.group.services}
    with start_watch.member_progress(polled, polled.group, "n1",  # type: ignore[arg-type]
                                     lines.append) as seen_by_start:
        seen_by_start({"units": units})
    assert [line.split()[1] for line in lines] == [s.name for s in polled.group.services]
    assert polled.polls == 0


class SlowPoll(Polled):
    """Every poll takes a second (an agent still starting on the target)."""

    def ask(self, host: str, op: str, args: Mapping[str, Any] | None = None,
            timeout: float = 120) -> Answer:
        with self.lock:
            self.polls += 1
        time.sleep(1)
        units = {member_unit(self.group.name, s.name): "active" for s in self.group.services}
        return Answer(host, result={"groups": {self.group.name: {"units": units}}})


def test_a_poll_under_way_when_the_start_ends_holds_nothing_up_and_says_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_watch, "FIRST_POLL_SECONDS", 0.01)
    polled = SlowPoll("web")
    lines: list[str] = []
    with start_watch.member_progress(polled, polled.group, "n2",  # type: ignore[arg-type]
                                     lines.append):
        while polled.polls == 0:
            time.sleep(0.005)
        began = time.monotonic()
    assert time.monotonic() - began < 0.5
    time.sleep(1.2)  # the poll ends meanwhile
    assert lines == []
