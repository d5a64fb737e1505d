"""Aliases in /etc/hosts: one name that resolves to a VIP on the host running its group.

s2s-sd owns exactly the lines that name the alias and nothing else (`ADDRESS NAME`,
optionally with a comment). Every other byte of the file stays as it was: the file is
handled as bytes, lines are never re-formatted, and a file that needs no change is not
rewritten at all. Changes are written to a temporary file in the same directory and
renamed over the original, so readers see either the old or the new file, never half.

Writers (two groups starting at once, an operator's tool using the same convention) are
serialised with flock(2) on a lock file next to the hosts file: the hosts file itself
cannot carry the lock, because rename replaces the inode the lock would be held on.

Names are compared as the resolver compares them: bytes, ASCII case folded. A line that
maps the alias together with any other name, ASCII or not, is the administrator's and
is refused, never shadowed by a line of ours. A hosts file that is a symlink (to a file
another tool manages) is written through the link: the file it leads to is replaced
atomically in its own directory, and the link stays. A dangling link or a hosts file
that is no regular file (a FIFO, a device) is refused: reading or replacing it would
hang or destroy something that is not a hosts file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from s2s_sd.errors import BadInput, OperationFailed, Refused

DEFAULT_HOSTS_FILE = Path("/etc/hosts")
LOCK_WAIT_SECONDS = 10.0
MARKER = b"# s2s-sd vip"
# Host names as resolvers accept them in /etc/hosts; '_' is allowed because the s2s
# convention is ALIAS_CLUSTER (e.g. oracle_c07).
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True)
class AliasLine:
    number: int  # 1-based, as editors show it
    address: str
    names: tuple[str, ...]

    @property
    def is_ours(self) -> bool:
        """A line that maps a single name: the form s2s-sd writes and may replace."""
        return len(self.names) == 1


@dataclass(frozen=True)
class AliasChange:
    changed: bool
    # Lines naming the alias that s2s-sd left alone because they carry other names too.
    foreign_lines: tuple[AliasLine, ...] = ()


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BadInput(
            f"{name!r} is not a valid host name for /etc/hosts "
            "(letters, digits, '_', '-', '.'; starting and ending with a letter or digit)"
        )


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.s2s-sd.lock")


def _split_lines(data: bytes) -> list[bytes]:
    """Lines with their line ends; only b"\\n" ends a line (splitlines knows too many)."""
    lines = data.split(b"\n")
    result = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def _text(field: bytes) -> str:
    """A field for messages and comparisons: non-ASCII bytes escaped, never dropped."""
    return field.decode("ascii", "backslashreplace")


def _lines_naming(lines: list[bytes], name: str) -> list[AliasLine]:
    """The lines mapping NAME, compared as bytes with ASCII case folded (as the resolver
    does: a non-ASCII name beside ours still makes the line someone else's)."""
    wanted = name.encode("ascii").lower()
    found = []
    for number, line in enumerate(lines, 1):
        fields = line.split(b"#", 1)[0].split()
        if len(fields) >= 2 and wanted in (f.lower() for f in fields[1:]):
            found.append(AliasLine(number, _text(fields[0]), tuple(map(_text, fields[1:]))))
    return found


def _resolve(path: Path) -> Path:
    """The file to read and replace for PATH: PATH itself, or the file a symlink at PATH
    leads to (replacing the link by a regular file would cut off whoever manages it)."""
    real = Path(os.path.realpath(path))
    try:
        info = os.stat(real)
    except FileNotFoundError:
        if os.path.islink(path):
            raise Refused(f"{path} is a symlink to {os.readlink(path)}, which does not exist: "
                          "not written (create the file it names, or remove the link)"
                          ) from None
        return path
    except OSError as exc:
        raise OperationFailed(f"cannot use {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        shown = str(path) if real == path.absolute() else f"{path} (-> {real})"
        raise Refused(f"{shown} is not a regular file: not read or replaced as a hosts file")
    return real


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise OperationFailed(f"cannot read {path}: {exc.strerror}") from exc


@contextlib.contextmanager
def locked(path: Path, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the writers' lock of PATH; give up after WAIT seconds with a clear error."""
    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise OperationFailed(f"cannot open lock file {lock}: {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise OperationFailed(f"cannot lock {lock}: {exc.strerror}") from exc
                if time.monotonic() >= deadline:
                    raise OperationFailed(
                        f"{lock} is still locked after {wait:.0f} s by another writer"
                    ) from exc
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        original = path.stat()
    except FileNotFoundError:
        original = None
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".s2s-sd.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if original is not None:
                # mkstemp creates 0600 owned by us; /etc/hosts must stay world-readable
                os.fchmod(out.fileno(), original.st_mode & 0o7777)
                os.fchown(out.fileno(), original.st_uid, original.st_gid)
            else:
                os.fchmod(out.fileno(), 0o644)
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        if exc.errno != errno.EBUSY:
            raise OperationFailed(f"cannot write {path}: {exc.strerror}") from exc
        # A bind-mounted file (containers mount /etc/hosts so) cannot be replaced by a
        # rename; rewriting it in place, still under our lock, is the only way left.
        _write_in_place(path, data)
        return
    # the rename itself must survive a crash too
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_in_place(path: Path, data: bytes) -> None:
    try:
        with path.open("r+b") as out:
            out.write(data)
            out.truncate()
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise OperationFailed(f"cannot write {path}: {exc.strerror}") from exc


def _refuse_foreign(path: Path, name: str, foreign: list[AliasLine]) -> None:
    if foreign:
        where = ", ".join(f"{path}:{line.number}" for line in foreign)
        raise Refused(
            f"{name} is already defined in {where} together with other names; "
            "s2s-sd only manages lines that map its alias alone: remove it there first"
        )


def check_alias(path: Path, name: str) -> None:
    """Refuse early (before a VIP is added) if setting the alias would be refused."""
    check_name(name)
    lines = _split_lines(_read(_resolve(path)))
    _refuse_foreign(path, name, [line for line in _lines_naming(lines, name) if not line.is_ours])


def find_alias(path: Path, name: str) -> tuple[str, ...]:
    """The addresses NAME is mapped to in PATH, in file order."""
    check_name(name)
    return tuple(line.address
                 for line in _lines_naming(_split_lines(_read(_resolve(path))), name))


def set_alias(path: Path, name: str, address: str) -> AliasChange:
    """Make NAME resolve to ADDRESS: keep or fix our line, or append one.

    Several single-name lines for NAME (left from an older address) collapse into one at
    the first one's place. A line mapping NAME together with other names is not ours:
    refuse rather than guess.
    """
    check_name(name)
    with locked(path):
        target = _resolve(path)
        lines = _split_lines(_read(target))
        naming = _lines_naming(lines, name)
        _refuse_foreign(path, name, [line for line in naming if not line.is_ours])
        if len(naming) == 1 and naming[0].address == address:
            return AliasChange(changed=False)
        wanted = f"{address}\t{name}\t".encode() + MARKER + b"\n"
        if naming:
            first = naming[0].number
            drop = {line.number for line in naming[1:]}
            lines[first - 1] = wanted if lines[first - 1].endswith(b"\n") else wanted[:-1]
            lines = [line for number, line in enumerate(lines, 1) if number not in drop]
        else:
            if lines and not lines[-1].endswith(b"\n"):
                lines[-1] += b"\n"  # the only byte we add to someone else's line
            lines.append(wanted)
        _write_atomically(target, b"".join(lines))
        return AliasChange(changed=True)


def remove_alias(path: Path, name: str) -> AliasChange:
    """Remove the single-name lines for NAME; report (and keep) lines with other names."""
    check_name(name)
    with locked(path):
        target = _resolve(path)
        lines = _split_lines(_read(target))
        naming = _lines_naming(lines, name)
        foreign = tuple(line for line in naming if not line.is_ours)
        drop = {line.number for line in naming if line.is_ours}
        if not drop:
            return AliasChange(changed=False, foreign_lines=foreign)
        kept = [line for number, line in enumerate(lines, 1) if number not in drop]
        _write_atomically(target, b"".join(kept))
        return AliasChange(changed=True, foreign_lines=foreign)
