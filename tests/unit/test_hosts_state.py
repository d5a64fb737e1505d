"""Host-side state on a tmp dir: admin lock, sync generations, journal, assignments."""

from __future__ import annotations

import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from s2s_sd.errors import BadInput, Refused
from s2s_sd.hosts import lock, state, sync
from s2s_sd.hosts.archive import content_digest, pack
from tests.conftest import EXAMPLES

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("state_root")]


def info(token: str, host: str = "n1") -> lock.LockInfo:
    return lock.LockInfo(host=host, pid=os.getpid(), since=time.time(), operation="move x",
                         token=token)


def test_lock_one_holder_at_a_time(state_root: Path) -> None:
    assert lock.try_acquire("c07", info("a")) is None
    held = lock.try_acquire("c07", info("b", host="n2"))
    assert held is not None and held.token == "a" and held.host == "n1"
    assert "n1 pid" in held.describe() and "move x" in held.describe()
    assert lock.try_acquire("c07", info("a")) is None  # the holder again: fine
    assert not lock.release("c07", "b")  # not the holder's token
    assert lock.read_lock("c07") is not None
    assert lock.release("c07", "a")
    assert lock.read_lock("c07") is None
    assert (state_root / "c07").stat().st_mode & 0o777 == 0o700


def test_lock_file_is_private_and_breaking_needs_the_token(state_root: Path) -> None:
    assert lock.try_acquire("c07", info("old")) is None
    assert (state_root / "c07" / "lock").stat().st_mode & 0o777 == 0o600
    assert lock.try_acquire("c07", info("new"), break_token="wrong") is not None
    assert lock.try_acquire("c07", info("new"), break_token="old") is None
    current = lock.read_lock("c07")
    assert current is not None and current.token == "new"


def test_lock_does_not_follow_a_planted_symlink(state_root: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    directory = state_root / "c07"
    directory.mkdir(parents=True)
    (directory / "lock").symlink_to(victim)
    with pytest.raises(Refused, match="symbolic link"):
        lock.try_acquire("c07", info("a"))
    assert victim.read_text() == "precious\n"


def test_pid_alive_only_for_s2s_processes() -> None:
    assert not lock.pid_alive(0)
    assert not lock.pid_alive(1 << 22)


def accept(_staged: Path) -> None:
    return None


def test_pack_is_deterministic_and_installs(tmp_path: Path) -> None:
    first, second = pack(EXAMPLES), pack(EXAMPLES)
    assert first == second
    digest = content_digest(EXAMPLES)
    assert first.digest == digest
    target = tmp_path / "etc" / "s2s-sd"
    generation = sync.install("c07", target, 1, digest, first.archive, accept)
    assert generation.number == 1
    assert content_digest(target) == digest
    assert os.access(target / "init.d" / "censhare_db", os.X_OK)
    assert sync.read_generation("c07").number == 1
    # a newer generation replaces the tree as a whole
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "s2s.toml").write_text("[hostgroup]\n")
    sync.install("c07", target, 2, content_digest(tmp_path / "src"),
                 pack(tmp_path / "src").archive, accept)
    assert sorted(p.name for p in target.iterdir()) == ["s2s.toml"]
    assert [g.number for g in sync.list_generations("c07")] == [1, 2]


def test_damaged_or_old_archives_are_refused(tmp_path: Path) -> None:
    archive = pack(EXAMPLES).archive
    target = tmp_path / "base"
    with pytest.raises(BadInput, match="arrived damaged"):
        sync.install("c07", target, 3, "0" * 64, archive, accept)
    assert not target.exists()
    sync.install("c07", target, 3, content_digest(EXAMPLES), archive, accept)
    with pytest.raises(BadInput, match="older than this host's 3"):
        sync.install("c07", target, 2, content_digest(EXAMPLES), archive, accept)
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        member = tarfile.TarInfo("../escape")
        member.size = 1
        tar.addfile(member, io.BytesIO(b"x"))
    with pytest.raises(BadInput, match="leaves the base dir"):
        sync.install("c07", target, 4, "0" * 64, evil.getvalue(), accept)
    assert not (tmp_path / "escape").exists()


def test_backups_are_pruned_and_restorable(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    for number in range(1, 14):
        (base / "s2s.toml").write_text(f"# generation {number}\n")
        sync.record_local("c07", number, base)
    kept = [g.number for g in sync.list_generations("c07")]
    assert kept == list(range(4, 14))
    sync.restore_into("c07", 5, base, accept)
    assert (base / "s2s.toml").read_text() == "# generation 5\n"
    with pytest.raises(BadInput, match="no backup of generation 2"):
        sync.restore_into("c07", 2, base, accept)


def test_journal_and_assignments(tmp_path: Path) -> None:
    assert state.read_journal("c07") is None
    journal = state.Journal(group="ora", source="n1", target="n2", step="stopping",
                            admin="n1", pid=42, started=1.0)
    state.write_journal("c07", journal)
    assert state.read_journal("c07") == journal
    assert not state.clear_journal("c07", "web")
    assert state.clear_journal("c07", "ora")
    assert state.read_journal("c07") is None
    state.write_assignments("c07", {"ora": "n2"})
    state.write_assignments("c07", {"ora": "n3"})
    current = state.read_assignment_state("c07")
    assert current.epoch == 2 and current.groups == {"ora": "n3"}
    state.log_action("c07", "n1", "something happened")
    assert "[c07] something happened" in (tmp_path / "log" / "actions.log").read_text()
