"""Tools tier: the warm agent server (`s2s-sd agent --serve`, cli/agent_server.py) and
its connector (units/s2s-agent-connect), as real processes on a real Unix socket in a
throw-away run dir: a session through them answers exactly as `s2s-sd agent` does, runs
in a child of the server, and exits with its status; without a server the connector runs
the agent itself; a handover for anything but an agent session is dropped, and the server
goes on serving."""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from s2s_sd.hosts.protocol import PROTOCOL_VERSION
from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.tools

CONNECTOR = REPO / "s2s_sd" / "units" / "s2s-agent-connect"
PROGRAM = str(Path(sys.executable).with_name("s2s-sd"))
AGENT = ["agent", "--basedir", str(EXAMPLES), "--stream"]


def request(op: str, **args: object) -> str:
    return json.dumps({"version": PROTOCOL_VERSION, "op": op, "args": args}) + "\n"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def server(run_dir: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([PROGRAM, "agent", "--serve"], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "S2S_SD_RUNDIR": str(run_dir)})
    assert process.stdout is not None
    line = process.stdout.readline()  # it says so once it listens
    assert "listening on" in line, line
    yield process
    process.terminate()
    process.wait(timeout=10)


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def connect(run_dir: Path, socket_name: str = "agent.sock") -> subprocess.Popen[str]:
    return subprocess.Popen([str(CONNECTOR), str(run_dir / socket_name), PROGRAM, *AGENT],
                            text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def ask(session: subprocess.Popen[str], line: str) -> dict[str, object]:
    assert session.stdin is not None and session.stdout is not None
    session.stdin.write(line)
    session.stdin.flush()
    answer: dict[str, object] = json.loads(session.stdout.readline())
    return answer


def test_a_session_through_the_server_runs_in_its_child(
        server: subprocess.Popen[str], run_dir: Path) -> None:
    plain = subprocess.run([PROGRAM, *AGENT], input=request("pid_alive", pid=1),
                           capture_output=True, text=True, check=True).stdout
    session = connect(run_dir)
    try:
        assert ask(session, request("pid_alive", pid=1)) == json.loads(plain)
        # the answer came from a fork of the server, not from a program of its own
        served = children(server.pid)
        assert len(served) == 1
        assert Path(f"/proc/{served[0]}/cmdline").read_bytes() == \
            Path(f"/proc/{server.pid}/cmdline").read_bytes()
        assert ask(session, request("nope"))["kind"] == "bad_input"
    finally:
        _out, err = session.communicate(timeout=30)
    assert session.returncode == 0, err
    deadline = time.monotonic() + 10
    while children(server.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children(server.pid) == []


def test_the_sessions_exit_status_comes_back(server: subprocess.Popen[str],
                                             run_dir: Path) -> None:
    one_shot = subprocess.run(
        [str(CONNECTOR), str(run_dir / "agent.sock"), PROGRAM, "agent", "--basedir",
         str(EXAMPLES)], input=request("nope"), capture_output=True, text=True, timeout=30)
    assert one_shot.returncode == 2, one_shot.stderr  # bad input, as `s2s-sd agent` says
    assert json.loads(one_shot.stdout)["kind"] == "bad_input"


def test_without_a_server_the_connector_runs_the_agent(run_dir: Path) -> None:
    session = connect(run_dir, "no-server.sock")
    try:
        assert ask(session, request("pid_alive", pid=1))["ok"] is True
        # the connector became the agent (exec): the same process answers
        cmdline = Path(f"/proc/{session.pid}/cmdline").read_bytes().split(b"\0")
        assert b"agent" in cmdline and b"--stream" in cmdline
    finally:
        session.communicate(timeout=30)
    assert session.returncode == 0


@pytest.mark.parametrize("argv", [["vip", "up", "10.0.0.1/24"], ["agent", "--serve"], []])
def test_only_agent_sessions_are_served(server: subprocess.Popen[str], run_dir: Path,
                                        argv: list[str]) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.settimeout(10)
        raw.connect(str(run_dir / "agent.sock"))
        assert raw.recv(4096).startswith(b"ready ")
        handover = json.dumps({"argv": argv, "env": {}, "cwd": "/", "umask": 0o22})
        with open(os.devnull, "rb") as null:
            fds = [null.fileno()] * 3
            raw.sendmsg([handover.encode() + b"\n"],
                       [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        assert raw.recv(64) == b""  # dropped: no child, no exit status
    assert children(server.pid) == []
    # and it goes on serving
    session = connect(run_dir)
    try:
        assert ask(session, request("pid_alive", pid=1))["ok"] is True
    finally:
        session.communicate(timeout=30)


def test_a_session_outlives_its_server(server: subprocess.Popen[str], run_dir: Path) -> None:
    """A restart (an upgrade) or a crash of the server ends the server only: a session it
    started goes on answering, and its end still reaches the connector."""
    session = connect(run_dir)
    try:
        assert ask(session, request("pid_alive", pid=1))["ok"] is True
        server.kill()
        server.wait(timeout=10)
        assert ask(session, request("pid_alive", pid=1))["ok"] is True
    finally:
        _out, err = session.communicate(timeout=30)
    assert session.returncode == 0, err


def test_a_session_of_another_program_runs_as_its_own(server: subprocess.Popen[str],
                                                     run_dir: Path, tmp_path: Path) -> None:
    """The server serves sessions of the program it runs; another install's (a site's
    S2S_SD_REMOTE_COMMAND) runs that program itself."""
    other = tmp_path / "other-s2s-sd"
    other.write_text(f"#!/bin/sh\nexec {PROGRAM} \"$@\"\n")
    other.chmod(0o755)
    session = subprocess.Popen([str(CONNECTOR), str(run_dir / "agent.sock"), str(other),
                                *AGENT], text=True, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert ask(session, request("pid_alive", pid=1))["ok"] is True
        assert children(server.pid) == []
    finally:
        session.communicate(timeout=30)
    assert session.returncode == 0
