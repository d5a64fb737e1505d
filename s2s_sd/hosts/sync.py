"""Symmetric configuration: the base dir as numbered generations (its archive and
content hash: hosts/archive.py).

The admin host packs its base dir (basetree.py says what is in it: files and directories
with their permission bits, links that stay inside, never version-control or editor
files) into a tar with sorted members and a content hash over kind, path, mode and
content. Every host installs it as generation N: the archive is unpacked beside the base
dir with limits on members and unpacked bytes, hashed, loaded and validated for THIS host;
only then is it swapped in (one atomic exchange) and recorded, and a failure to record
swaps the old tree back. Anything wrong with an archive is BadInput and leaves the base
dir, the generation and the directory beside it exactly as they were.
A host whose generation is older than the admin's refuses to act (hosts/session.py).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_sd.basetree import excluded
from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.hosts.archive import MAX_ARCHIVE_BYTES, content_digest, pack, unpack
from s2s_sd.hosts.state import (
    ensure_state_dir,
    log_action,
    private_subdir,
    read_state_file,
    state_dir,
)
from s2s_sd.writer import stage_file, write_file_atomic

GENERATION_FILE = "generation.json"
BACKUP_DIR = "generations"
KEEP_GENERATIONS = 10
MAX_GENERATION = 1 << 62

Check = Callable[[Path], None]


@dataclass(frozen=True)
class Generation:
    number: int
    digest: str
    synced: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"generation": self.number, "digest": self.digest, "synced": self.synced}


# -- installing a tree -------------------------------------------------------------------

def remove_tree(path: Path) -> None:
    """Remove a staging or retired tree, also one whose directories are not writable."""
    if path.is_symlink() or not path.exists():
        path.unlink(missing_ok=True)
        return
    try:
        os.chmod(path, 0o700)
        for directory, dirs, _files in os.walk(path):
            for name in dirs:
                child = os.path.join(directory, name)
                if not os.path.islink(child):
                    os.chmod(child, 0o700)
    except OSError:
        pass  # rmtree below removes what it can
    shutil.rmtree(path, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> None:
    """Swap two directories in one step (renameat2 RENAME_EXCHANGE): readers see the
    old tree or the new one, never none; two renames where the kernel cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                     _RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(code, os.strerror(code), str(second))
    parked = first.with_name(first.name + ".swap")
    os.rename(second, parked)
    try:
        os.rename(first, second)
    except OSError:
        os.rename(parked, second)
        raise
    os.rename(parked, first)


def _keep_excluded(old: Path, new: Path) -> list[str]:
    """Move the old tree's version-control and editor files (never synced) into the new
    tree, so a sync does not delete a host's own .git; return what could not move."""
    left: list[str] = []
    for directory, dirs, files in os.walk(old):
        for name in [*dirs, *files]:
            if not excluded(name):
                continue
            source = Path(directory) / name
            destination = new / source.relative_to(old)
            if destination.parent.is_dir() and not destination.parent.is_symlink() \
                    and not os.path.lexists(destination):
                try:
                    os.rename(source, destination)
                    continue
                except OSError:
                    pass
            left.append(str(source.relative_to(old)))
        dirs[:] = [d for d in dirs if not excluded(d)]
    return left


def _swap_in(staging: Path, basedir: Path) -> bool:
    """Make staging the base dir; afterwards the old tree (if any) is at staging.
    Returns whether there was an old tree."""
    if os.path.lexists(basedir):
        _exchange(staging, basedir)
        return True
    os.rename(staging, basedir)
    return False


def _swap_back(staging: Path, basedir: Path, had_old: bool) -> None:
    if had_old:
        _exchange(staging, basedir)
    else:
        os.rename(basedir, staging)


def _fsync_dirs(*paths: Path) -> None:
    """Make the renames durable; a failure here changes nothing any more."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass


@contextmanager
def _staged(archive: bytes, basedir: Path, label: str, what: str, digest: str,
            check: Check) -> Iterator[Path]:
    """The archive unpacked beside the base dir, its hash verified and checked; removed
    again whatever happens (after a swap it holds the old tree)."""
    parent = basedir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{basedir.name}.{label}-", dir=parent))
    except OSError as exc:
        raise OperationFailed(f"cannot write beside {basedir}: {exc.strerror}") from exc
    try:
        unpack(archive, staging)
        received = content_digest(staging, f"the archive of {what}")
        if received != digest:
            raise BadInput(f"{what} arrived damaged "
                           f"(hash {received[:12]} instead of {digest[:12]})")
        check(staging)
        yield staging
    finally:
        remove_tree(staging)


# -- generations ---------------------------------------------------------------------------

def _generation_from(raw: bytes, where: Path) -> Generation:
    try:
        data = json.loads(raw.decode("utf-8"))
        number = data["generation"]
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ValueError("generation is not a number")
        return Generation(number, str(data["digest"]), float(data.get("synced", 0)))
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise OperationFailed(f"{where}: unreadable generation ({exc})") from exc


def read_generation(hostgroup: str) -> Generation:
    path = state_dir(hostgroup) / GENERATION_FILE
    raw = read_state_file(path)
    return Generation(0, "") if raw is None else _generation_from(raw, path)


def _meta(generation: Generation) -> str:
    return json.dumps(generation.as_dict(), sort_keys=True) + "\n"


def _swap_and_record(hostgroup: str, basedir: Path, staging: Path, generation: Generation,
                     archive: bytes, swap: bool = True) -> list[str]:
    """Swap the staged tree in and record it as this host's generation, as one step:
    every file of the record is written before the swap and renamed into place after
    it; when that fails, the old tree is swapped back. swap=False: the base dir holds
    this content already (the admin's own host): record only, keep its files as they
    are (owners included)."""
    directory = ensure_state_dir(hostgroup)
    backups = private_subdir(directory, BACKUP_DIR)
    targets = [backups / f"{generation.number}.tar", backups / f"{generation.number}.json",
               directory / GENERATION_FILE]
    existed = [os.path.lexists(t) for t in targets]
    prepared: list[Path] = []
    try:
        contents: tuple[bytes | str, ...] = (archive, _meta(generation), _meta(generation))
        for target, data in zip(targets, contents, strict=True):
            prepared.append(stage_file(target, data, 0o600))
        had_old = _swap_in(staging, basedir) if swap else False
        try:
            for tmp, target in zip(prepared, targets, strict=True):
                os.replace(tmp, target)  # replaces a planted link, never follows it
        except OSError:
            for target, was in zip(targets[:2], existed[:2], strict=True):
                if not was:
                    target.unlink(missing_ok=True)
            if swap:
                _swap_back(staging, basedir, had_old)
            raise
    except OSError as exc:
        raise OperationFailed(f"generation {generation.number} not installed, {basedir} "
                              f"and the recorded generation are unchanged ({exc})") from exc
    finally:
        for tmp in prepared:
            tmp.unlink(missing_ok=True)
    _fsync_dirs(directory, basedir.absolute().parent)
    left = _keep_excluded(staging, basedir) if had_old else []
    _prune(backups)
    return left


def _prune(backups: Path) -> None:
    numbers = sorted(int(p.stem) for p in backups.glob("*.tar") if p.stem.isdigit())
    for old in numbers[:-KEEP_GENERATIONS]:
        (backups / f"{old}.tar").unlink(missing_ok=True)
        (backups / f"{old}.json").unlink(missing_ok=True)


def record_local(hostgroup: str, number: int, basedir: Path) -> Generation:
    """Record the base dir as it is as generation `number` (kept as a backup)."""
    packed = pack(basedir)
    generation = Generation(number, packed.digest, time.time())
    directory = ensure_state_dir(hostgroup)
    backups = private_subdir(directory, BACKUP_DIR)
    write_file_atomic(backups / f"{number}.tar", packed.archive, 0o600)
    write_file_atomic(backups / f"{number}.json", _meta(generation), 0o600)
    write_file_atomic(directory / GENERATION_FILE, _meta(generation), 0o600)
    _prune(backups)
    return generation


def host_check(host: str, hostgroup: str) -> Check:
    """The check a host applies to a configuration before it takes it: the definitions
    load and validate for this host (its twins, its scripts) and are its host group's."""
    from s2s_sd.checks import load_checked  # the file checks run bash: only when asked

    def check(staged: Path) -> None:
        try:
            definitions, _warnings = load_checked(staged, host)
        except BadInput as exc:
            raise BadInput(f"the configuration does not pass `s2s-sd check` on {host}:\n"
                           f"{exc}") from exc
        if definitions.hostgroup.name != hostgroup:
            raise BadInput(f"the configuration is for host group "
                           f"{definitions.hostgroup.name}, not {hostgroup}")
        if host not in definitions.hostgroup.host_names:
            raise BadInput(f"the configuration's host group {hostgroup} does not list "
                           f"this host ({host})")

    return check


def _holds(basedir: Path, digest: str) -> bool:
    """Does the base dir hold exactly the content with this hash already?"""
    try:
        return os.path.isdir(basedir) and content_digest(basedir) == digest
    except BadInput:
        return False


def install(hostgroup: str, basedir: Path, number: int, digest: str, archive: bytes,
            check: Check) -> Generation:
    """Another host (or the admin's own): unpack the archive beside the base dir, verify
    its hash, `check` the staged tree as this host loads it, and only then swap it in and
    record it. BadInput (nothing changed) for a bad archive or a tree `check` refuses."""
    if not 0 < number < MAX_GENERATION:
        raise BadInput(f"generation {number} out of range")
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise BadInput(f"configuration archive larger than {MAX_ARCHIVE_BYTES >> 20} MiB")
    current = read_generation(hostgroup)
    if number < current.number:
        raise BadInput(f"generation {number} is older than this host's {current.number}")
    with _staged(archive, basedir, f"gen{number}", f"configuration generation {number}",
                 digest, check) as staging:
        generation = Generation(number, digest, time.time())
        left = _swap_and_record(hostgroup, basedir, staging, generation, archive,
                                swap=not _holds(basedir, digest))
    if left:
        log_action(hostgroup, os.uname().nodename, f"generation {number}: could not keep "
                   f"{', '.join(left[:5])} of the old base dir")
    return generation


def list_generations(hostgroup: str) -> list[Generation]:
    backups = private_subdir(state_dir(hostgroup), BACKUP_DIR, create=False)
    found = []
    for meta in sorted(backups.glob("*.json"), key=lambda p: int(p.stem)
                       if p.stem.isdigit() else -1):
        try:
            raw = read_state_file(meta, 4096)
            if raw is not None:
                found.append(_generation_from(raw, meta))
        except OperationFailed:
            continue
    return found


def restore_into(hostgroup: str, number: int, basedir: Path, check: Check) -> None:
    """Put generation `number` back into the base dir of this (admin) host, with its
    modes, after checking it like an install."""
    backups = private_subdir(state_dir(hostgroup), BACKUP_DIR, create=False)
    archive = read_state_file(backups / f"{number}.tar", MAX_ARCHIVE_BYTES)
    meta = read_state_file(backups / f"{number}.json", 4096)
    if archive is None or meta is None:
        known = ", ".join(str(g.number) for g in list_generations(hostgroup)) or "none"
        raise BadInput(f"no backup of generation {number} on this host (kept: {known})")
    recorded = _generation_from(meta, backups / f"{number}.json")
    with _staged(archive, basedir, "restore", f"the backup of generation {number}",
                 recorded.digest, check) as staging:
        try:
            had_old = _swap_in(staging, basedir)
        except OSError as exc:
            raise OperationFailed(f"cannot restore into {basedir} ({exc})") from exc
        if had_old:
            _keep_excluded(staging, basedir)
