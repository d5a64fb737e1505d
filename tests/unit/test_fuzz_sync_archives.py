"""Property: whatever archive a host is sent, it either installs exactly what was packed
or is BadInput with the base dir, the state (generation, backups) and the directory
beside the base dir byte for byte unchanged; never another exception, never slow.

Three sources of archives: random trees packed by `pack` (must install, modes and links
included, or be refused already by `pack`), damaged copies of a valid archive (cut,
flipped, grown, compressed), and archives crafted member by member from every tar type,
nasty names, huge declared sizes and sparse headers.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
import tarfile
import tempfile
import tracemalloc
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from s2s_sd.basetree import excluded
from s2s_sd.errors import BadInput
from s2s_sd.hosts import sync
from s2s_sd.hosts.archive import content_digest, pack, unpack
from tests.unit.tree_snapshot import snapshot

pytestmark = pytest.mark.unit

NAMES = ["a", "b", "s2s.toml", "init.d", ".git", "x~", ".y.swp", "#z#", "..", ".", "",
         "a/b", "/etc", "é", "a\nb", "n" * 256, "\udcff"]


def refuse_marked(staged: Path) -> None:
    """The host's check, in small: a tree with a file named `refuse` does not load."""
    if (staged / "refuse").exists():
        raise BadInput("refuse: the definitions do not load here")


@contextlib.contextmanager
def host() -> Iterator[Path]:
    """A host with generation 1 installed in a fresh tmp dir; yields its base dir."""
    with tempfile.TemporaryDirectory(prefix="s2s-sd-fuzz-") as tmp:
        saved = {k: os.environ.get(k) for k in ("S2S_SD_STATEDIR", "S2S_SD_LOGDIR")}
        os.environ["S2S_SD_STATEDIR"] = f"{tmp}/state"
        os.environ["S2S_SD_LOGDIR"] = f"{tmp}/log"
        try:
            base = Path(tmp) / "etc" / "s2s-sd"
            archive, digest = valid_archive()
            sync.install("c07", base, 1, digest, archive, refuse_marked)
            yield base
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _source_tree(root: Path) -> None:
    (root / "init.d").mkdir(mode=0o750)
    (root / "s2s.toml").write_text("[hostgroup]\nname = 'c07'\n")
    (root / "init.d" / "db").write_text("#!/bin/sh\nexit 0\n")
    (root / "init.d" / "db").chmod(0o700)
    (root / "secret").write_text("hunter2\n")
    (root / "secret").chmod(0o600)
    (root / "link").symlink_to("init.d/db")


@lru_cache(maxsize=1)
def valid_archive() -> tuple[bytes, str]:
    with tempfile.TemporaryDirectory() as tmp:
        _source_tree(Path(tmp))
        packed = pack(Path(tmp))
    return packed.archive, packed.digest


def everything(base: Path) -> Any:
    return (snapshot(base), sorted(os.listdir(base.parent)),
            snapshot(Path(os.environ["S2S_SD_STATEDIR"])))


def install_or_refuse(base: Path, archive: bytes, digest: str, fuzzed: bool = True) -> bool:
    """Install generation 2; assert the property; True when it was installed."""
    before = everything(base)
    try:
        sync.install("c07", base, 2, digest, archive, refuse_marked)
    except BadInput as exc:
        assert everything(base) == before
        if fuzzed:  # `--hypothesis-show-statistics` shows how often each way was taken
            event(f"refused: {str(exc).split(':')[0][:40]}")
        return False
    if fuzzed:
        event("installed")
    assert content_digest(base) == digest
    assert sync.read_generation("c07").digest == digest
    assert [n for n in os.listdir(base.parent) if n != base.name] == []
    return True


# -- random trees, packed ------------------------------------------------------------------

entry_names = st.sampled_from(["a", "b", "c", ".git", "x~", ".s.swp", "refuse", "é"])
tree_entries = st.lists(st.tuples(
    st.lists(entry_names, min_size=1, max_size=3).map("/".join),
    st.sampled_from(["file", "dir", "link", "fifo"]),
    st.sampled_from([0o600, 0o644, 0o755, 0o700, 0o400, 0o750, 0o000]),
    st.sampled_from(["a", "../a", "b/c", "/etc/passwd", "..", ".", "missing", "c/../a"]),
    st.binary(max_size=64),
), max_size=12)


def _build(root: Path, spec: list[tuple[str, str, int, str, bytes]]) -> None:
    for relpath, kind, mode, target, data in spec:
        path = root / relpath
        if os.path.lexists(path):
            continue  # twice in the spec: the first one stays (never write into a FIFO)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "dir":
                path.mkdir(mode=0o755)
                path.chmod(mode | 0o700)  # the owner (root) must still fill it
            elif kind == "file":
                path.write_bytes(data)
                path.chmod(mode)
            elif kind == "link":
                path.symlink_to(target)
            else:
                os.mkfifo(path)
        except OSError:
            continue  # the spec asked for a path under a file, or twice: skip it


@given(tree_entries)
def test_packed_trees_install_exactly_or_are_refused_by_pack(
        spec: list[tuple[str, str, int, str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as source_dir, host() as base:
        source = Path(source_dir) / "src"
        source.mkdir()
        (source / "s2s.toml").write_text("[hostgroup]\n")
        _build(source, spec)
        try:
            packed = pack(source)
        except BadInput:
            return  # a tree `check` refuses too (its links or FIFOs)
        installed = install_or_refuse(base, packed.archive, packed.digest)
        assert installed != (source / "refuse").exists()
        if installed:
            synced = {p: e[:2] + e[3:] for p, e in snapshot(source).items()
                      if not any(excluded(part) for part in p.split("/"))}
            got = {p: e[:2] + e[3:] for p, e in snapshot(base).items()}
            assert got == synced


# -- damaged copies of a valid archive -----------------------------------------------------

@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    archive = bytearray(valid_archive()[0])
    how = draw(st.sampled_from(["cut", "flip", "grow", "gzip", "pad"]))
    if how == "cut":
        return bytes(archive[:draw(st.integers(0, len(archive)))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            position = draw(st.integers(0, len(archive) - 1))
            archive[position] = draw(st.integers(0, 255))
        return bytes(archive)
    if how == "grow":
        position = draw(st.integers(0, len(archive)))
        return bytes(archive[:position]) + draw(st.binary(min_size=1, max_size=1024)) \
            + bytes(archive[position:])
    if how == "gzip":
        return gzip.compress(bytes(archive))
    return bytes(archive) + bytes(draw(st.integers(0, 8)) * 512)


@given(damaged())
def test_damaged_archives_install_exactly_or_change_nothing(archive: bytes) -> None:
    with host() as base:
        install_or_refuse(base, archive, valid_archive()[1])


# -- archives crafted member by member -----------------------------------------------------

TYPES = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
         tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE,
         tarfile.CONTTYPE, b"S", b"Z"]

members = st.lists(st.tuples(
    st.one_of(st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES[:8]), min_size=1,
                                               max_size=4).map("/".join)),
    st.sampled_from(TYPES),
    st.integers(0, 0o7777),
    st.one_of(st.just(-1), st.integers(0, 2048), st.just(8 << 30)),  # declared size; -1: true
    st.sampled_from(NAMES),  # link name
    st.booleans(),  # a sparse pax header
), max_size=10)


def _crafted(spec: list[tuple[str, bytes, int, int, str, bool]], base_first: bool) -> bytes:
    out = io.BytesIO()
    chunks: list[bytes] = []
    if base_first:
        info = tarfile.TarInfo(".")
        info.type = tarfile.DIRTYPE
        chunks.append(info.tobuf(tarfile.PAX_FORMAT))
    for name, kind, mode, size, linkname, sparse in spec:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.linkname = linkname
        data = b"d" * (64 if size < 0 else min(size, 4096))
        info.size = len(data) if size < 0 else size
        if sparse:
            info.pax_headers = {"GNU.sparse.map": "0,0", "GNU.sparse.size": str(8 << 30)}
        try:
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        except (ValueError, UnicodeError):
            continue  # not even tarfile can write that name
        chunks.append(header + data + bytes(-len(data) % 512))
    out.write(b"".join(chunks) + bytes(1024))
    return out.getvalue()


@given(members, st.booleans(), st.booleans())
def test_crafted_archives_install_exactly_or_change_nothing(
        spec: list[tuple[str, bytes, int, int, str, bool]], base_first: bool,
        real_digest: bool) -> None:
    archive = _crafted(spec, base_first)
    with host() as base:
        digest = "0" * 64
        if real_digest:  # the hash of what the archive holds, to pass that gate too
            with tempfile.TemporaryDirectory() as scratch:
                target = Path(scratch) / "t"
                target.mkdir()
                try:
                    unpack(archive, target)
                    digest = content_digest(target)
                except BadInput:
                    pass
                finally:
                    sync.remove_tree(target)
        install_or_refuse(base, archive, digest)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_member_declaring_8_gib_is_refused_without_reading_it(sparse: bool) -> None:
    archive = _crafted([("big", tarfile.REGTYPE, 0o644, 8 << 30, "", sparse)], True)
    with host() as base:
        tracemalloc.start()
        try:
            assert not install_or_refuse(base, archive, "0" * 64, fuzzed=False)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 << 20
        assert not any(stat.S_ISREG(os.lstat(base / n).st_mode) and n == "big"
                       for n in os.listdir(base))
