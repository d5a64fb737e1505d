"""The agent's request decoding on concrete cases: the examples the fuzzing starts from
are valid, the issue's reproductions (NaN lock, version true, kits path tricks) are bad
input that writes nothing, and oversized lines are refused while reading, on both ends."""

from __future__ import annotations

import io
import json
import math
import os
import sys
import time
from pathlib import Path

import pytest

from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.cli.runtime import answer_request, stream_answers
from s2s_sd.hosts import protocol, transport
from s2s_sd.hosts.lock import LockInfo
from s2s_sd.hosts.state import Journal
from tests.unit.scenarios import EXAMPLES, definitions
from tests.unit.test_fuzz_agent_requests import (
    GROUP,
    HOST,
    HOSTGROUP,
    OPS,
    TABLES,
    _record_example,
    assert_bad_input,
    sandbox,
    valid_args,
)

pytestmark = pytest.mark.unit
__all__ = ["sandbox"]  # the fixture, shared with the fuzz tests


# -- the examples the fuzzing starts from are valid -------------------------------------------

@pytest.mark.parametrize("op", OPS)
def test_every_operation_has_a_valid_example(op: str) -> None:
    protocol.decode(TABLES[op].request, valid_args(op))


def test_the_first_write_on_nan_is_refused(sandbox: tuple[AgentContext, Path]) -> None:
    """issue 11 item 18: `since = NaN` wrote a lock file and broke every later start."""
    context, root = sandbox
    lock = _record_example(LockInfo)
    for since, named in ((math.nan, "NaN"), (1e300, "lock.since"), (True, "lock.since")):
        text = json.dumps({"version": 1, "op": "lock_acquire",
                           "args": {"hostgroup": HOSTGROUP, "lock": {**lock, "since": since}}})
        answer = assert_bad_input(context, root, text.encode())
        assert named in answer["message"]
        assert not (root / "state" / HOSTGROUP / "lock").exists()


def test_negative_process_identities_are_refused(sandbox: tuple[AgentContext, Path]) -> None:
    """Found by `make fuzz`: a journal with pid_started -1 was accepted and written."""
    context, root = sandbox
    journal = _record_example(Journal)
    lock = _record_example(LockInfo)
    for op, args, named in (
            ("journal_write", {"journal": {**journal, "pid_started": -1}}, "pid_started"),
            ("lock_acquire", {"hostgroup": HOSTGROUP, "lock": {**lock, "started": -1}},
             "lock.started")):
        text = json.dumps({"version": 1, "op": op, "args": args})
        answer = assert_bad_input(context, root, text.encode())
        assert named in answer["message"]


def test_version_true_is_not_version_1(sandbox: tuple[AgentContext, Path]) -> None:
    context, root = sandbox
    raw = json.dumps({"version": True, "op": "state", "args": {"hostgroup": HOSTGROUP}})
    assert "version" in assert_bad_input(context, root, raw.encode())["message"]


def test_kits_path_outside_the_service_root_is_refused(
        sandbox: tuple[AgentContext, Path]) -> None:
    """issue 11 item 19: SERVICE_ROOT/../x passed the prefix check."""
    context, root = sandbox
    service = os.environ["S2S_SD_SERVICE_ROOT"]
    for stable, path in ((f"{service}/../x/00/svc/etc/cron.d/x", "/etc/cron.d/x"),
                         (f"{service}/00/svc/etc/a", "/etc/b"),
                         (f"{service}/00/svc", "/"),
                         (f"{service}/xx/svc/etc/a", "/etc/a")):
        raw = json.dumps({"version": 1, "op": "kits_path",
                          "args": {"path": path, "stable": stable}})
        assert_bad_input(context, root, raw.encode())


def test_kits_links_only_to_the_service_on_a_disk(sandbox: tuple[AgentContext, Path]) -> None:
    """issue 11 item 19: kits_links accepted any absolute target (/etc/shadow)."""
    context, root = sandbox
    local = os.environ["S2S_SD_LOCAL_DISKS"]
    disk = context.defs().group(GROUP)
    assert disk is not None
    for target in ("/etc/shadow", f"{local}/00/other", f"{local}/00/svc/deeper",
                   f"{local}/01/svc",  # the link is /service/00/svc: disk 00, not 01
                   f"{local}/../00/svc", f"{local}/xx/svc", "/disk/s01/00/svc/../../x"):
        raw = json.dumps({"version": 1, "op": "kits_links",
                          "args": {"name": "svc", "links": {"00": target}}})
        assert_bad_input(context, root, raw.encode())


def test_kits_links_target_escaping_its_disk_is_refused(
        sandbox: tuple[AgentContext, Path], tmp_path: Path) -> None:
    context, root = sandbox
    local = Path(os.environ["S2S_SD_LOCAL_DISKS"]) / "07"
    local.mkdir(parents=True, exist_ok=True)
    (local / "evil").symlink_to("/etc")
    try:
        raw = json.dumps({"version": 1, "op": "kits_links",
                          "args": {"name": "evil", "links": {"07": str(local / "evil")}}})
        answer = assert_bad_input(context, root, raw.encode())
        assert "leads out of" in answer["message"]
    finally:
        (local / "evil").unlink()


def test_kits_links_to_the_service_on_a_local_disk_is_set(
        sandbox: tuple[AgentContext, Path]) -> None:
    context, _root = sandbox
    disk = Path(os.environ["S2S_SD_LOCAL_DISKS"]) / "03"
    (disk / "svc").mkdir(parents=True)
    raw = json.dumps({"version": 1, "op": "kits_links",
                      "args": {"name": "svc", "links": {"03": str(disk / "svc")}}})
    line, code = answer_request(context.basedir, context, raw.encode())
    assert code == 0, line
    link = Path(os.environ["S2S_SD_SERVICE_ROOT"]) / "03" / "svc"
    assert os.readlink(link) == str(disk / "svc")
    raw = json.dumps({"version": 1, "op": "kits_links",
                      "args": {"name": "svc", "links": {"03": None}}})
    assert answer_request(context.basedir, context, raw.encode())[1] == 0
    assert not link.is_symlink()


# -- item 20: the stream reader never holds more than one line's limit --------------------------

class CountingStream(io.BufferedReader):
    """A stream that remembers the largest single read asked of it."""

    largest = 0

    def readline(self, size: int | None = -1) -> bytes:
        line = super().readline(size)
        CountingStream.largest = max(CountingStream.largest, len(line))
        return line


def test_oversized_stream_line_is_refused_while_reading(
        sandbox: tuple[AgentContext, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    context, _root = sandbox
    monkeypatch.setattr(protocol, "MAX_REQUEST_BYTES", 1000)
    ok = json.dumps({"version": 1, "op": "state", "args": {"hostgroup": HOSTGROUP}}).encode()
    data = ok + b"\n" + b"x" * 50_000 + b"\n" + ok + b"\n"
    stream = CountingStream(io.BytesIO(data))  # type: ignore[arg-type]
    answers = [json.loads(line) for line in stream_answers(context.basedir, context, stream)]
    assert [a["ok"] for a in answers] == [True, False, True]
    assert answers[1]["kind"] == "bad_input" and "larger than" in answers[1]["message"]
    assert CountingStream.largest <= 1024 * 1024  # read in bounded pieces, never whole


def test_an_oversized_answer_closes_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin side holds no more of an answer line than the limit either."""
    monkeypatch.setattr(transport, "MAX_REQUEST_BYTES", 100_000)
    session = transport.AgentSession("n9", [sys.executable, "-c",
                                            "import sys; sys.stdin.readline(); "
                                            "sys.stdout.write('x' * 10_000_000)"])
    with pytest.raises(transport.HostUnreachable, match="answer larger than 100000 bytes"):
        session.request("{}", timeout=30)
    assert len(session.buffer) < 200_000


def test_the_sessions_end_side_by_side() -> None:
    """Every agent is told first, then waited for: three agents that each take a second
    to end after their input closes cost a second, not three (status waits for them)."""
    hosts = ("n1", "n2", "n3")
    ends_slowly = [sys.executable, "-c", "import sys, time; sys.stdin.read(); time.sleep(1)"]
    link = transport.Transport(definitions(), "n0", EXAMPLES, lambda op, args: {})
    link.sessions = {h: transport.AgentSession(h, ends_slowly) for h in hosts}
    began = time.monotonic()
    link.close()
    assert 1 <= time.monotonic() - began < 2.5
    assert link.sessions == {}


def test_kits_links_to_the_service_on_a_group_disk_is_set(
        sandbox: tuple[AgentContext, Path]) -> None:
    """The group's disk need not be mounted here: the link is set for when it is."""
    context, _root = sandbox
    raw = json.dumps({"version": 1, "op": "kits_links",
                      "args": {"name": "app", "links": {"01": "/disk/ora/01/app"}}})
    line, code = answer_request(context.basedir, context, raw.encode())
    assert code == 0, line
    link = Path(os.environ["S2S_SD_SERVICE_ROOT"]) / "01" / "app"
    assert os.readlink(link) == "/disk/ora/01/app"
    link.unlink()
    wrong = json.dumps({"version": 1, "op": "kits_links",
                        "args": {"name": "app", "links": {"00": "/disk/ora/01/app"}}})
    assert_bad_input(context, _root, wrong.encode())


def test_the_locks_and_journals_this_version_writes_are_accepted() -> None:
    """What the admin really sends (not a hand-made example): a lock's `started` is an
    int (process start), a journal's a time; both pass the host's checks unchanged."""
    from s2s_sd.hosts.lock import LockInfo

    held = LockInfo.for_this_process(HOST, "sync", "tok-1")
    assert held.started is not None
    checked = protocol.Record(LockInfo)("lock", held.as_dict())
    assert LockInfo.from_dict(checked) == held
    journal = Journal(group=GROUP, source="n2", target=HOST, step="stopping", admin=HOST,
                      pid=held.pid, started=held.since, pid_started=held.started,
                      boot_id=held.boot_id)
    assert Journal.from_dict(protocol.Record(Journal)("journal", journal.as_dict())) == journal
