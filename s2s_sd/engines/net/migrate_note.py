"""The note of a migration to the systemd engine under way on this host: while it is
fresh, the group form of `vip up` takes over the address the cluster's IPaddr2 added."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

MIGRATE_NOTE = "migrate-take-over"  # in RUN_DIR, written by migrate --to systemd
MIGRATE_NOTE_SECONDS = 900


def write_migrate_note() -> None:
    """migrate --to systemd, on every host before the groups' targets start: for the next
    MIGRATE_NOTE_SECONDS, the group form of `vip up` takes over a group's VIP that the
    cluster's IPaddr2 added (it carries no s2s-sd label)."""
    from s2s_sd import paths
    from s2s_sd.writer import write_file_atomic

    run_dir = Path(paths.run_dir())
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # whole seconds, rounded down: a time rounded up lies in the future until it passes,
    # and migrate_note_fresh refuses notes from the future
    write_file_atomic(run_dir / MIGRATE_NOTE, f"{int(time.time())}\n", 0o600)


def migrate_note_fresh() -> bool:
    """Is a migration to the systemd engine under way here (see write_migrate_note)?"""
    from s2s_sd import paths

    note = Path(paths.run_dir()) / MIGRATE_NOTE
    try:
        info = note.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return False
        written = float(note.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return 0 <= time.time() - written <= MIGRATE_NOTE_SECONDS

