"""Copying, verifying and replacing trees and links on this host, for relocate and link.

A copy keeps owners, modes, times, symlinks, hard links and xattrs, and is compared with
its source entry by entry (the manifest) before it is used; a link is replaced by a new
symlink renamed over it, so that an interruption leaves the old or the new one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from typing import Any

from s2s_sd.errors import OperationFailed
from s2s_sd.run import run


def copy_tree(source: str, target: str) -> None:
    """cp keeping owners, modes, times, symlinks, hard links and xattrs (ACLs included);
    a failure to keep any of them is an error."""
    run(["cp", "-dR", "--preserve=mode,ownership,timestamps,links,xattr",
         "--no-target-directory", source, target], timeout=None)


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    values = {}
    for xname in sorted(names):
        try:
            values[xname] = os.getxattr(path, xname, follow_symlinks=False)
        except OSError:
            continue
    return values


def _entries(root: str) -> Iterator[str]:
    yield "."
    for directory, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        rel = os.path.relpath(directory, root)
        for entry in sorted(dirs + files):
            yield os.path.normpath(os.path.join(rel, entry))


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_manifest(root: str) -> dict[str, tuple[Any, ...]]:
    """Every entry below root: type, mode, owner, group, times, content or link target,
    xattrs, and which entries are hard links of each other."""
    manifest: dict[str, tuple[Any, ...]] = {}
    inodes: dict[tuple[int, int], str] = {}
    for rel in _entries(root):
        path = os.path.join(root, rel)
        info = os.lstat(path)
        kind = stat.S_IFMT(info.st_mode)
        content: str | None = None
        hardlink: str | None = None
        if stat.S_ISREG(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if info.st_nlink > 1 and key in inodes:
                hardlink = inodes[key]
            else:
                inodes.setdefault(key, rel)
                content = _file_digest(path)
        elif stat.S_ISLNK(info.st_mode):
            content = os.readlink(path)
        mtime = None if stat.S_ISDIR(info.st_mode) else info.st_mtime_ns
        manifest[rel] = (kind, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid,
                         info.st_size if stat.S_ISREG(info.st_mode) else None,
                         mtime, content, hardlink, tuple(_xattrs(path).items()))
    return manifest


def manifest_digest(manifest: Mapping[str, tuple[Any, ...]]) -> str:
    digest = hashlib.sha256()
    for rel, entry in sorted(manifest.items()):
        digest.update(repr((rel, entry)).encode())
    return digest.hexdigest()


def verify_copy(source: str, target: str) -> str:
    """Compare two trees; raise OperationFailed naming the differences, else return the
    digest of the (equal) manifests."""
    left, right = tree_manifest(source), tree_manifest(target)
    fields = ("type", "mode", "owner", "group", "size", "mtime", "content", "hard link",
              "xattrs")
    problems = []
    for rel in sorted(set(left) | set(right)):
        if rel not in right:
            problems.append(f"{rel}: missing in the copy")
        elif rel not in left:
            problems.append(f"{rel}: only in the copy")
        elif left[rel] != right[rel]:
            differ = [f for f, a, b in zip(fields, left[rel], right[rel], strict=True) if a != b]
            problems.append(f"{rel}: {', '.join(differ)} differ")
    if problems:
        shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)"
                                           if len(problems) > 5 else "")
        raise OperationFailed(f"the copy of {source} at {target} differs: {shown}")
    return manifest_digest(left)


def remove_tree(path: str) -> None:
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)


def replace_symlink(path: str, target: str) -> None:
    """Point `path` at `target` atomically: a new symlink renamed over the old one."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.s2s-sd-link.{os.getpid()}")
    if os.path.lexists(temp):
        os.unlink(temp)
    os.symlink(target, temp)
    os.replace(temp, path)

