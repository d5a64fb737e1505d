"""Symmetric configuration: the base dir as numbered generations.

The admin host packs its base dir (a tar with sorted members and a content hash over
path, executable bit and bytes), and every host installs it as generation N: the archive
is kept as a backup, unpacked beside the base dir, checked, and swapped in by rename.
A host whose generation is older than the admin's refuses to act (orchestrate.py).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.hosts.state import ensure_state_dir, state_dir
from s2s_sd.writer import write_file_atomic

GENERATION_FILE = "generation.json"
BACKUP_DIR = "generations"
KEEP_GENERATIONS = 10
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Generation:
    number: int
    digest: str
    synced: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"generation": self.number, "digest": self.digest, "synced": self.synced}


def _files(basedir: Path) -> list[Path]:
    found = []
    for path in sorted(basedir.rglob("*")):
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BadInput(f"{path}: only regular files and directories can be synced")
        if path.is_file():
            found.append(path)
    return found


def content_digest(basedir: Path) -> str:
    """sha256 over every file's path, executable bit and content."""
    digest = hashlib.sha256()
    for path in _files(basedir):
        relpath = path.relative_to(basedir).as_posix()
        executable = bool(path.stat().st_mode & stat.S_IXUSR)
        digest.update(f"{relpath}\0{int(executable)}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def pack(basedir: Path) -> bytes:
    """A deterministic tar of the base dir (sorted, no owners, no times)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in _files(basedir):
            data = path.read_bytes()
            info = tarfile.TarInfo(path.relative_to(basedir).as_posix())
            info.size = len(data)
            info.mode = 0o755 if path.stat().st_mode & stat.S_IXUSR else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _unpack(archive: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        for member in tar.getmembers():
            name = os.path.normpath(member.name)
            if (not member.isfile() or os.path.isabs(member.name) or name.startswith("..")
                    or name == "."):
                raise BadInput(f"archive member {member.name!r} is not a plain relative file")
            source = tar.extractfile(member)
            assert source is not None
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(source.read())
            os.chmod(destination, 0o755 if member.mode & 0o100 else 0o644)


def read_generation(hostgroup: str) -> Generation:
    path = state_dir(hostgroup) / GENERATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Generation(int(data["generation"]), str(data["digest"]),
                          float(data.get("synced", 0)))
    except FileNotFoundError:
        return Generation(0, "")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OperationFailed(f"{path}: unreadable generation ({exc})") from exc


def _record(hostgroup: str, generation: Generation, archive: bytes) -> None:
    directory = ensure_state_dir(hostgroup)
    backups = directory / BACKUP_DIR
    backups.mkdir(exist_ok=True, mode=0o700)
    backup = backups / f"{generation.number}.tar"
    backup.write_bytes(archive)
    os.chmod(backup, 0o600)
    meta = {"generation": generation.number, "digest": generation.digest,
            "synced": generation.synced}
    write_file_atomic(backups / f"{generation.number}.json", json.dumps(meta) + "\n", 0o600)
    numbers = sorted(int(p.stem) for p in backups.glob("*.tar") if p.stem.isdigit())
    for old in numbers[:-KEEP_GENERATIONS]:
        (backups / f"{old}.tar").unlink(missing_ok=True)
        (backups / f"{old}.json").unlink(missing_ok=True)
    write_file_atomic(directory / GENERATION_FILE, json.dumps(meta, sort_keys=True) + "\n",
                      0o600)


def record_local(hostgroup: str, number: int, basedir: Path) -> Generation:
    """The admin host: its base dir is the source; keep the backup and the number."""
    generation = Generation(number, content_digest(basedir), time.time())
    _record(hostgroup, generation, pack(basedir))
    return generation


def install(hostgroup: str, basedir: Path, number: int, digest: str, archive: bytes,
            check: Callable[[Path], None] | None = None) -> Generation:
    """Another host: check the archive (and with `check` the unpacked tree, before
    anything changes), swap it in as the base dir, record it."""
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise BadInput("configuration archive larger than 64 MiB")
    current = read_generation(hostgroup)
    if number < current.number:
        raise BadInput(f"generation {number} is older than this host's {current.number}")
    parent = basedir.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{basedir.name}.gen{number}-", dir=parent))
    try:
        _unpack(archive, staging)
        received = content_digest(staging)
        if received != digest:
            raise BadInput(f"configuration generation {number} arrived damaged "
                           f"(hash {received[:12]} instead of {digest[:12]})")
        if check is not None:
            check(staging)
        os.chmod(staging, 0o755)
        if basedir.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{basedir.name}.old-", dir=parent))
            os.rename(basedir, retired / "tree")
            try:
                os.rename(staging, basedir)
            except OSError:
                os.rename(retired / "tree", basedir)
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, basedir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    generation = Generation(number, digest, time.time())
    _record(hostgroup, generation, archive)
    return generation


def list_generations(hostgroup: str) -> list[Generation]:
    backups = state_dir(hostgroup) / BACKUP_DIR
    found = []
    for meta in sorted(backups.glob("*.json"), key=lambda p: int(p.stem)
                       if p.stem.isdigit() else -1):
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            found.append(Generation(int(data["generation"]), str(data["digest"]),
                                    float(data.get("synced", 0))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def restore_into(hostgroup: str, number: int, basedir: Path) -> None:
    """Put generation `number` back into the base dir of this (admin) host."""
    backup = state_dir(hostgroup) / BACKUP_DIR / f"{number}.tar"
    if not backup.is_file():
        known = ", ".join(str(g.number) for g in list_generations(hostgroup)) or "none"
        raise BadInput(f"no backup of generation {number} on this host (kept: {known})")
    archive = backup.read_bytes()
    parent = basedir.absolute().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{basedir.name}.restore-", dir=parent))
    try:
        _unpack(archive, staging)
        os.chmod(staging, 0o755)
        retired = Path(tempfile.mkdtemp(prefix=f".{basedir.name}.old-", dir=parent))
        os.rename(basedir, retired / "tree")
        os.rename(staging, basedir)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
