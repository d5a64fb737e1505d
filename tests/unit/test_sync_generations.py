"""issue 11, items 1-5: config generations on real files, modes and links in tmp dirs.

A refused generation changes nothing (base dir, generation, backups, the directory
beside the base dir: byte for byte); modes are kept and hashed; version-control and
editor files are neither synced nor hashed; links inside the base dir are synced as
links and `check` refuses the others before `sync` takes the lock; every malformed
archive is BadInput with nothing left behind.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from s2s_sd.basetree import entries
from s2s_sd.checks import load_checked
from s2s_sd.cli import main
from s2s_sd.errors import BadInput, InvalidDefinitions, OperationFailed, Refused
from s2s_sd.hosts import sync
from s2s_sd.hosts.archive import content_digest, pack
from tests.conftest import EXAMPLES
from tests.unit.tree_snapshot import snapshot

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("state_root")]

NOBODY = 65534


@pytest.fixture
def host_base(tmp_path: Path) -> Path:
    """Host n2's base dir, holding generation 1 (the examples)."""
    target = tmp_path / "etc" / "s2s-sd"
    packed = pack(EXAMPLES)
    sync.install("c07", target, 1, packed.digest, packed.archive, sync.host_check("n2", "c07"))
    return target


def everything(host_base: Path, state_root: Path) -> tuple[Any, ...]:
    """What a refused install must leave exactly as it was."""
    return (snapshot(host_base), sorted(os.listdir(host_base.parent)), snapshot(state_root))


def accept(_staged: Path) -> None:
    return None


# -- item 1: the host checks the staged copy before anything changes -----------------------

def _broken_toml(base: Path) -> None:
    (base / "s2s.toml").write_text("[hostgroup\nname = 'c07'\n")


def _other_hostgroup(base: Path) -> None:
    text = (base / "s2s.toml").read_text()
    (base / "s2s.toml").write_text(text.replace('name   = "c07"', 'name   = "c08"'))


def _host_dropped(base: Path) -> None:
    text = (base / "s2s.toml").read_text()
    (base / "s2s.toml").write_text(text.replace('"n2", ', ""))


def _script_syntax(base: Path) -> None:
    (base / "init.d" / "censhare_db").write_text("#!/bin/bash\nif then fi\n")


@pytest.mark.parametrize("damage", [_broken_toml, _other_hostgroup, _host_dropped,
                                    _script_syntax])
def test_a_generation_the_host_refuses_changes_nothing(
        damage: Callable[[Path], None], basedir: Path, host_base: Path,
        state_root: Path) -> None:
    assert 'name   = "c07"' in (basedir / "s2s.toml").read_text()
    assert '"n2", ' in (basedir / "s2s.toml").read_text()
    damage(basedir)
    packed = pack(basedir)
    before = everything(host_base, state_root)
    with pytest.raises(BadInput, match=r"n2|c08"):
        sync.install("c07", host_base, 2, packed.digest, packed.archive,
                     sync.host_check("n2", "c07"))
    assert everything(host_base, state_root) == before
    assert sync.read_generation("c07").number == 1


def test_recording_that_fails_after_the_swap_swaps_the_old_tree_back(
        basedir: Path, host_base: Path, state_root: Path) -> None:
    (basedir / "s2s.toml").write_text((basedir / "s2s.toml").read_text() + "# new\n")
    packed = pack(basedir)
    # a directory where the record of generation 2 goes: the rename onto it fails
    (state_root / "c07" / "generations" / "2.json").mkdir()
    before = everything(host_base, state_root)
    with pytest.raises(OperationFailed, match="unchanged"):
        sync.install("c07", host_base, 2, packed.digest, packed.archive, accept)
    assert everything(host_base, state_root) == before
    (state_root / "c07" / "generations" / "2.json").rmdir()
    sync.install("c07", host_base, 2, packed.digest, packed.archive, accept)
    assert "# new" in (host_base / "s2s.toml").read_text()
    assert sync.read_generation("c07").digest == packed.digest


def test_the_admins_own_base_dir_is_recorded_not_replaced(basedir: Path) -> None:
    """The admin host receives its own archive: same content, so its files (and their
    owners) stay as they are."""
    config = basedir / "sysconfig" / "censhare_db"
    os.chown(config, NOBODY, NOBODY)
    inode = config.stat().st_ino
    packed = pack(basedir)
    sync.install("c07", basedir, 1, packed.digest, packed.archive, accept)
    assert config.stat().st_ino == inode and config.stat().st_uid == NOBODY
    assert sync.read_generation("c07").digest == packed.digest
    assert [g.number for g in sync.list_generations("c07")] == [1]


def test_a_linked_backup_dir_is_refused(state_root: Path, tmp_path: Path) -> None:
    (state_root / "c07").mkdir(parents=True, mode=0o700)
    (tmp_path / "elsewhere").mkdir()
    (state_root / "c07" / "generations").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(Refused, match="generations: the state dir is a symbolic link"):
        sync.list_generations("c07")


# -- item 2: permission bits are kept, hashed and never widened ----------------------------

def test_modes_are_kept_hashed_and_restored(basedir: Path, tmp_path: Path) -> None:
    secret = basedir / "sysconfig" / "ipmi.secret"
    secret.write_text("hunter2\n")
    secret.chmod(0o600)
    (basedir / "hooks").chmod(0o750)
    (basedir / "init.d" / "censhare_db").chmod(0o700)
    basedir.chmod(0o750)
    packed = pack(basedir)
    target = tmp_path / "etc" / "s2s-sd"
    old_umask = os.umask(0)  # the receiver's umask neither widens nor narrows
    try:
        sync.install("c07", target, 1, packed.digest, packed.archive, accept)
    finally:
        os.umask(old_umask)
    modes = {path: entry[:2] for path, entry in snapshot(target).items()}
    assert modes == {path: entry[:2] for path, entry in snapshot(basedir).items()}
    assert modes["sysconfig/ipmi.secret"] == ("file", 0o600)
    assert modes["."] == ("dir", 0o750)
    # a mode is part of the content: chmod alone makes another generation
    secret.chmod(0o640)
    assert content_digest(basedir) != packed.digest
    # sync --restore on the admin host brings the modes back too
    sync.record_local("c07", 7, target)
    (target / "sysconfig" / "ipmi.secret").chmod(0o644)
    sync.restore_into("c07", 7, target, accept)
    assert snapshot(target)["sysconfig/ipmi.secret"][1] == 0o600


def test_a_secret_is_never_wider_while_it_is_written(basedir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    secret = basedir / "sysconfig" / "ipmi.secret"
    secret.write_text("hunter2\n")
    secret.chmod(0o600)
    packed = pack(basedir)
    created: dict[str, int] = {}
    real_open = os.open

    def recording_open(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if flags & os.O_CREAT and str(path).endswith("ipmi.secret"):
            created[str(path)] = mode
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    sync.install("c07", tmp_path / "etc" / "s2s-sd", 1, packed.digest, packed.archive, accept)
    assert list(created.values()) == [0o600]


# -- item 3: version-control and editor files ----------------------------------------------

NOT_SYNCED = [".git/config", ".git/objects/ab/cdef", ".hg/store", ".svn/entries",
              "s2s.toml~", ".s2s.toml.swp", "init.d/.censhare_db.swo", "#s2s.toml#",
              ".#s2s.toml", ".DS_Store", "groups/.bzr/x"]


def test_vcs_and_editor_files_are_neither_synced_nor_hashed(basedir: Path,
                                                             host_base: Path) -> None:
    clean = pack(basedir)
    for relpath in NOT_SYNCED:
        (basedir / relpath).parent.mkdir(parents=True, exist_ok=True)
        (basedir / relpath).write_text("noise\n")
    assert content_digest(basedir) == clean.digest
    noisy = pack(basedir)
    assert noisy == clean
    # the receiving host's own .git and swap files stay where they are
    (host_base / ".git").mkdir()
    (host_base / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (host_base / "init.d" / ".censhare_db.swp").write_text("vim\n")
    (basedir / "s2s.toml").write_text((basedir / "s2s.toml").read_text() + "# 2\n")
    newer = pack(basedir)
    sync.install("c07", host_base, 2, newer.digest, newer.archive, accept)
    assert (host_base / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert (host_base / "init.d" / ".censhare_db.swp").read_text() == "vim\n"
    assert content_digest(host_base) == newer.digest
    assert not any(n.startswith(".s2s-sd.") for n in os.listdir(host_base.parent))


def test_readme_documents_the_exclusion_rule() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text()
    for name in (".git", ".hg", "*~", ".*.swp", "#*#", ".#*"):
        assert f"`{name}`" in readme


# -- item 4: one rule for links, in check and in sync --------------------------------------

def test_links_inside_the_base_dir_are_synced_and_restored_as_links(
        basedir: Path, tmp_path: Path) -> None:
    (basedir / "init.tpl").mkdir()
    (basedir / "init.tpl" / "server").write_text("#!/bin/bash\nexit 0\n")
    (basedir / "init.tpl" / "server").chmod(0o755)
    (basedir / "init.d" / "server").symlink_to("../init.tpl/server")
    (basedir / "templates").symlink_to("init.tpl")
    load_checked(basedir, "n1")  # check accepts them
    packed = pack(basedir)
    target = tmp_path / "etc" / "s2s-sd"
    sync.install("c07", target, 1, packed.digest, packed.archive, accept)
    assert os.readlink(target / "init.d" / "server") == "../init.tpl/server"
    assert os.readlink(target / "templates") == "init.tpl"
    sync.record_local("c07", 2, target)
    (target / "init.d" / "server").unlink()
    sync.restore_into("c07", 2, target, accept)
    assert os.readlink(target / "init.d" / "server") == "../init.tpl/server"


def _problems(basedir: Path) -> list[str]:
    with pytest.raises(InvalidDefinitions) as caught:
        load_checked(basedir, "n1")
    return [str(p) for p in caught.value.problems if not p.warning]


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "missing", "."])
def test_a_referenced_link_that_is_not_synced_is_reported_at_its_key(
        basedir: Path, tmp_path: Path, target: str) -> None:
    (tmp_path / "outside").write_text("#!/bin/bash\nexit 0\n")
    script = basedir / "init.d" / "censhare_db"
    script.unlink()
    script.symlink_to(target)
    problems = _problems(basedir)
    assert any(p.startswith("s2s.toml:49: ") and "init.d/censhare_db: cannot be synced"
               in p for p in problems), problems


@pytest.mark.parametrize("links", [
    {"sysconfig/stray": "../../x"},
    {"sysconfig/stray": "/etc/hostname"},
    {"sysconfig/stray": "nothing-there"},
    {"sysconfig/stray": "other", "sysconfig/other": "stray"},
    {"sysconfig/stray": ".."},
    {"sysconfig/stray": "../.git/config"},
])
def test_an_unreferenced_bad_link_is_reported_at_the_link(basedir: Path,
                                                          links: dict[str, str]) -> None:
    (basedir / ".git").mkdir()
    (basedir / ".git" / "config").write_text("[core]\n")
    for path, target in links.items():
        (basedir / path).symlink_to(target)
    problems = _problems(basedir)
    assert any(p.startswith("sysconfig/stray:1: (file): cannot be synced: link")
               for p in problems), problems
    with pytest.raises(BadInput, match="sysconfig/stray"):
        pack(basedir)


def test_odd_files_are_refused_by_check(basedir: Path) -> None:
    os.mkfifo(basedir / "sysconfig" / "pipe")
    problems = _problems(basedir)
    assert any(p.startswith("sysconfig/pipe:1: (file): cannot be synced: a FIFO")
               for p in problems), problems


def test_sync_refuses_a_bad_link_before_it_takes_the_lock(basedir: Path,
                                                          state_root: Path) -> None:
    (basedir / "sysconfig" / "stray").symlink_to("/etc/hostname")
    result = CliRunner().invoke(main, ["sync", "--basedir", str(basedir)])
    assert result.exit_code == 2, result.output
    assert "sysconfig/stray:1: (file): cannot be synced" in result.stderr
    assert not (state_root / "c07" / "lock").exists()


# -- item 5: crafted archives ------------------------------------------------------------

def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", mode: int = 0o644,
           linkname: str = "", pax: dict[str, str] | None = None
           ) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.pax_headers = dict(pax or {})
    return info, data


BASE = member(".", tarfile.DIRTYPE, mode=0o755)


def archive(*members: tuple[tarfile.TarInfo, bytes], base: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in ([BASE] if base else []) + list(members):
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _gzipped() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info, _ = member("big")
        info.size = 8 << 20
        tar.addfile(info, io.BytesIO(bytes(8 << 20)))
    return buffer.getvalue()


def _truncated() -> bytes:
    whole = pack(EXAMPLES).archive
    return whole[: len(whole) // 2 + 100]


CRAFTED: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "garbage": lambda: b"\x8b\x1f not a tar at all" * 100,
    "zeros": lambda: bytes(10240),
    "truncated": _truncated,
    "gzip": _gzipped,
    "gzip-of-gzip": lambda: gzip.compress(_gzipped()),
    "sparse-8GiB": lambda: archive(member("sparse", pax={
        "GNU.sparse.map": "0,0", "GNU.sparse.size": str(8 << 30)})),
    "hardlink": lambda: archive(member("a", data=b"x"), member("b", tarfile.LNKTYPE,
                                                                linkname="a")),
    "fifo": lambda: archive(member("pipe", tarfile.FIFOTYPE)),
    "device": lambda: archive(member("null", tarfile.CHRTYPE)),
    "absolute": lambda: archive(member("/etc/cron.d/x", data=b"x")),
    "dotdot": lambda: archive(member("a/../../x", data=b"x")),
    "duplicate": lambda: archive(member("a", data=b"x"), member("a", data=b"y")),
    "file-under-file": lambda: archive(member("a", data=b"x"), member("a/b", data=b"y")),
    "file-under-link": lambda: archive(member("d", tarfile.SYMTYPE, linkname="/tmp"),
                                       member("d/x", data=b"x")),
    "link-out": lambda: archive(member("l", tarfile.SYMTYPE, linkname="../../etc/passwd")),
    "link-absolute": lambda: archive(member("l", tarfile.SYMTYPE, linkname="/etc/passwd")),
    "link-loop": lambda: archive(member("a", tarfile.SYMTYPE, linkname="b"),
                                 member("b", tarfile.SYMTYPE, linkname="a")),
    "no-base-entry": lambda: archive(member("a", data=b"x"), base=False),
    "base-not-first": lambda: archive(member("a", data=b"x"), BASE, base=False),
    "undeclared-dir": lambda: archive(member("d/x", data=b"x")),
    "vcs-member": lambda: archive(member(".git", tarfile.DIRTYPE),
                                  member(".git/config", data=b"x")),
    "long-name": lambda: archive(member("n" * 300, data=b"x")),
    "control-char": lambda: archive(member("a\nb", data=b"x")),
    "negative-size": lambda: _negative_size(),
}


def _negative_size() -> bytes:
    data = bytearray(archive(member("a", data=b"x" * 10)))
    # the second header (after the base dir's pax header and header) holds the size: put
    # a base-256 negative number there
    for offset in range(0, len(data), 512):
        if data[offset:offset + 1] == b"a" and data[offset + 156:offset + 157] == b"0":
            data[offset + 124:offset + 136] = b"\xff" * 12
            checksum = 256 + sum(data[offset:offset + 148]) + sum(data[offset + 156:offset + 512])
            data[offset + 148:offset + 156] = b"%06o\0 " % checksum
    return bytes(data)


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_every_malformed_archive_is_bad_input_and_leaves_nothing(
        name: str, host_base: Path, state_root: Path) -> None:
    crafted = CRAFTED[name]()
    before = everything(host_base, state_root)
    with pytest.raises(BadInput):
        sync.install("c07", host_base, 2, "0" * 64, crafted, accept)
    assert everything(host_base, state_root) == before


@pytest.mark.parametrize("limit, value", [("MAX_MEMBERS", 5), ("MAX_UNPACKED_BYTES", 1000)])
def test_limits_on_members_and_unpacked_bytes(limit: str, value: int, host_base: Path,
                                              state_root: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    crafted = archive(*(member(f"f{i}", data=b"x" * 300) for i in range(8)))
    monkeypatch.setattr(f"s2s_sd.hosts.archive.{limit}", value)
    before = everything(host_base, state_root)
    with pytest.raises(BadInput, match="more than"):
        sync.install("c07", host_base, 2, "0" * 64, crafted, accept)
    assert everything(host_base, state_root) == before


# -- the same as a user without root's powers ----------------------------------------------

def as_nobody(work: Callable[[], Any]) -> Any:
    """Run work in a child process as uid/gid nobody; its result or its exception."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(reader)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            outcome: Any = ("ok", work())
        except BaseException as exc:  # the parent asserts on it
            outcome = ("raised", f"{type(exc).__name__}: {exc}")
        with os.fdopen(writer, "wb") as pipe:
            pipe.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        outcome = pickle.loads(pipe.read())
    os.waitpid(pid, 0)
    return outcome


def test_non_root_unreadable_directories_are_problems_of_check(basedir: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="s2s-sd-nobody-"))
    try:
        base = shared / "base"
        shutil.copytree(basedir, base)
        for path in [shared, *base.rglob("*"), base]:
            os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
        (base / "sysconfig").chmod(0o300)  # nobody may write but not list it
        outcome = as_nobody(lambda: sorted(str(p) for p in entries(base)))
        assert outcome[0] == "raised" and "sysconfig: cannot read the directory" in outcome[1]
    finally:
        shutil.rmtree(shared)


def test_non_root_refused_archive_with_locked_directories_leaves_nothing() -> None:
    shared = Path(tempfile.mkdtemp(prefix="s2s-sd-nobody-"))
    os.chown(shared, NOBODY, NOBODY)
    crafted = archive(member("ro", tarfile.DIRTYPE, mode=0o500),
                      member("ro/inner", tarfile.DIRTYPE, mode=0o000),
                      member("ro/file", data=b"x", mode=0o400))

    def install() -> tuple[str, list[str]]:
        os.environ["S2S_SD_STATEDIR"] = str(shared / "state")
        os.environ["S2S_SD_LOGDIR"] = str(shared / "log")
        try:
            sync.install("c07", shared / "etc" / "s2s-sd", 1, "0" * 64, crafted, accept)
        except BadInput as exc:
            return str(exc), sorted(os.listdir(shared / "etc"))
        return "installed", []

    try:
        outcome = as_nobody(install)
        assert outcome[0] == "ok" and outcome[1][0] != "installed"
        assert outcome[1][1] == []  # nothing left beside the base dir
    finally:
        shutil.rmtree(shared)
