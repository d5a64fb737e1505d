"""The transport remembers a host found unreachable for the rest of the command
(issue 14): one connect timeout per dead host and command, first contacts in parallel.
The real `Transport` and `AgentSession` run here; only ssh is replaced by a program that
fails or answers the way ssh does."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from s2s_sd.hosts.transport import Answer, HostUnreachable, Transport
from tests.unit.scenarios import definitions

pytestmark = pytest.mark.unit

# ssh's own way to fail: its complaint on stderr, exit 255, nothing on stdout
DEAD = ["sh", "-c", "echo 'ssh: connect to host n1 port 22: No route to host' >&2; exit 255"]
# an agent that answers every request line with ok and the op it was asked
ALIVE = [sys.executable, "-c",
         "import json, sys\n"
         "for line in sys.stdin:\n"
         "    op = json.loads(line)['op']\n"
         "    print(json.dumps({'ok': True, 'result': {'op': op}}), flush=True)\n"]
# a connection shared with a master whose peer died: the request gets no answer at all
SILENT = ["sleep", "60"]


def not_here(op: str, _args: Mapping[str, Any]) -> dict[str, Any]:
    return {"local": op}


class ProgramTransport(Transport):
    """The real transport, with each host's "ssh" replaced by a program; counts spawns."""

    def __init__(self, programs: Mapping[str, list[str]]) -> None:
        super().__init__(definitions(), "n3", Path("/nonexistent"), not_here)
        self.programs = dict(programs)
        self.spawned: list[str] = []

    def ssh_argv(self, host: str, stream: bool = False) -> list[str]:
        self.spawned.append(host)
        return self.programs[host]


def test_a_dead_host_is_tried_once_then_answered_from_memory() -> None:
    transport = ProgramTransport({"n1": DEAD, "n2": ALIVE})
    try:
        first = transport.ask("n1", "state")
        assert first.unreachable and "No route to host" in str(first.error)
        for op in ("lock_acquire", "observe", "set_assignments", "journal_clear"):
            again = transport.ask("n1", op)
            assert isinstance(again.error, HostUnreachable)
            assert "No route to host (found so at " in again.error.reason
        assert transport.spawned == ["n1"], "one ssh for the dead host, not one per request"
        assert transport.call("n2", "observe") == {"op": "observe"}
        assert transport.ask("n3", "state").value() == {"local": "state"}
    finally:
        transport.close()


def test_a_fresh_try_goes_out_again() -> None:
    transport = ProgramTransport({"n1": DEAD})
    try:
        transport.ask("n1", "state")
        transport.programs["n1"] = ALIVE  # it came back
        assert transport.ask("n1", "state").unreachable
        assert transport.ask("n1", "state", fresh=True).value() == {"op": "state"}
        assert transport.ask("n1", "observe").ok, "reached again: no longer remembered"
        assert transport.spawned == ["n1", "n1"]
    finally:
        transport.close()


def test_no_answer_within_the_timeout_counts_as_unreachable() -> None:
    transport = ProgramTransport({"n1": SILENT})
    try:
        began = time.monotonic()
        answer = transport.ask("n1", "state", timeout=0.3)
        assert answer.unreachable and "no answer within" in str(answer.error)
        assert transport.ask("n1", "observe", timeout=30).unreachable
        assert time.monotonic() - began < 5, "the second request waited again"
    finally:
        transport.close()


def test_first_contact_reaches_the_hosts_at_once_and_only_once() -> None:
    transport = ProgramTransport({"n1": SILENT, "n2": SILENT, "n3": ALIVE})
    try:
        began = time.monotonic()
        answers = transport.first_contact(["n1", "n2", "n3"], "state", {}, timeout=1.0)
        elapsed = time.monotonic() - began
        assert [h for h, a in answers.items() if a.unreachable] == ["n1", "n2"]
        assert answers["n3"].value() == {"local": "state"}
        assert elapsed < 1.8, f"the two timeouts added up: {elapsed:.1f} s"
        assert transport.first_contact(["n1", "n2", "n3"], "state", {}) == {}
    finally:
        transport.close()


def test_concurrent_requests_to_a_dead_host_are_remembered_once() -> None:
    transport = ProgramTransport({"n1": DEAD})
    answers: list[Answer] = []
    threads = [threading.Thread(target=lambda: answers.append(transport.ask("n1", "state")))
               for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(answers) == 4 and all(a.unreachable for a in answers)
        assert json.dumps(sorted(transport.unreached)) == '["n1"]'
    finally:
        transport.close()
