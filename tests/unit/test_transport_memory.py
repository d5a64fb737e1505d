"""The transport remembers a host found unreachable for the rest of the command
(issue 14): one connect timeout per dead host and command, first contacts in parallel; and
it tells a dead host (or a stale shared connection) from a live one slow to answer.
The real `Transport` and `AgentSession` run here; only ssh is replaced by a program that
fails or answers the way ssh does, and `ssh -O check|exit` by programs that say whether
a master runs and record that it was ended."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from s2s_sd.hosts.transport import (
    CONNECT_TIMEOUT_SECONDS,
    SESSION_HELLO,
    Answer,
    HostUnreachable,
    NoSession,
    Transport,
)
from tests.unit.scenarios import definitions

pytestmark = pytest.mark.unit

# ssh's own way to fail: its complaint on stderr, exit 255, nothing on stdout
DEAD = ["sh", "-c", "echo 'ssh: connect to host n1 port 22: No route to host' >&2; exit 255"]
# the new connection's TCP connect times out: ssh gives up after its ConnectTimeout
# (CONNECTING seconds here) with its complaint, exit 255
CONNECTING = 0.4
NEVER_CONNECTS = ["sh", "-c", f"sleep {CONNECTING}; echo 'ssh: connect to host n1 port 22: "
                  "Connection timed out' >&2; exit 255"]


def agent(delay: float = 0) -> list[str]:
    """A live host: its shell says the hello at once, its agent starts after `delay`
    seconds, then answers every request line with ok and the op it was asked."""
    return [sys.executable, "-c",
            "import json, sys, time\n"
            f"print({SESSION_HELLO!r}, flush=True)\n"
            f"time.sleep({delay})\n"
            "for line in sys.stdin:\n"
            "    op = json.loads(line)['op']\n"
            "    print(json.dumps({'ok': True, 'result': {'op': op}}), flush=True)\n"]


ALIVE = agent()
# nothing at all, not even the hello: a session through a master whose peer died
SILENT = ["sleep", "60"]
# the connect timeout of these tests (the real one is CONNECT_TIMEOUT_SECONDS)
CONNECT_TIMEOUT = 0.4


def not_here(op: str, _args: Mapping[str, Any]) -> dict[str, Any]:
    return {"local": op}


class ProgramTransport(Transport):
    """The real transport, with each host's "ssh" replaced by a program; counts spawns.
    `masters`: the hosts with a running master (`ssh -O check` succeeds); `ssh -O exit`
    writes the host's name to `self.ended`, a file."""

    connect_timeout = CONNECT_TIMEOUT

    def __init__(self, programs: Mapping[str, list[str]], masters: tuple[str, ...] = (),
                 ended: Path | None = None) -> None:
        super().__init__(definitions(), "n3", Path("/nonexistent"), not_here)
        self.programs = dict(programs)
        self.masters = masters
        self.ended = ended or Path("/dev/null")
        self.spawned: list[str] = []

    def ssh_argv(self, host: str, stream: bool = False) -> list[str]:
        self.spawned.append(host)
        return self.programs[host]

    def master_argv(self, host: str, command: str) -> list[str]:
        if command == "check":
            return ["true" if host in self.masters else "false"]
        assert command == "exit", command
        return ["sh", "-c", 'echo "$0" >> "$1"', host, str(self.ended)]


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
    # a new connection (no master): ssh bounds the connect, the request's timeout the rest
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
    transport = ProgramTransport({"n1": SILENT, "n2": SILENT, "n3": ALIVE},
                                 masters=("n1",))
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


def four_at_once(transport: Transport, host: str) -> list[Answer]:
    """`state` asked of `host` by four threads at once."""
    answers: list[Answer] = []
    threads = [threading.Thread(target=lambda: answers.append(transport.ask(host, "state")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_requests_to_a_dead_host_are_remembered_once() -> None:
    transport = ProgramTransport({"n1": DEAD})
    try:
        answers = four_at_once(transport, "n1")
        assert len(answers) == 4 and all(a.unreachable for a in answers)
        assert json.dumps(sorted(transport.unreached)) == '["n1"]'
    finally:
        transport.close()


def test_a_live_host_slow_to_answer_is_not_taken_for_dead(tmp_path: Path) -> None:
    """Issue 14: connected is not answered. The session says its hello at once, the agent
    answers three connect timeouts later (a loaded host): alive, through a master too."""
    ended = tmp_path / "ended"
    slow = agent(delay=3 * CONNECT_TIMEOUT)
    transport = ProgramTransport({"n1": slow, "n2": slow}, masters=("n1",), ended=ended)
    try:
        began = time.monotonic()
        answers = transport.first_contact(["n1", "n2"], "state", {}, timeout=10)
        elapsed = time.monotonic() - began
        assert {h: a.value() for h, a in answers.items()} == {
            "n1": {"op": "state"}, "n2": {"op": "state"}}
        assert elapsed > 2 * CONNECT_TIMEOUT, "the agent did not start late: no proof"
        assert transport.unreached == {} and transport.answered == {"n1", "n2"}
        assert transport.call("n1", "observe") == {"op": "observe"}
        assert sorted(transport.spawned) == ["n1", "n2"] and not ended.exists()
    finally:
        transport.close()


def test_a_host_that_never_connects_is_dead_within_the_connect_timeout(
        tmp_path: Path) -> None:
    """A new connection to a dead host: ssh's own ConnectTimeout ends it, with ssh's
    reason; nothing waits longer, no master is ended (none ran), nothing is asked again."""
    ended = tmp_path / "ended"
    transport = ProgramTransport({"n1": NEVER_CONNECTS, "n2": ALIVE}, ended=ended)
    try:
        began = time.monotonic()
        answers = transport.first_contact(["n1", "n2"], "state", {}, timeout=30)
        elapsed = time.monotonic() - began
        assert answers["n1"].unreachable and "Connection timed out" in str(answers["n1"].error)
        assert answers["n2"].ok
        # far from the request's 30 s (the margin is for a loaded test machine)
        assert elapsed < CONNECTING + 2, f"{elapsed:.2f} s for ssh's {CONNECTING} s"
        assert "not asked again" in str(transport.ask("n1", "lock_acquire").error)
        assert sorted(transport.spawned) == ["n1", "n2"] and not ended.exists()
    finally:
        transport.close()


def test_a_stale_master_is_dead_within_the_connect_timeout_and_ended(tmp_path: Path) -> None:
    """A crashed peer leaves its master running with a dead TCP connection: a session
    through it hangs without a byte. The host is dead after the connect timeout (not the
    request's 30 s, not the master's keepalives), the master is ended so that the next
    command connects anew, and nothing is asked of the host again in this command."""
    ended = tmp_path / "ended"
    transport = ProgramTransport({"n1": SILENT, "n2": ALIVE}, masters=("n1", "n2"),
                                 ended=ended)
    try:
        began = time.monotonic()
        answers = transport.first_contact(["n1", "n2"], "state", {}, timeout=30)
        elapsed = time.monotonic() - began
        error = answers["n1"].error
        assert isinstance(error, NoSession) and "shared connection" in str(error), error
        assert answers["n2"].value() == {"op": "state"}
        # far from the request's 30 s (the margin is for a loaded test machine)
        assert CONNECT_TIMEOUT <= elapsed < CONNECT_TIMEOUT + 2, f"{elapsed:.2f} s"
        assert ended.read_text() == "n1\n", "the stale master of n1 (only) was ended"
        for op in ("lock_acquire", "observe"):
            assert "not asked again" in str(transport.ask("n1", op, timeout=30).error)
        assert sorted(transport.spawned) == ["n1", "n2"]
    finally:
        transport.close()


def test_the_remote_command_says_the_hello_before_the_agent_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real ssh argv: the connect timeout and keepalives set, and a remote command line
    that a POSIX shell (as sshd runs it) turns into the hello, then exactly the agent's
    argv, whatever the base dir holds."""
    program = tmp_path / "s2s-sd"
    program.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import json, sys; "
                       "print(json.dumps(sys.argv[1:]))' \"$@\"\n")
    program.chmod(0o755)
    monkeypatch.setenv("S2S_SD_REMOTE_COMMAND", str(program))
    monkeypatch.setenv("S2S_SD_RUNDIR", str(tmp_path / "run dir"))
    helpers = tmp_path / "helpers"
    monkeypatch.setenv("S2S_SD_HELPER_DIR", str(helpers))
    basedir = Path("/etc/s2s sd/$(touch injected); 'x'")
    transport = Transport(definitions(), "n3", basedir, not_here)
    argv = transport.ssh_argv("n1", stream=True)
    assert argv[0] == "ssh" and argv[-2] == "--"
    assert f"ConnectTimeout={CONNECT_TIMEOUT_SECONDS}" in argv
    assert "ServerAliveInterval=5" in argv and "ControlMaster=auto" in argv
    agent_argv = ["agent", "--basedir", str(basedir), "--stream"]

    def remote_shell() -> list[str]:
        return subprocess.run(["sh", "-c", argv[-1]], capture_output=True, text=True,
                              cwd=tmp_path, check=True).stdout.splitlines()

    # no connector installed (a host not synced since): the agent runs as a program
    assert remote_shell() == [SESSION_HELLO, json.dumps(agent_argv)]
    # with one: the connector gets the server's socket, then the whole fallback argv
    helpers.mkdir()
    connector = helpers / "s2s-agent-connect"
    connector.write_text(program.read_text())
    connector.chmod(0o755)
    assert remote_shell() == [SESSION_HELLO, json.dumps(
        [str(tmp_path / "run dir" / "agent.sock"), str(program), *agent_argv])]
    assert not (tmp_path / "injected").exists()
    assert shlex.split(argv[-1])[:2] == ["echo", SESSION_HELLO + ";"]
    assert argv[-3] == transport.address("n1")
    assert transport.master_argv("n1", "exit")[-3:] == ["-O", "exit", argv[-3]]


def test_concurrent_requests_to_a_new_host_share_one_session() -> None:
    """The master check runs outside the transport's lock: requests racing through it
    still open one session, not one each (a session left behind would never be closed)."""
    transport = ProgramTransport({"n1": ALIVE}, masters=("n1",))
    try:
        answers = four_at_once(transport, "n1")
        assert [a.value() for a in answers] == [{"op": "state"}] * 4
        assert transport.spawned == ["n1"]
    finally:
        transport.close()
