"""A scripted transport for the unit tier: the admin's requests to the hosts, checked
against a script and answered from it, in the spirit of pcs's mock runner.

Each `Expect` names a host, an operation, the arguments that matter (a subset: keys not
named are not checked, nested objects are compared the same way, `ANY` matches
anything) and the answer: a result, or an error as it would arrive from the wire.
Requests must come in the script's order; `ask_many` asks its hosts one after another
in the order given, so a scenario's sequence is deterministic. The script answers what
would go over the wire (`Transport.send`): a host scripted unreachable is remembered by
the real `Transport.ask` above it: its later requests must still come in the script's
order, but are answered from memory, never sent. `expect` marks them so by itself (every
unreachable reply to a host after its first is `remembered`), and `sent` counts what went
over the wire, so a scenario can assert that a dead host was waited for once. An
unexpected request, or one left over at the end, fails the test with the script's
position and both requests.

The transport also keeps what the successful writes left on each host (journals and
assignment maps), so a scenario can assert where a move left the records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from unittest.mock import ANY

from s2s_sd.hosts.observe import GroupObservation
from s2s_sd.hosts.transport import (
    AgentSession,
    Answer,
    HostUnreachable,
    Transport,
    error_from_wire,
)
from s2s_sd.model import Definitions, Group, IpService, MountService, ScriptService
from s2s_sd.naming import guard_unit, member_unit

__all__ = ["ANY", "Expect", "ScriptMismatch", "ScriptedTransport", "remembered"]


class ScriptMismatch(AssertionError):
    """The code under test asked something the script did not expect (never an S2SError,
    so no branch of the code under test can swallow it)."""


@dataclass(frozen=True)
class Reply:
    """A scripted answer: a result, or an error as `Transport.ask` would return it."""

    result: dict[str, Any] | None = None
    wire_error: tuple[str, str] | None = None  # (kind, message) as the agent sends it
    unreachable: str | None = None  # why the host could not be reached
    remembered: bool = False  # unreachable, answered by Transport.ask from memory: not sent

    def answer(self, host: str) -> Answer:
        if self.unreachable is not None:
            return Answer(host, error=HostUnreachable(host, self.unreachable))
        if self.wire_error is not None:
            kind, message = self.wire_error
            return Answer(host, error=error_from_wire(host, {"ok": False, "kind": kind,
                                                             "message": message}))
        return Answer(host, result=dict(self.result or {}))


def ok(result: Mapping[str, Any] | None = None) -> Reply:
    return Reply(result=dict(result or {}))


def failed(message: str) -> Reply:
    return Reply(wire_error=("failed", message))


def refused(message: str) -> Reply:
    return Reply(wire_error=("refused", message))


def bad_input(message: str) -> Reply:
    return Reply(wire_error=("bad_input", message))


def unreachable(reason: str = "Connection refused") -> Reply:
    return Reply(unreachable=reason)


def remembered(reason: str = "Connection refused") -> Reply:
    """A request to a host found unreachable before in the command: not sent."""
    return Reply(unreachable=reason, remembered=True)


@dataclass(frozen=True)
class Expect:
    host: str
    op: str
    args: Mapping[str, Any] = field(default_factory=dict)
    reply: Reply = field(default_factory=ok)

    def __str__(self) -> str:
        return f"{self.host} {self.op} {dict(self.args)}"


def matches(expected: Any, actual: Any) -> bool:
    """expected ⊆ actual: mappings by the keys expected names, everything else equal."""
    if expected is ANY:
        return True
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and matches(value, actual[key]) for key, value in expected.items())
    return bool(expected == actual)


@dataclass
class Records:
    """What the successful writes left on each host: journals and assignments."""

    journals: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    assignments: dict[str, dict[str, str]] = field(default_factory=dict)

    def apply(self, host: str, op: str, args: Mapping[str, Any],
              result: Mapping[str, Any]) -> None:
        if op == "journal_write":
            self.journals.setdefault(host, {})[args["journal"]["group"]] = dict(
                args["journal"])
        elif op == "journal_clear":
            self.journals.get(host, {}).pop(args["group"], None)
        elif op == "set_assignments" and result.get("written"):
            self.assignments[host] = dict(args["assignments"])

    def journal_of(self, group: str) -> dict[str, str]:
        """host -> "STEP SOURCE->TARGET" for every host that keeps a journal of group."""
        found = {}
        for host, journals in sorted(self.journals.items()):
            if group in journals:
                entry = journals[group]
                found[host] = f"{entry['step']} {entry['source'] or '-'}->{entry['target']}"
        return found

    def assignment_of(self, group: str) -> dict[str, str | None]:
        """host -> the host this host's records assign group to."""
        return {host: groups.get(group) for host, groups in sorted(self.assignments.items())}


class ScriptedTransport(Transport):
    """`Transport`'s interface, answered from a script instead of the hosts."""

    def __init__(self, defs: Definitions, local_host: str,
                 script: Sequence[Expect] = ()) -> None:
        super().__init__(defs, local_host, Path("/nonexistent"), self._no_local_handler)
        self.script: list[Expect] = []
        self.position = 0
        self.requests: list[str] = []  # what was asked, in order
        self.records = Records()
        self.mismatch: ScriptMismatch | None = None
        self.closed = False
        self.sent: list[str] = []  # the requests that went over the wire, by host: "n1 op"
        self.scripted_down: set[str] = set()  # hosts the script has made unreachable
        self.expect(script)

    def sent_to(self, host: str) -> int:
        return sum(1 for request in self.sent if request.split()[0] == host)

    @staticmethod
    def _no_local_handler(op: str, _args: Mapping[str, Any]) -> dict[str, Any]:
        raise ScriptMismatch(f"the scripted transport never runs {op} in-process")

    def expect(self, *expectations: Expect | Sequence[Expect]) -> None:
        for item in expectations:
            for expected in [item] if isinstance(item, Expect) else item:
                self.script.append(self._as_remembered(expected))

    def _as_remembered(self, expected: Expect) -> Expect:
        """After a host's first unreachable reply, its unreachable replies come from the
        transport's memory; any other reply (a fresh try that reached it) starts over."""
        reply = expected.reply
        if reply.unreachable is None or reply.remembered:
            self.scripted_down.discard(expected.host)
            if reply.remembered:
                self.scripted_down.add(expected.host)
            return expected
        if expected.host in self.scripted_down:
            return replace(expected, reply=replace(reply, remembered=True))
        self.scripted_down.add(expected.host)
        return expected

    def seed(self, journals: Mapping[str, Sequence[Mapping[str, Any]]] = {},
             assignments: Mapping[str, Mapping[str, str]] = {}) -> None:
        """What the hosts hold before the scenario (the records' starting point)."""
        for host, entries in journals.items():
            for entry in entries:
                self.records.journals.setdefault(host, {})[entry["group"]] = dict(entry)
        for host, groups in assignments.items():
            self.records.assignments[host] = dict(groups)

    def _fail(self, text: str) -> ScriptMismatch:
        if self.mismatch is None:  # the first one is the one that explains
            self.mismatch = ScriptMismatch(text)
        return self.mismatch

    def _context(self) -> str:
        first = max(0, len(self.requests) - 5)
        done = "\n".join(f"  {i + 1:3d} {r}"
                         for i, r in enumerate(self.requests[first:], first))
        return f"last requests:\n{done or '  (none)'}"

    # -- Transport's interface -----------------------------------------------------------
    def ask(self, host: str, op: str, args: Mapping[str, Any] | None = None,
            timeout: float = 120, fresh: bool = False) -> Answer:
        with self.sessions_lock:
            from_memory = not fresh and host in self.unreached
        if from_memory:
            expected = self._next(host, op, dict(args or {}))
            if not expected.reply.remembered:
                raise self._fail(f"request {len(self.requests)} was answered from memory "
                                 f"({host} was found unreachable before), but the script "
                                 f"sends it: {expected}\n{self._context()}")
        return super().ask(host, op, args, timeout, fresh)

    def send(self, host: str, op: str, args: dict[str, Any], timeout: float) -> Answer:
        actual = dict(args)
        expected = self._next(host, op, actual)
        if expected.reply.remembered:
            raise self._fail(f"request {len(self.requests)} went to {host} over the wire, "
                             f"but the script answers it from memory: {expected}\n"
                             f"{self._context()}")
        self.sent.append(f"{host} {op}")
        answer = expected.reply.answer(host)
        if answer.ok:
            self.records.apply(host, op, actual, answer.value())
        return answer

    def _next(self, host: str, op: str, actual: dict[str, Any]) -> Expect:
        """The script's next request, which must be this one."""
        if self.mismatch is not None:
            raise self.mismatch
        shown = f"{host} {op} {actual}"
        if self.position >= len(self.script):
            raise self._fail(f"unexpected request {len(self.requests) + 1} (the script has "
                             f"ended):\n  got      {shown}\n{self._context()}")
        expected = self.script[self.position]
        if (expected.host, expected.op) != (host, op) or not matches(expected.args, actual):
            raise self._fail(f"request {len(self.requests) + 1} differs from the script:\n"
                             f"  expected {expected}\n  got      {shown}\n{self._context()}")
        self.position += 1
        self.requests.append(shown)
        return expected

    def ask_many(self, hosts: Sequence[str], op: str,
                 args: Mapping[str, Any] | Callable[[str], Mapping[str, Any]] | None = None,
                 timeout: float = 120, fresh: bool = False) -> dict[str, Answer]:
        return {host: self.ask(host, op, args(host) if callable(args) else args, timeout,
                               fresh)
                for host in hosts}

    def session(self, host: str) -> AgentSession:
        raise self._fail(f"a session to {host} was opened: the unit tier runs no ssh")

    def close(self) -> None:
        self.closed = True

    # -- the end of a scenario -----------------------------------------------------------
    def verify(self) -> None:
        """Every expected request was made, and nothing else."""
        if self.mismatch is not None:
            raise self.mismatch
        left = self.script[self.position:]
        if left:
            listed = "\n".join(f"  {self.position + i + 1:3d} {e}" for i, e in enumerate(left))
            raise ScriptMismatch(f"{len(left)} expected request(s) never made:\n{listed}\n"
                                 f"{self._context()}")


# -- builders for the answers' real shapes (agent/core_ops.py) ------------------------------

def observation(group: Group, how: str = "down") -> dict[str, Any]:
    """An `observe` entry of group: "up" (all of it), "down" (nothing), "partial" (the
    first member only), "failed" (nothing runs, the first member failed)."""
    first = {"up": "active", "partial": "active", "failed": "failed"}.get(how, "inactive")
    rest = "active" if how == "up" else "inactive"
    # the guard (RemainAfterExit) stays active while anything of the group runs
    units = {guard_unit(group.name): "active" if how in ("up", "partial") else "inactive"}
    vips: dict[str, bool] = {}
    mounts: dict[str, bool] = {}
    scripts: dict[str, int] = {}
    for index, service in enumerate(group.services):
        unit_state = first if index == 0 else rest
        units[member_unit(group.name, service.name)] = unit_state
        up = unit_state == "active"
        if isinstance(service, IpService):
            vips[service.address.split("/")[0]] = up
        elif isinstance(service, MountService):
            mounts[service.mountpoint] = up
        elif isinstance(service, ScriptService):
            scripts[service.name] = 0 if up else 7
    seen = GroupObservation(group.name, "active" if how == "up" else "inactive", units,
                            vips, mounts, scripts)
    return seen.as_dict()


def journal_entry(group: str, source: str | None, target: str, step: str, admin: str,
                  pid: int = 4242, started: float = 1_000_000.0) -> dict[str, Any]:
    return {"group": group, "source": source, "target": target, "step": step,
            "admin": admin, "pid": pid, "started": started, "forced": False}


def lock_entry(host: str, pid: int, operation: str, token: str = "other-token",
               since: float = 1_000_000.0) -> dict[str, Any]:
    return {"host": host, "pid": pid, "since": since, "operation": operation, "token": token}


def state_result(host: str, generation: int, digest: str, epoch: int,
                 assignments: Mapping[str, str],
                 journals: Sequence[Mapping[str, Any]] = (),
                 lock: Mapping[str, Any] | None = None,
                 frozen: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A `state` answer (agent.op_state); frozen: group -> its freeze mark here."""
    return {"host": host, "generation": generation, "digest": digest,
            "digest_actual": digest, "journals": [dict(j) for j in journals],
            "epoch": epoch, "assignments": dict(assignments),
            "journal": dict(journals[0]) if journals else None,
            "lock": dict(lock) if lock else None, "lock_holder_alive": False,
            "frozen": {g: dict(m) for g, m in (frozen or {}).items()},
            "wanted": [], "violations": []}
