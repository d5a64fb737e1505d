"""The base dir as a tree: what `sync` copies and hashes, and what `check` accepts.

One rule for all three:
- version-control and editor files are never synced nor hashed (`excluded`): a `git
  status` or an open editor must not make the hosts' generations differ;
- regular files and directories are synced with their permission bits (0777 part);
- a symbolic link is synced as a link when it is relative and stays inside the base dir
  (`init.d/x -> ../init.tpl/x`); a link that leaves the base dir, dangles, loops or
  points back to a directory above it is refused, and so is every other file type.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from s2s_sd.errors import BadInput

EXCLUDED_NAMES = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", "CVS", ".DS_Store"})
EXCLUDED_PATTERNS = ("*~", ".*.swp", ".*.swo", ".*.swx", "#*#", ".#*")
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096

Kind = Literal["dir", "file", "link"]


def excluded(name: str) -> bool:
    """Is a file or directory of this name left out of sync and of the content hash?"""
    return name in EXCLUDED_NAMES or any(fnmatch.fnmatchcase(name, p)
                                         for p in EXCLUDED_PATTERNS)


@dataclass(frozen=True)
class Entry:
    """One synced thing: `path` is relative to the base dir ("." for the base dir)."""

    path: str
    kind: Kind
    mode: int = 0
    target: str = ""  # links only
    size: int = 0  # files only


@dataclass(frozen=True)
class TreeProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def name_problem(relpath: str) -> str | None:
    """Why a relative path cannot be synced as a name, or None."""
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in relpath):
        return "its name has control characters or is not UTF-8"
    if len(relpath.encode("utf-8")) > MAX_PATH_BYTES:
        return f"its path is longer than {MAX_PATH_BYTES} bytes"
    for part in relpath.split("/"):
        if len(part.encode("utf-8")) > MAX_NAME_BYTES:
            return f"a name longer than {MAX_NAME_BYTES} bytes"
        if excluded(part):
            return f"'{part}' is a version-control or editor file, never synced"
    return None


def link_problem(relpath: str, target: str) -> str | None:
    """Why a link at relpath with this target text breaks the rule (lexically), or None."""
    if not target or os.path.isabs(target):
        return f"link to {target!r}: links must be relative and stay inside the base dir"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(relpath), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"link to {target!r} leaves the base dir"
    problem = name_problem(resolved) if resolved != "." else None
    if problem:
        return f"link to {target!r}: {problem}"
    return None


def _resolved_problem(root: str, relpath: str, target: str) -> str | None:
    """The link as the file system resolves it: inside the base dir, existing, no loop."""
    try:
        real = os.path.realpath(os.path.join(root, relpath), strict=True)
        info = os.stat(real)
    except OSError as exc:
        return f"link to {target!r} dangles or loops ({exc.strerror or exc})"
    real_root = os.path.realpath(root)
    if os.path.commonpath([real_root, real]) != real_root:
        return f"link to {target!r} leaves the base dir"
    inner = os.path.relpath(real, real_root)
    if inner != "." and name_problem(inner):
        return f"link to {target!r} points at a file that is never synced"
    if stat.S_ISDIR(info.st_mode):
        link_dir = os.path.realpath(os.path.join(root, os.path.dirname(relpath)))
        if os.path.commonpath([real, link_dir]) == real:
            return f"link to {target!r} points back to a directory above it (a loop)"
    elif not stat.S_ISREG(info.st_mode):
        return f"link to {target!r} is not a regular file or directory"
    return None


def _kind_name(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "an odd file"


def _walk(root: str, relpath: str, problems: list[TreeProblem]) -> Iterator[Entry]:
    directory = os.path.join(root, relpath)
    try:
        names = sorted(e.name for e in os.scandir(directory))
    except OSError as exc:
        problems.append(TreeProblem(relpath, f"cannot read the directory ({exc.strerror})"))
        return
    for name in names:
        if excluded(name):
            continue
        child = name if relpath == "." else f"{relpath}/{name}"
        problem = name_problem(child)
        if problem:
            problems.append(TreeProblem(child.encode("unicode_escape").decode("ascii"), problem))
            continue
        try:
            info = os.lstat(os.path.join(root, child))
        except OSError as exc:
            problems.append(TreeProblem(child, f"cannot read ({exc.strerror})"))
            continue
        mode = stat.S_IMODE(info.st_mode) & 0o777
        if stat.S_ISDIR(info.st_mode):
            yield Entry(child, "dir", mode)
            yield from _walk(root, child, problems)
        elif stat.S_ISREG(info.st_mode):
            yield Entry(child, "file", mode, size=info.st_size)
        elif stat.S_ISLNK(info.st_mode):
            target = os.readlink(os.path.join(root, child))
            problem = link_problem(child, target) or _resolved_problem(root, child, target)
            if problem:
                problems.append(TreeProblem(child, problem))
            else:
                yield Entry(child, "link", target=target)
        else:
            problems.append(TreeProblem(
                child, f"{_kind_name(info.st_mode)}: only regular files, directories and "
                "links inside the base dir can be synced"))


def scan(basedir: Path) -> tuple[list[Entry], list[TreeProblem]]:
    """Every synced entry of the base dir in a fixed order (a directory before what it
    holds, names sorted), and every problem that keeps it from being synced."""
    root = str(basedir)
    problems: list[TreeProblem] = []
    try:
        info = os.stat(root)
    except OSError as exc:
        return [], [TreeProblem(".", f"cannot read the base dir ({exc.strerror})")]
    if not stat.S_ISDIR(info.st_mode):
        return [], [TreeProblem(".", "the base dir is not a directory")]
    entries = [Entry(".", "dir", stat.S_IMODE(info.st_mode) & 0o777)]
    entries += _walk(root, ".", problems)
    return entries, problems


def entries(basedir: Path, shown: str | None = None) -> list[Entry]:
    """scan, raising BadInput (naming every problem, and the tree as `shown`) when the
    tree cannot be synced."""
    found, problems = scan(basedir)
    if problems:
        raise BadInput(f"{shown or basedir} cannot be synced: "
                       + "; ".join(str(p) for p in problems[:20])
                       + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""))
    return found
