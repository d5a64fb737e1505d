"""The one writer of generated files: atomic, and only ever over s2s-sd's own output.

Renderers return {relative path: text}. `write_output_dir` writes such a tree into a
directory that either does not exist or was written by s2s-sd before (it carries a
marker file), replacing it as a whole by a rename, so a failure leaves it as it was.
`write_file_atomic` replaces one file by temp file + rename.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from s2s_sd.errors import BadInput, OperationFailed

MARKER = ".s2s-sd-generated"
MARKER_TEXT = "This directory is written by s2s-sd; its content is replaced on every run.\n"


def _safe_relpath(relpath: str) -> str:
    normalized = os.path.normpath(relpath)
    if os.path.isabs(relpath) or normalized.startswith("..") or normalized == ".":
        raise OperationFailed(f"renderer produced a path outside the output: {relpath}")
    return normalized


def stage_file(path: Path, data: str | bytes, mode: int = 0o644) -> Path:
    """A complete, synced temporary file beside path, for the caller to rename over it
    (or to remove). Created 0600, then given `mode`: never readable by more than that."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
    except BaseException:
        with _ignore_missing():
            os.unlink(tmp)
        raise
    return Path(tmp)


def write_file_atomic(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    """Replace path with text (or bytes): readers see the old or the new file, never a
    mix; a link at path is replaced, never followed."""
    tmp = stage_file(path, text, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with _ignore_missing():
            os.unlink(tmp)
        raise


class _ignore_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> bool:
        return isinstance(exc, FileNotFoundError)


def _write_files(root: str, files: Mapping[str, str], executable: Callable[[str], bool],
                 made_dirs: set[str]) -> None:
    for relpath, text in sorted(files.items()):
        target = os.path.join(root, _safe_relpath(relpath))
        parent = os.path.dirname(target)
        if parent not in made_dirs:
            os.makedirs(parent, exist_ok=True)
            made_dirs.add(parent)
        mode = 0o755 if executable(relpath) else 0o644
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))


def write_output_dir(
    out: Path,
    files: Mapping[str, str],
    executable: Callable[[str], bool] = lambda _path: False,
) -> None:
    """Make `out` hold exactly `files` (plus the marker), atomically as a whole."""
    out = out.absolute()
    if out.exists():
        if not out.is_dir():
            raise BadInput(f"--out {out}: exists and is not a directory")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise BadInput(
                f"--out {out}: not empty and not written by s2s-sd (no {MARKER}); "
                "refusing to replace it"
            )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    except OSError as exc:
        raise OperationFailed(f"cannot write to {out.parent}: {exc.strerror}") from exc
    try:
        made_dirs: set[str] = set()
        root = str(staging)
        # with this umask the modes below are exact, and no chmod per file is needed
        old_umask = os.umask(0o022)
        try:
            _write_files(root, files, executable, made_dirs)
        finally:
            os.umask(old_umask)
        (staging / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        os.chmod(staging, 0o755)
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, retired / "tree")
            try:
                os.rename(staging, out)
            except OSError:
                os.rename(retired / "tree", out)  # put the old tree back as it was
                raise
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.rename(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OperationFailed(f"cannot write {out}: {exc.strerror}") from exc
