"""The warm agent: a fork server for the `s2s-sd agent` sessions of other hosts' admins
(`s2s-sd agent --serve`, run by s2s-agent.service on every host).

Every request of an admin to another host runs in an `s2s-sd agent --stream` session
over ssh, and a Python program's start with its imports cost a session a tenth of a
second and more on a loaded host: the first contact of every command, of every move.
This server has the agent's modules (and pyroute2) imported already. A session's remote
command, units/s2s-agent-connect, connects to the server's Unix socket (root only, and
the peer's uid is checked), hands over its standard input, output and error and its
command line, and the server forks: the child runs that command line as `s2s-sd` would,
on those descriptors, with the session's environment, working directory and umask, and
its exit status goes back to the connector, which exits with it. The child is a fresh
process of its own (its own pid for the admin lock, its definitions read anew), only
without the imports; what a session does and answers is unchanged.

When no server runs, or its code changed since it started (an upgrade: the mtime of a
loaded module of s2s_sd differs), the connector runs `s2s-sd agent` itself, as before;
a server whose code changed says so and exits, and systemd starts the new code. Only
`agent` command lines are served, never `agent --serve`.

The server is single-threaded (fork and threads do not mix): one loop over the listening
socket and SIGCHLD, through a wakeup pipe. Its unit stops only the server itself
(KillMode=process): a restart never ends the sessions its children serve.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from s2s_sd import paths
from s2s_sd.errors import BadInput, OperationFailed

READY_PREFIX = b"ready "  # then the server's program (realpath), then a newline
STALE = b"stale\n"
MAX_HANDOVER_BYTES = 1 << 20  # command line and environment of one session
HANDOVER_SECONDS = 5.0  # a connector that says nothing in time is dropped
# what the children import anyway (a move's and a status' sessions), imported once here
PRELOAD = ("s2s_sd.cli.runtime", "s2s_sd.agent.dispatch", "s2s_sd.agent.group_ops",
           "s2s_sd.hosts.observe", "s2s_sd.engines.net.ops", "s2s_sd.engines.net.wire",
           "pyroute2")
# imported where present: the agent works without them (systemctl instead of D-Bus)
PRELOAD_IF_PRESENT = ("pystemd.dbuslib",)
_PEERCRED = struct.Struct("3i")


@dataclass(frozen=True)
class Handover:
    """What a connector hands over: the session's command line (after the program) and
    the process context its child runs in."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str
    umask: int

    @classmethod
    def parse(cls, raw: bytes) -> Handover:
        try:
            data = json.loads(raw)
            argv, env, cwd, umask = data["argv"], data["env"], data["cwd"], data["umask"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(f"malformed handover: {exc}") from exc
        if not (isinstance(argv, list) and all(isinstance(a, str) for a in argv)
                and isinstance(env, dict)
                and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
                and isinstance(cwd, str) and isinstance(umask, int)
                and 0 <= umask <= 0o777):
            raise BadInput("malformed handover: wrong types")
        if not argv or argv[0] != "agent" or "--serve" in argv:
            raise BadInput(f"only agent sessions are served, not {' '.join(argv[:3])!r}")
        return cls(tuple(argv), dict(env), cwd, umask)


def code_snapshot() -> dict[str, int]:
    """The mtime of every loaded module's file (s2s_sd's and its libraries'): a change
    means new code."""
    snapshot = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path:
            with contextlib.suppress(OSError):  # no file behind it: nothing to compare
                snapshot[path] = os.stat(path).st_mtime_ns
    return snapshot


def code_changed(snapshot: dict[str, int]) -> bool:
    for path, mtime in snapshot.items():
        try:
            if os.stat(path).st_mtime_ns != mtime:
                return True
        except OSError:
            return True
    return False


def _listen(path: Path) -> socket.socket:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a socket file left by a server that died
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket is root's alone from its first moment
    try:
        listener.bind(str(path))
    finally:
        os.umask(old_umask)
    listener.listen(16)
    return listener


def _receive(conn: socket.socket, deadline: float) -> tuple[bytes, list[int]]:
    """The handover line and the descriptors that came with it, by DEADLINE (one for
    the whole handover: a connector trickling bytes must not hold the loop)."""
    data = b""
    fds: list[int] = []
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("handover not complete in time")
        conn.settimeout(remaining)
        chunk, ancillary, _flags, _addr = conn.recvmsg(
            65536, socket.CMSG_SPACE(3 * array.array("i").itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                received = array.array("i")
                received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
                fds += list(received)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_HANDOVER_BYTES:
            break
    return data, fds


class Server:
    """The loop: accept, check, fork; reap. Each child reports its own exit status to
    its connector (the server may be gone by then: a restart or an upgrade ends the
    server, never a session it started)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.program = os.path.realpath(sys.argv[0])  # the connector compares its own
        self.snapshot: dict[str, int] = {}
        self.listener: socket.socket | None = None
        self.selector = selectors.DefaultSelector()
        self.wakeup_read, self.wakeup_write = os.pipe()

    def run(self) -> None:
        import importlib

        for name in PRELOAD:
            importlib.import_module(name)
        for name in PRELOAD_IF_PRESENT:
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        self.snapshot = code_snapshot()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)
        signal.set_wakeup_fd(self.wakeup_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # the wakeup fd does the work
        self.listener = _listen(self.path)
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.wakeup_read, selectors.EVENT_READ)
        print(f"s2s-sd agent server: listening on {self.path}", flush=True)
        while True:
            for key, _ in self.selector.select():
                if key.fileobj is self.listener:
                    if not self._accept():
                        # new code installed: no new session here; the sessions running
                        # go on (each reports its own end), systemd starts the new code
                        self.listener.close()
                        self.path.unlink(missing_ok=True)
                        print("s2s-sd agent server: its code changed; exiting for the new "
                              "one", flush=True)
                        return
                else:
                    while True:
                        try:
                            if not os.read(self.wakeup_read, 512):
                                break
                        except BlockingIOError:
                            break
                    _reap()

    def _accept(self) -> bool:
        """Serve one connection; False when this server's code is stale."""
        assert self.listener is not None
        fds: list[int] = []
        peer = "?"
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:  # EMFILE, ECONNABORTED: this one is lost, not the server
            print(f"s2s-sd agent server: accept failed: {exc}", file=sys.stderr, flush=True)
            return True
        try:
            deadline = time.monotonic() + HANDOVER_SECONDS
            conn.settimeout(HANDOVER_SECONDS)
            pid, uid, _gid = _PEERCRED.unpack(conn.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
            peer = str(pid)
            if uid != os.getuid():
                conn.close()
                return True
            if code_changed(self.snapshot):
                conn.sendall(STALE)
                conn.close()
                return False
            conn.sendall(READY_PREFIX + self.program.encode() + b"\n")
            raw, fds = _receive(conn, deadline)
            if len(fds) != 3:
                raise BadInput(f"expected 3 descriptors, got {len(fds)}")
            handover = Handover.parse(raw)
            sys.stdout.flush()
            sys.stderr.flush()
            child = os.fork()
        except (OSError, BadInput) as exc:
            print(f"s2s-sd agent server: connection from pid {peer} dropped: {exc}",
                  file=sys.stderr, flush=True)
            for fd in fds:
                os.close(fd)
            conn.close()
            return True
        if child == 0:
            self._child(handover, fds, conn, int(peer))  # never returns
        for fd in fds:
            os.close(fd)
        conn.close()  # the child's copy tells the connector how the session ended
        return True

    def _child(self, handover: Handover, fds: Sequence[int], conn: socket.socket,
               peer: int) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for number in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(number, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python starts a program
            self.selector.close()
            assert self.listener is not None
            self.listener.close()
            os.close(self.wakeup_read)
            os.close(self.wakeup_write)
            os.set_inheritable(conn.fileno(), False)  # the session's programs never get it
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in fds:
                if fd > 2:
                    os.close(fd)
            os.environ.clear()
            os.environ.update(handover.env)
            os.umask(handover.umask)
            os.chdir(handover.cwd if os.path.isdir(handover.cwd) else "/")
            os.setsid()  # its own session: the server's signals are not the child's
            _adopt_login(peer)
            code = _run_cli(handover.argv)
        except BaseException:  # nothing of the server's may continue in the child
            with contextlib.suppress(BaseException):
                traceback.print_exc()
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            # the connector may be gone (its session ended): then there is nobody to tell
            with contextlib.suppress(OSError):
                conn.sendall(f"exit {code}\n".encode())
            os._exit(code)


def _reap() -> None:
    """Collect the children that ended (their status went to their connectors)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _adopt_login(peer: int) -> None:
    """The session's audit identity (loginuid), as the ssh login that asked for it has
    it, so that what the session does is audited as that login's (a fork of a service
    would have none). Where the kernel does not allow it, the session runs without."""
    with contextlib.suppress(OSError, ValueError):
        login = Path(f"/proc/{peer}/loginuid").read_text(encoding="ascii").strip()
        if int(login) != 0xFFFFFFFF:
            Path("/proc/self/loginuid").write_text(login, encoding="ascii")


def _run_cli(argv: Sequence[str]) -> int:
    from s2s_sd.cli import main

    sys.argv = ["s2s-sd", *argv]
    try:
        main(args=list(argv), prog_name="s2s-sd")
    except SystemExit as exc:
        code = exc.code
        if isinstance(code, int):
            return code
        if code is not None:
            print(code, file=sys.stderr)  # as the interpreter says a sys.exit("message")
        return 0 if code is None else 1
    return 0


def serve(path: Path | None = None) -> None:
    """Run the server until its code changes (then exit 0: systemd restarts it)."""
    if os.geteuid() != 0 and path is None:
        raise OperationFailed("the agent server runs as root (it serves root's sessions)")
    Server(path or Path(paths.agent_socket())).run()
