"""Reading the definition files: where they are, and reading each one bounded.

Only regular files are read (a FIFO would block, /dev/zero would never end), opened
without blocking and checked with fstat, at most MAX_DEFINITION_BYTES each (the cap
applies while reading). Every file-system error becomes a problem naming the file.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s2s_sd import paths
from s2s_sd.errors import BadInput, Problem
from s2s_sd.load_reader import Source
from s2s_sd.tomlpos import key_lines, nesting_line

MAIN_FILE = "s2s.toml"
GROUPS_DIR = "groups"
DEFAULT_BASEDIR = paths.BASEDIR.default
BASEDIR_ENV = paths.BASEDIR.env
MAX_DEFINITION_BYTES = 16 * 1024 * 1024  # per definition file, enforced while reading
MAX_REFERENCED_BYTES = 1024 * 1024  # a file read for the runtime (a fencing secret)
# deeper nesting than any definition needs; tomllib itself recurses (RecursionError)
MAX_NESTING = 32
_TOML_LINE = re.compile(r"at line (\d+)")
_LONG_NUMBER = re.compile(r"[0-9_]{4000,}")




class UnusableFile(BadInput):
    """A file that must not be read as a definition: not regular, or too large."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _require_regular(mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise UnusableFile(f"{kind}, not a regular file")


def read_capped(path: Path, limit: int) -> bytes:
    """The content of the regular file `path` (symlinks followed), at most `limit` bytes.

    Raises UnusableFile for anything else (FIFO, device, directory, larger than limit)
    and OSError when it cannot be read. Never blocks: the type is checked before opening
    (opening some devices has effects), the file is opened with O_NONBLOCK, and fstat
    checks again what was really opened."""
    _require_regular(os.stat(path).st_mode)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _require_regular(os.fstat(fd).st_mode)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                size = (f"{limit >> 20} MiB" if limit % (1 << 20) == 0
                        else f"{limit} bytes")
                raise UnusableFile(f"larger than {size}: not what s2s-sd reads here")
    finally:
        os.close(fd)


def os_error(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


def default_basedir() -> Path:
    return Path(os.environ.get(BASEDIR_ENV) or DEFAULT_BASEDIR)


def read_toml(basedir: Path, relpath: str, problems: list[Problem],
               staged: Mapping[str, str]) -> tuple[Source, dict[str, Any]] | None:
    def fail(line: int, key: str, message: str) -> None:
        problems.append(Problem(relpath, line, key, message))

    try:
        raw = (staged[relpath].encode() if relpath in staged
               else read_capped(basedir / relpath, MAX_DEFINITION_BYTES))
    except FileNotFoundError:
        hint = ""
        if relpath == MAIN_FILE:  # no base dir at all, most likely: say how to get one
            hint = (f" (create one with 's2s-sd init --basedir {basedir}', or name the base "
                    f"dir with --basedir DIR or {BASEDIR_ENV}=DIR)")
        fail(1, "(file)", f"no such file in {basedir}{hint}")
        return None
    except UnusableFile as exc:
        fail(1, "(file)", str(exc))
        return None
    except OSError as exc:
        fail(1, "(file)", f"cannot read: {os_error(exc)}")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(raw[: exc.start].count(b"\n") + 1, "(file)", "not UTF-8 text (binary file?)")
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        fail(line, "(file)", "contains NUL bytes (binary file?)")
        return None
    deep = nesting_line(text, MAX_NESTING)
    if deep is not None:
        fail(deep, "(syntax)", f"nested more than {MAX_NESTING} levels deep (arrays, inline "
             "tables or dotted keys)")
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LINE.search(message)
        fail(int(match.group(1)) if match else 1, "(syntax)", f"TOML syntax error: {message}")
        return None
    except ValueError:
        # tomllib converts decimal integers with int(), which refuses over 4300 digits
        match = _LONG_NUMBER.search(text)
        line = text[: match.start()].count("\n") + 1 if match else 1
        fail(line, "(syntax)", "an integer with thousands of digits: not a sane value")
        return None
    except RecursionError:  # nesting_line should have caught it: never a traceback
        fail(1, "(syntax)", "nested too deeply")
        return None
    if not data:
        fail(1, "(file)", "empty: no definitions in this file")
        return None
    return Source(relpath, key_lines(text)), data


def read_referenced(basedir: Path, relpath: str) -> bytes:
    """Read a file the definitions reference (e.g. a fencing secret), for the runtime.
    Raises BadInput for a file that is not regular or too large, OSError otherwise."""
    try:
        return read_capped(basedir / relpath, MAX_REFERENCED_BYTES)
    except UnusableFile as exc:
        raise UnusableFile(f"{basedir / relpath}: {exc}") from None
