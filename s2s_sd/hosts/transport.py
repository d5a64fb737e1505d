"""Reaching the hosts of a host group.

The admin host acts on itself directly (in-process) and on every other host over
OpenSSH by running `s2s-sd agent` there: one JSON request on stdin, one JSON answer on
stdout. ssh runs with BatchMode (no password prompts) and StrictHostKeyChecking (an
unknown or changed host key is an error naming the host, never a silent accept), and
shares one connection per host (ControlMaster) so the many small requests of a move
cost milliseconds, not handshakes. Hosts are contacted in parallel.

Connected is not the same as answered. The remote shell says SESSION_HELLO as soon as
the session runs there, before the agent (a Python program, slow to start on a loaded
host) imports anything; a host that said it is alive, however long its agent then takes
to answer. A new connection to a dead host fails by itself within the connect timeout
(ssh's ConnectTimeout covers the TCP connection and the key exchange). A session through
a running master (ControlMaster) has no such bound: when the master's peer crashed it
hangs until the master's keepalives give up, 10 to 15 s later. Such a session must say
the hello within the connect timeout, or its host counts as dead and the master is ended
(`ssh -O exit`), so that the next command connects anew instead of hanging on it again.

A host found unreachable (connect failed, connection closed, no session or no answer in
time) is remembered for the life of the transport, i.e. of one command: every later
request to it gets the same answer at once, naming when and why, unless the caller asks
for a fresh try. A dead host so costs one connect timeout per command, not one per
request (a forced move after a crash took 26 s when every request waited out the timeout
again).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_sd import paths
from s2s_sd.errors import BadInput, OperationFailed, Refused, S2SError
from s2s_sd.hosts.protocol import MAX_REQUEST_BYTES, PROTOCOL_VERSION
from s2s_sd.model import Definitions
from s2s_sd.run import PIPE, run, spawn

REMOTE_COMMAND_ENV = paths.REMOTE_COMMAND.env
SSH_EXTRA_ENV = "S2S_SD_SSH_OPTIONS"
CONNECT_TIMEOUT_SECONDS = 5
# The first line of every session, said by the remote shell before it starts the agent:
# the session runs on a live host (fixed text; the words of the command are quoted)
SESSION_HELLO = "s2s-sd-session"
# A command's first request to a host that said SESSION_HELLO must be answered within
# this: the host is alive, only loaded (in a loaded CI lab a node's agent took over 5 s
# to start and answer), and a live host taken for a dead one makes a move refuse and a
# sync skip it. The same allowance as any later `state` request.
FIRST_ANSWER_SECONDS = 30
CONNECTOR_PYTHON = "/usr/bin/python3"  # units/s2s-agent-connect's interpreter


def remote_command() -> str:
    """The s2s-sd program on the other hosts."""
    return paths.remote_command()


def ssh_command(sharing: Sequence[str]) -> list[str]:
    """ssh as every connection of s2s-sd runs it: no prompts, host keys checked, as root,
    the site's own S2S_SD_SSH_OPTIONS last; `sharing`: its ControlMaster options."""
    return ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT_SECONDS}", "-o", "ServerAliveInterval=5",
            "-o", "ServerAliveCountMax=2", *sharing, "-l", "root",
            *shlex.split(os.environ.get(SSH_EXTRA_ENV, ""))]


class HostUnreachable(OperationFailed):
    def __init__(self, host: str, reason: str) -> None:
        self.host = host
        self.reason = reason
        super().__init__(f"{host}: unreachable: {reason}")


class NoSession(HostUnreachable):
    """No SESSION_HELLO within the connect timeout through a running master: its peer is
    gone (the master has not noticed yet)."""


@dataclass(frozen=True)
class Unreached:
    """A host found unreachable in this command: why, and when (the wall clock)."""

    reason: str
    found: float

    def error(self, host: str) -> HostUnreachable:
        when = time.strftime("%H:%M:%S", time.localtime(self.found))
        return HostUnreachable(host, f"{self.reason} (found so at {when}, not asked again)")


@dataclass(frozen=True)
class Answer:
    """The outcome of one request to one host: a result or an error."""

    host: str
    result: dict[str, Any] | None = None
    error: S2SError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def unreachable(self) -> bool:
        return isinstance(self.error, HostUnreachable)

    def value(self) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


LocalHandler = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def error_to_wire(error: S2SError) -> dict[str, Any]:
    kind = ("bad_input" if isinstance(error, BadInput) else
            "refused" if isinstance(error, Refused) else "failed")
    return {"ok": False, "kind": kind, "message": str(error)}


def error_from_wire(host: str, answer: Mapping[str, Any]) -> S2SError:
    message = f"{host}: {answer.get('message', 'unknown error')}"
    kind = answer.get("kind")
    if kind == "bad_input":
        return BadInput(message)
    if kind == "refused":
        return Refused(message)
    return OperationFailed(message)


class AgentSession:
    """One `s2s-sd agent --stream` over ssh: many requests, one process start.

    The session's first line is SESSION_HELLO; then every request is one JSON line, every
    answer one JSON line. `connect_timeout` (a session through a running master): the
    session's first byte must come within it from the session's start, whatever a request
    allows. Requests to one host are serialised; a session that breaks is closed and the
    host reported unreachable."""

    def __init__(self, host: str, argv: list[str],
                 connect_timeout: float | None = None) -> None:
        self.host = host
        self.lock = threading.Lock()
        self.connect_timeout = connect_timeout
        self.connect_deadline = (math.inf if connect_timeout is None
                                 else time.monotonic() + connect_timeout)
        self.connected = False  # a byte came from the other side
        self.greeted = False  # SESSION_HELLO came
        # ssh's complaints go to a file: a pipe nobody reads could fill and stall the session
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the session)
        self.proc: subprocess.Popen[bytes] = spawn(argv, stdin=PIPE, stdout=PIPE,
                                                   stderr=self.errors.fileno())
        self.buffer = b""

    def request(self, line: str, timeout: float) -> str:
        with self.lock:
            assert self.proc.stdin is not None
            if self.proc.stdin.closed:  # a request before this one found the host gone
                raise HostUnreachable(self.host, "session closed")
            try:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise HostUnreachable(self.host, self._why(f"session closed ({exc})")) from exc
            deadline = time.monotonic() + timeout
            while not self.greeted:
                # lines before it are the remote shell's own (its rc files), not the agent's
                self.greeted = self._readline(deadline, timeout) == SESSION_HELLO
            return self._readline(deadline, timeout)

    def _readline(self, deadline: float, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            connecting = not self.connected and self.connect_deadline < deadline
            remaining = (self.connect_deadline if connecting else deadline) - time.monotonic()
            if remaining <= 0:
                # ssh may wait for its peer forever (a shared connection whose peer died):
                # end it now rather than give it the grace of a closing session
                self.close(grace=0)
                if connecting:
                    raise NoSession(self.host, f"no session within {self.connect_timeout:g} s"
                                               " through the shared connection (its peer is "
                                               "gone): connection ended")
                raise HostUnreachable(self.host, f"no answer within {timeout:g} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            self.connected = True
            if not chunk:
                # ssh's reason first: close() drops the file its stderr went to
                reason = self._why("connection closed")
                self.close()
                raise HostUnreachable(self.host, reason)
            self.buffer += chunk
            if len(self.buffer) > MAX_REQUEST_BYTES and b"\n" not in self.buffer:
                # no agent answers that much: whatever it is, do not hold more of it
                self.close()
                raise HostUnreachable(self.host, f"answer larger than {MAX_REQUEST_BYTES} "
                                                 "bytes: session closed")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _why(self, default: str) -> str:
        try:
            self.proc.wait(timeout=2)
            self.errors.seek(0)
            lines = [ln for ln in self.errors.read().decode(errors="replace").splitlines()
                     if ln.strip()]
        except (subprocess.TimeoutExpired, OSError, ValueError):
            lines = []
        return lines[-1] if lines else default

    def hang_up(self) -> None:
        """End the agent's input (it exits when it reads that) and stop reading it."""
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def close(self, grace: float = 5) -> None:
        self.hang_up()
        self.errors.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Transport:
    """Requests to hosts by name: local ones in-process, others over ssh."""

    connect_timeout: float = CONNECT_TIMEOUT_SECONDS

    def __init__(self, defs: Definitions, local_host: str, basedir: Path,
                 local_handler: LocalHandler) -> None:
        self.defs = defs
        self.local_host = local_host
        self.basedir = basedir
        self.local_handler = local_handler
        self.remote_command = paths.remote_command()
        # installs are symmetric: the other hosts' helper and run dirs are this host's
        self.agent_connector = paths.agent_connector()
        self.agent_socket = paths.agent_socket()
        self.sessions: dict[str, AgentSession] = {}
        self.sessions_lock = threading.Lock()
        # per host: answered once in this command, or found unreachable (then not asked again)
        self.answered: set[str] = set()
        self.unreached: dict[str, Unreached] = {}

    def close(self) -> None:
        with self.sessions_lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        # every agent told first: they end side by side, not one after the other (status
        # waits for them before it returns)
        for session in sessions:
            session.hang_up()
        for session in sessions:
            session.close()

    def session(self, host: str) -> AgentSession:
        with self.sessions_lock:
            current = self.sessions.get(host)
            if current is not None and current.proc.poll() is None:
                return current
        # outside the lock: the sessions to other hosts do not wait for this check (requests
        # to one host come one at a time: AgentSession.request holds its session's lock)
        through_master = self.master_running(host)
        with self.sessions_lock:
            current = self.sessions.get(host)
            if current is None or current.proc.poll() is not None:  # nobody else opened one
                current = AgentSession(host, self.ssh_argv(host, stream=True),
                                       self.connect_timeout if through_master else None)
                self.sessions[host] = current
            return current

    def address(self, host: str) -> str:
        for entry in self.defs.hostgroup.hosts:
            if entry.name == host:
                return entry.address or host
        raise BadInput(f"host '{host}' is not in host group {self.defs.hostgroup.name}")

    def shared_ssh(self) -> list[str]:
        """ssh with the one connection per host that all of s2s-sd's sessions share."""
        control_dir = paths.run_dir()
        os.makedirs(control_dir, mode=0o700, exist_ok=True)
        return ssh_command(["-o", "ControlMaster=auto",
                            "-o", f"ControlPath={control_dir}/ssh-%C",
                            "-o", "ControlPersist=120"])

    def ssh_argv(self, host: str, stream: bool = False) -> list[str]:
        remote = [self.remote_command, "agent", "--basedir", str(self.basedir)]
        if stream:
            remote.append("--stream")
        # ssh hands the remote side one command line for its shell: quote every word; the
        # hello goes out before the agent starts, so that connected shows before answered.
        # The session goes through the host's warm agent server where its connector is
        # installed (it runs the agent itself when no server answers: cli/agent_server.py)
        connector = shlex.quote(self.agent_connector)
        # (the connector's interpreter is checked too: a failed exec would end the shell)
        command = (f"echo {SESSION_HELLO}; [ -x {connector} ] && [ -x {CONNECTOR_PYTHON} ] "
                   f"&& exec {connector} {shlex.quote(self.agent_socket)} "
                   f"{shlex.join(remote)}; exec {shlex.join(remote)}")
        return [*self.shared_ssh(), self.address(host), "--", command]

    def master_argv(self, host: str, command: str) -> list[str]:
        """ssh -O `command` (check, exit) to the master of `host`'s shared connection: the
        master answers on this host, never waiting for its peer."""
        return [*self.shared_ssh(), "-O", command, self.address(host)]

    def master_running(self, host: str) -> bool:
        """Whether a new session to `host` goes through a running master (a check that
        does not answer in time counts as one: its sessions are then held to the connect
        timeout, which is the safe side)."""
        try:
            return run(self.master_argv(host, "check"), check=False,
                       timeout=self.connect_timeout).ok
        except OperationFailed:
            return True

    def end_shared_connection(self, host: str) -> None:
        """End the master of `host`'s shared connection (a stale one hangs every session
        through it until its keepalives give up); none running is fine."""
        with contextlib.suppress(OperationFailed):
            run(self.master_argv(host, "exit"), check=False, timeout=self.connect_timeout)

    def call(self, host: str, op: str, args: Mapping[str, Any] | None = None,
             timeout: float = 120) -> dict[str, Any]:
        return self.ask(host, op, args, timeout).value()

    def ask(self, host: str, op: str, args: Mapping[str, Any] | None = None,
            timeout: float = 120, fresh: bool = False) -> Answer:
        """One request; a host found unreachable earlier in this command is answered from
        memory at once, unless `fresh` (then it is tried again, and remembered anew)."""
        args = dict(args or {})
        with self.sessions_lock:
            if fresh:
                self.unreached.pop(host, None)
            known = self.unreached.get(host)
        if known is not None:
            return Answer(host, error=known.error(host))
        answer = self.send(host, op, args, timeout)
        with self.sessions_lock:
            if isinstance(answer.error, HostUnreachable):
                # requests racing the first that failed keep its reason and time
                found = self.unreached.setdefault(
                    host, Unreached(answer.error.reason, time.time()))
                if found.reason != answer.error.reason:
                    return Answer(host, error=found.error(host))
            else:
                self.unreached.pop(host, None)
                self.answered.add(host)
        return answer

    def send(self, host: str, op: str, args: dict[str, Any], timeout: float) -> Answer:
        """The request itself: in-process on this host, over the agent session to others."""
        if host == self.local_host:
            try:
                return Answer(host, result=self.local_handler(op, args))
            except S2SError as exc:
                return Answer(host, error=exc)
        request = json.dumps({"version": PROTOCOL_VERSION, "op": op, "args": args})
        try:
            line = self.session(host).request(request, timeout)
        except NoSession as exc:
            self.end_shared_connection(host)
            return Answer(host, error=exc)
        except HostUnreachable as exc:
            return Answer(host, error=exc)
        except OperationFailed as exc:
            return Answer(host, error=HostUnreachable(host, str(exc)))
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):  # garbage, or nested too deep to parse
            return Answer(host, error=OperationFailed(
                f"{host}: no answer from s2s-sd agent: {line[-300:]}"))
        if not isinstance(answer, dict):
            return Answer(host, error=OperationFailed(f"{host}: malformed answer"))
        if answer.get("ok"):
            payload = answer.get("result")
            return Answer(host, result=payload if isinstance(payload, dict) else {})
        return Answer(host, error=error_from_wire(host, answer))

    def first_contact(self, hosts: Sequence[str], op: str, args: Mapping[str, Any],
                      timeout: float = FIRST_ANSWER_SECONDS) -> dict[str, Answer]:
        """`op` to those of `hosts` not heard from yet in this command, all at once (each
        host connected within the connect timeout, then answering within `timeout`): the
        connect timeouts of dead hosts overlap instead of adding up, and from then on
        each dead host is answered from memory."""
        with self.sessions_lock:
            new = [h for h in hosts if h not in self.answered and h not in self.unreached]
        return self.ask_many(new, op, args, timeout)

    def ask_many(self, hosts: Sequence[str], op: str,
                 args: Mapping[str, Any] | Callable[[str], Mapping[str, Any]] | None = None,
                 timeout: float = 120, fresh: bool = False) -> dict[str, Answer]:
        """The same request to several hosts at once; answers by host, in input order."""
        def one(host: str) -> Answer:
            host_args = args(host) if callable(args) else args
            return self.ask(host, op, host_args, timeout, fresh)

        if not hosts:
            return {}
        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            answers = list(pool.map(one, hosts))
        return dict(zip(hosts, answers, strict=True))
