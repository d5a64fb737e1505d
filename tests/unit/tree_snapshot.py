"""What a directory holds, byte for byte (kinds, modes, owners, contents, link targets),
to prove that a refused operation changed nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path

Snapshot = dict[str, tuple[str, int, int, bytes]]


def snapshot(path: Path) -> Snapshot:
    """Every entry under path (path itself as "."), without following links."""
    found: Snapshot = {}
    if not os.path.lexists(path):
        return found
    pending = ["."]
    while pending:
        relpath = pending.pop()
        full = os.path.join(path, relpath)
        info = os.lstat(full)
        mode, owner = stat.S_IMODE(info.st_mode), info.st_uid
        if stat.S_ISLNK(info.st_mode):
            found[relpath] = ("link", mode, owner, os.readlink(full).encode())
        elif stat.S_ISDIR(info.st_mode):
            found[relpath] = ("dir", mode, owner, b"")
            pending += [os.path.normpath(os.path.join(relpath, name))
                        for name in os.listdir(full)]
        elif stat.S_ISREG(info.st_mode):
            with open(full, "rb") as handle:
                found[relpath] = ("file", mode, owner, handle.read())
        else:
            found[relpath] = ("other", mode, owner, b"")
    return found
