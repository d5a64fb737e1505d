"""issue 11, items 8-10: the admin lock and the state dir on real files and processes.

Of N processes breaking the same stale lock at once exactly one holds it (200 rounds);
a lock's holder is a process (pid + start time + boot), not a pid; a state dir that is a
link or someone else's is refused, nothing in it is opened through a link, and a lock
that is a directory or a FIFO is a clear refusal, not a traceback or a hang.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.errors import Refused
from s2s_sd.hosts import lock, state, sync
from s2s_sd.hosts.archive import pack
from s2s_sd.hosts.move_vouch import journal_current

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("state_root")]

NOBODY = 65534
BREAKERS = 4
ROUNDS = 200


def info(token: str, host: str = "n1", **fields: Any) -> lock.LockInfo:
    base = lock.LockInfo.for_this_process(host, "move x", token)
    return lock.LockInfo(**{**base.as_dict(), **fields})


# -- item 8: breaking a stale lock is atomic ------------------------------------------------

def _breaker(index: int, start: Any, done: Any, results: Any) -> None:
    for round_number in range(ROUNDS):  # a BrokenBarrierError ends it when the test failed
        start.wait()
        mine = info(f"breaker{index}-{round_number}")
        held = lock.try_acquire("c07", mine, break_token=f"stale{round_number}")
        results.put((round_number, index, held is None))
        done.wait()


def test_of_n_processes_breaking_one_stale_lock_exactly_one_wins(state_root: Path) -> None:
    context = multiprocessing.get_context("fork")
    start, done = context.Barrier(BREAKERS + 1), context.Barrier(BREAKERS + 1)
    results = context.Queue()
    workers = [context.Process(target=_breaker, args=(i, start, done, results))
               for i in range(BREAKERS)]
    for worker in workers:
        worker.start()
    try:
        for round_number in range(ROUNDS):
            (state_root / "c07" / "lock").unlink(missing_ok=True)
            stale = info(f"stale{round_number}", pid=0)
            assert lock.try_acquire("c07", stale) is None
            start.wait(timeout=60)
            outcomes = [results.get(timeout=60) for _ in range(BREAKERS)]
            winners = [index for _round, index, won in outcomes if won]
            assert len(winners) == 1, f"round {round_number}: winners {winners}"
            held = lock.read_lock("c07")
            assert held is not None and held.token == f"breaker{winners[0]}-{round_number}"
            done.wait(timeout=60)
    except BaseException:
        start.abort()  # a failed round must not leave the workers waiting
        done.abort()
        raise
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
    assert all(worker.exitcode == 0 for worker in workers)


# -- item 9: the holder is a process, not a pid ---------------------------------------------

@contextmanager
def child(*argv: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(list(argv))
    try:
        time.sleep(0.05)
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_reused_pid_does_not_keep_a_lock_alive() -> None:
    with child("sleep", "30") as process:
        started = lock.process_start(process.pid)
        assert started is not None
        holder = info("t", pid=process.pid, started=started)
        assert holder.holder_alive()
        # the same pid, another process (its start time differs): the holder is gone
        assert not info("t", pid=process.pid, started=started + 1).holder_alive()
        # the same process, written before a reboot: gone
        assert not info("t", pid=process.pid, started=started,
                        boot_id="00000000-0000-0000-0000-000000000000").holder_alive()
        assert info("t", pid=process.pid, started=started,
                    boot_id=lock.boot_id()).holder_alive()
    assert not holder.holder_alive()


def test_a_reused_pid_does_not_keep_a_crashed_movesjournal_current() -> None:
    with child("sleep", "30") as process:
        started = lock.process_start(process.pid)
        assert started is not None
        journal = state.Journal(group="ora", source="n1", target="n2", step="starting",
                                admin="n1", pid=process.pid, started=time.time(),
                                pid_started=started, boot_id=lock.boot_id())
        assert state.Journal.from_dict(journal.as_dict()) == journal
        now = time.time()
        assert journal_current(journal, "n1", now, lock.process_alive)
        assert not journal_current(replace(journal, pid_started=started + 1), "n1", now,
                                    lock.process_alive)


def test_the_start_time_is_read_past_an_odd_command_name(tmp_path: Path) -> None:
    odd = tmp_path / "a) b ("
    odd.symlink_to("/bin/sleep")
    with child(str(odd), "30") as process:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        assert lock.process_start(process.pid) == int(fields[19])


def test_locks_of_older_versions_are_still_read() -> None:
    old = {"host": "n1", "pid": 123, "since": 1700000000.5, "operation": "sync",
           "token": "abc"}
    holder = lock.LockInfo.from_dict(old)
    assert holder.started is None and holder.boot_id is None
    with child(sys.executable, "-c", "import time; time.sleep(30)", "s2s-sd") as process:
        # without a start time: any s2s-sd process with that pid, as before
        assert lock.LockInfo.from_dict({**old, "pid": process.pid}).holder_alive()
    with child("sleep", "30") as process:
        assert not lock.LockInfo.from_dict({**old, "pid": process.pid}).holder_alive()


@pytest.mark.parametrize("field, value", [("since", float("nan")), ("since", float("inf")),
                                          ("pid", True), ("pid", -1), ("pid", 1 << 40),
                                          ("started", "x"), ("host", 7)])
def test_insane_lock_fields_are_refused(field: str, value: Any) -> None:
    good = info("t").as_dict()
    with pytest.raises((ValueError, TypeError)):
        lock.LockInfo.from_dict({**good, field: value})


# -- item 10: the state dir is not trusted blindly -----------------------------------------

def test_a_symlinked_host_group_dir_is_refused(state_root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    state_root.mkdir()
    (state_root / "c07").symlink_to(elsewhere)
    with pytest.raises(Refused, match=f"{state_root / 'c07'}: the state dir is a symbolic"):
        lock.try_acquire("c07", info("a"))
    assert list(elsewhere.iterdir()) == []
    assert elsewhere.stat().st_mode & 0o777 == 0o755  # not chmod'ed through the link
    with pytest.raises(Refused):
        sync.read_generation("c07")


def test_a_symlinked_state_root_is_refused(state_root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state_root.symlink_to(elsewhere)
    with pytest.raises(Refused, match="symbolic link"):
        state.write_assignments("c07", {"ora": "n2"})
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("which", ["root", "hostgroup"])
def test_a_state_dir_of_another_user_is_refused(state_root: Path, which: str) -> None:
    (state_root / "c07").mkdir(parents=True, mode=0o700)
    os.chown(state_root if which == "root" else state_root / "c07", NOBODY, NOBODY)
    with pytest.raises(Refused, match=f"belongs to uid {NOBODY}"):
        lock.try_acquire("c07", info("a"))
    assert not (state_root / "c07" / "lock").exists()


def test_a_state_dir_writable_by_others_is_refused(state_root: Path) -> None:
    (state_root / "c07").mkdir(parents=True)
    state_root.chmod(0o777)
    with pytest.raises(Refused, match="writable by others"):
        state.read_assignments("c07")


def test_the_cli_says_refused_with_exit_3_naming_the_path(state_root: Path,
                                                          basedir: Path,
                                                          tmp_path: Path) -> None:
    state_root.mkdir()
    (state_root / "c07").symlink_to(tmp_path)
    result = CliRunner().invoke(main, ["sync", "--list", "--basedir", str(basedir)])
    assert result.exit_code == 3, result.output
    assert f"{state_root / 'c07'}: the state dir is a symbolic link" in result.stderr
    assert "Traceback" not in result.output


def test_planted_links_in_the_state_dir_are_never_followed(state_root: Path,
                                                           tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    directory = state.ensure_state_dir("c07")
    backups = directory / "generations"
    backups.mkdir(mode=0o700)
    (backups / "1.tar").symlink_to(victim)
    (backups / "1.json").symlink_to(victim)
    packed = pack(Path(__file__).resolve().parent.parent.parent / "examples")
    sync.install("c07", tmp_path / "base", 1, packed.digest, packed.archive,
                 lambda _staged: None)
    assert victim.read_text() == "precious\n"
    assert not (backups / "1.tar").is_symlink()
    for name in ("generation.json", "assignments.json", "journal-ora.json"):
        (directory / name).unlink(missing_ok=True)
        (directory / name).symlink_to(victim)
    with pytest.raises(Refused, match=r"generation\.json: is a symbolic link"):
        sync.read_generation("c07")
    with pytest.raises(Refused, match=r"assignments\.json: is a symbolic link"):
        state.read_assignments("c07")
    with pytest.raises(Refused, match=r"journal-ora\.json: is a symbolic link"):
        state.read_journal("c07", "ora")
    with pytest.raises(Refused):
        state.write_assignments("c07", {"ora": "n2"})
    assert victim.read_text() == "precious\n"


def test_a_linked_action_log_is_not_written_through(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp_path / "log").mkdir()
    (tmp_path / "log" / "actions.log").symlink_to(victim)
    state.log_action("c07", "n1", "something happened")
    assert victim.read_text() == "precious\n"
    assert "action not logged" in capsys.readouterr().err


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def expire(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"still blocked after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_lock_that_is_not_a_file_is_a_clear_refusal(kind: str) -> None:
    path = state.ensure_state_dir("c07") / "lock"
    if kind == "directory":
        path.mkdir()
    else:
        os.mkfifo(path)
    with deadline(5):
        with pytest.raises(Refused, match="lock: is not a regular file"):
            lock.read_lock("c07")
        with pytest.raises(Refused, match="not a regular file"):
            lock.try_acquire("c07", info("a"))
