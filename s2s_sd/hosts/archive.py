"""The base dir as an archive: its content hash, packing it, and unpacking an archive
from another host with limits.

`pack` makes a tar with sorted members (modes kept, no owners, no times) and the content
hash over kind, path, mode and content of exactly what went into it. `unpack` writes only
what `pack` makes, into an empty directory, with limits on the archive's size, its
members and the unpacked bytes; anything else is BadInput.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from s2s_sd.basetree import Entry, entries, link_problem, name_problem
from s2s_sd.errors import BadInput, OperationFailed

MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 20_000
CHUNK = 64 * 1024
DIGEST_VERSION = b"s2s-sd base dir v2\0"  # v1 hashed paths, executable bits and bytes


class _Digest:
    """sha256 over every entry's kind, path, permission bits and content (link target)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256(DIGEST_VERSION)

    def add(self, entry: Entry, content_hash: bytes = b"") -> None:
        self._hash.update(f"{entry.kind}\0{entry.path}\0{entry.mode:o}\0".encode())
        self._hash.update(content_hash if entry.kind == "file" else
                          entry.target.encode() + b"\0")

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


@contextmanager
def _open_entry(basedir: Path, entry: Entry) -> Iterator[IO[bytes]]:
    """A synced file, opened without following a link or blocking on a FIFO swapped in
    since the scan."""
    path = basedir / entry.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadInput(f"{path}: changed into a non-regular file while reading")
        yield handle


class _HashingReader:
    """Passes a file through to tarfile, hashing what it reads."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.hash.update(data)
        return data


def _file_hash(handle: IO[bytes]) -> bytes:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.digest()


def content_digest(basedir: Path, shown: str | None = None) -> str:
    """The content hash of the base dir (BadInput when it cannot be synced)."""
    digest = _Digest()
    for entry in entries(basedir, shown):
        if entry.kind == "file":
            with _open_entry(basedir, entry) as handle:
                digest.add(entry, _file_hash(handle))
        else:
            digest.add(entry)
    return digest.hexdigest()


@dataclass(frozen=True)
class Packed:
    archive: bytes
    digest: str


def pack(basedir: Path) -> Packed:
    """A deterministic tar of the base dir (sorted, modes kept, no owners, no times) and
    the content hash of exactly what went into it."""
    found = entries(basedir)
    if len(found) > MAX_MEMBERS:
        raise BadInput(f"{basedir}: more than {MAX_MEMBERS} files to sync")
    if sum(e.size for e in found) > MAX_UNPACKED_BYTES:
        raise BadInput(f"{basedir}: more than {MAX_UNPACKED_BYTES >> 20} MiB to sync")
    digest = _Digest()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for entry in found:
            info = tarfile.TarInfo(entry.path)
            info.mode = entry.mode
            info.mtime = 0
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
                digest.add(entry)
            elif entry.kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.target
                archive.addfile(info)
                digest.add(entry)
            else:
                with _open_entry(basedir, entry) as handle:
                    info.size = os.fstat(handle.fileno()).st_size
                    reader = _HashingReader(handle)
                    try:
                        archive.addfile(info, reader)
                    except OSError as exc:  # shrank while being read
                        raise BadInput(f"{basedir / entry.path}: changed while being "
                                       "packed; sync again") from exc
                    digest.add(entry, reader.hash.digest())
    data = buffer.getvalue()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise BadInput(f"{basedir}: the archive would be larger than "
                       f"{MAX_ARCHIVE_BYTES >> 20} MiB")
    return Packed(data, digest.hexdigest())


def _member_name(raw: str) -> str:
    if not raw:
        raise BadInput("configuration archive: a member without a name")
    shown = raw[:80].encode("unicode_escape").decode("ascii")
    if raw.startswith("/") or ".." in raw.split("/"):
        raise BadInput(f"configuration archive: member '{shown}' is absolute or leaves "
                       "the base dir")
    name = posixpath.normpath(raw)
    problem = name_problem(name) if name != "." else None
    if problem:
        raise BadInput(f"configuration archive: member '{shown}': {problem}")
    return name


class _Unpacker:
    """Writes the members of one archive into an empty directory, refusing everything
    `pack` does not make: each member's directory must be an earlier directory member
    (so nothing is written through a link or under a file), one member per name,
    no hard links, devices, FIFOs or sparse files, and limits on members and bytes."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.directories = {"."}
        self.names: set[str] = set()
        self.modes: list[tuple[str, int]] = []
        self.total = 0

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = _member_name(member.name)
        shown = repr(name)  # a checked name: printable UTF-8
        if name in self.names:
            raise BadInput(f"configuration archive: {shown} appears twice")
        self.names.add(name)
        mode = member.mode & 0o777
        if name == ".":
            if not member.isdir() or len(self.names) != 1:
                raise BadInput("configuration archive: the base dir entry must come first")
            self.modes.append((".", mode))
            return
        if len(self.names) == 1:
            raise BadInput("configuration archive: no base dir entry (made by another "
                           "s2s-sd version? sync again once every host is upgraded)")
        parent = posixpath.dirname(name) or "."
        if parent not in self.directories:
            raise BadInput(f"configuration archive: {shown} is not inside a directory "
                           "of the archive")
        path = os.path.join(self.target, name)
        if member.issparse():
            raise BadInput(f"configuration archive: {shown} is a sparse file")
        if member.isdir():
            os.mkdir(path, 0o700)  # its own mode at the end, when its content is written
            self.directories.add(name)
            self.modes.append((name, mode))
        elif member.isreg():
            self._file(tar, member, path, mode, shown)
        elif member.issym():
            problem = link_problem(name, member.linkname)
            if problem:
                raise BadInput(f"configuration archive: {shown}: {problem}")
            os.symlink(member.linkname, path)
        else:
            raise BadInput(f"configuration archive: {shown} is not a regular file, "
                           "directory or link")

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, mode: int,
              shown: str) -> None:
        if member.size < 0:
            raise BadInput(f"configuration archive: {shown} has a negative size")
        self.total += member.size
        if self.total > MAX_UNPACKED_BYTES:
            raise BadInput(f"configuration archive: more than {MAX_UNPACKED_BYTES >> 20} "
                           "MiB unpacked")
        source = tar.extractfile(member)
        assert source is not None  # a regular member
        # created with its own bits (or fewer, by the umask) and never more: a secret is
        # not readable by anyone else for an instant
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, mode)
        with os.fdopen(fd, "wb") as handle:
            copied = 0
            while chunk := source.read(min(CHUNK, member.size - copied)):
                handle.write(chunk)
                copied += len(chunk)
            if copied != member.size:
                raise BadInput(f"configuration archive: {shown} is truncated")
            os.fchmod(fd, mode)

    def finish(self) -> None:
        if not self.modes:
            raise BadInput("configuration archive: empty")
        for name, mode in reversed(self.modes):  # the deepest first, the base dir last
            os.chmod(os.path.join(self.target, name), mode)


def unpack(archive: bytes, target: Path) -> None:
    """Unpack an archive of `pack` into the empty directory target (BadInput for any
    other archive; the caller removes target then)."""
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise BadInput(f"configuration archive larger than {MAX_ARCHIVE_BYTES >> 20} MiB")
    unpacker = _Unpacker(target)
    try:
        # "r:": no decompression, so the archive's size bounds what it unpacks to
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            count = 0
            while (member := tar.next()) is not None:
                count += 1
                if count > MAX_MEMBERS:
                    raise BadInput(f"configuration archive: more than {MAX_MEMBERS} members")
                unpacker.member(tar, member)
        unpacker.finish()
    except (tarfile.TarError, EOFError, ValueError, UnicodeError, OverflowError) as exc:
        raise BadInput(f"configuration archive is damaged or not a tar: {exc}") from exc
    except OSError as exc:
        if exc.errno in (errno.ENAMETOOLONG, errno.EEXIST, errno.ENOTDIR, errno.EISDIR,
                         errno.ELOOP, errno.EINVAL, errno.ENOENT):
            raise BadInput(f"configuration archive: cannot unpack ({exc})") from exc
        raise OperationFailed(f"cannot unpack the configuration ({exc})") from exc

