"""Checks of the files the definitions reference: they need the file system and `bash -n`,
so they live outside the pure core. Every problem names the key that references the file.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from s2s_sd.errors import Problem, exit_status
from s2s_sd.model import Declared, Definitions, ScriptService
from s2s_sd.run import run
from s2s_sd.validate import HOSTNAME, service_path


def _stat(path: Path) -> os.stat_result | str | None:
    """The file's stat (symlinks followed); None when absent; the reason when it cannot
    be looked up (an unreadable directory is a problem, never taken for 'absent')."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        return f"cannot look it up: {exc.strerror or exc}"


def _variants(basedir: Path, relpath: str, hosts: tuple[str, ...]) -> tuple[list[str], bool]:
    """The files used for relpath across the host group: twins, and the plain file when
    some host has no twin of its own. Returns (existing files, plain file needed)."""
    twins = [f"{relpath}.{h}" for h in hosts if _stat(basedir / f"{relpath}.{h}") is not None]
    plain_needed = len(twins) < len(hosts)
    return ([relpath] if plain_needed else []) + twins, plain_needed


def _is_shell(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return True  # s2s runs shebang-less scripts with the shell
    interpreter = first[2:].strip().split(b"/")[-1].split()
    names = {b"sh", b"bash", b"dash", b"ksh"}
    return bool(interpreter) and (
        interpreter[0] in names or (interpreter[0] == b"env" and len(interpreter) > 1
                                    and interpreter[1] in names))


class FileChecker:
    def __init__(self, defs: Definitions, basedir: Path) -> None:
        self.defs = defs
        self.basedir = basedir
        self.hosts = defs.hostgroup.host_names
        self.shellcheck = shutil.which("shellcheck")
        self._syntax_cache: dict[Path, str | None] = {}
        self._shellcheck_cache: dict[Path, list[str]] = {}

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        for group in self.defs.groups:
            for key in ("pre_move", "post_move"):
                relpath = getattr(group, key)
                if relpath:
                    found += self._executable(group, key, f"groups.{group.name}.{key}", relpath)
            for service in group.services:
                if isinstance(service, ScriptService):
                    found += self._executable(service, "script",
                                              service_path(service, "script"), service.script)
                    if service.config:
                        found += self._readable(service, "config",
                                                service_path(service, "config"), service.config)
        if self.defs.fencing:
            for device in self.defs.fencing.devices:
                for param, relpath in device.secret_params:
                    found += self._secret(device, f"fencing.devices.{device.name}.secret_params."
                                          f"{param}", relpath)
        return found

    def _problem(self, obj: Declared, key: str, where: str, message: str,
                 warning: bool = False) -> Problem:
        return Problem(obj.origin.file, obj.line_of(key), where, message, warning)

    def _stray_twins(self, obj: Declared, key: str, where: str,
                     relpath: str) -> Iterator[Problem]:
        """NAME.HOST files for a HOST outside the host group: never used, and most likely
        meant for a host whose name is spelt differently in hostgroup.hosts."""
        directory, _, base = relpath.rpartition("/")
        try:
            with os.scandir(self.basedir / directory) as entries:
                names = sorted(e.name for e in entries if e.name.startswith(f"{base}."))
        except OSError:
            return  # the file's own check says what is wrong with its directory
        for name in names:
            host = name.removeprefix(f"{base}.")
            if host not in self.hosts and HOSTNAME.match(host):
                twin = f"{directory}/{name}" if directory else name
                yield self._problem(obj, key, where,
                                    f"{twin}: a twin for host '{host}', which is not in "
                                    "hostgroup.hosts: never used", warning=True)

    def _executable(self, obj: Declared, key: str, where: str, relpath: str) -> Iterator[Problem]:
        yield from self._stray_twins(obj, key, where, relpath)
        files, _ = _variants(self.basedir, relpath, self.hosts)
        for name in files:
            path = self.basedir / name
            info = _stat(path)
            if info is None:
                yield self._problem(obj, key, where, f"{name}: no such file in the base dir")
                continue
            if isinstance(info, str) or not stat.S_ISREG(info.st_mode):
                reason = info if isinstance(info, str) else "not a regular file"
                yield self._problem(obj, key, where, f"{name}: {reason}")
                continue
            if not os.access(path, os.X_OK) or not info.st_mode & stat.S_IXUSR:
                yield self._problem(obj, key, where,
                                    f"{name}: not executable (chmod +x {name})")
            if _is_shell(path):
                error = self._syntax(path)
                if error:
                    yield self._problem(obj, key, where, f"{name}: bash -n: {error}")
                elif self.shellcheck:
                    yield from self._shellcheck(obj, key, where, name, path)

    def _readable(self, obj: Declared, key: str, where: str, relpath: str) -> Iterator[Problem]:
        yield from self._stray_twins(obj, key, where, relpath)
        files, _ = _variants(self.basedir, relpath, self.hosts)
        for name in files:
            path = self.basedir / name
            info = _stat(path)
            if info is None:
                yield self._problem(obj, key, where, f"{name}: no such file in the base dir")
            elif isinstance(info, str) or not stat.S_ISREG(info.st_mode):
                reason = info if isinstance(info, str) else "not a regular file"
                yield self._problem(obj, key, where, f"{name}: {reason}")
            elif not os.access(path, os.R_OK):
                yield self._problem(obj, key, where, f"{name}: not readable")
            elif _is_shell(path):
                error = self._syntax(path)
                if error:  # config files are sourced by the scripts
                    yield self._problem(obj, key, where, f"{name}: bash -n: {error}")

    def _secret(self, obj: Declared, where: str, relpath: str) -> Iterator[Problem]:
        info = _stat(self.basedir / relpath)
        if info is None:
            yield self._problem(obj, "secret_params", where, f"{relpath}: no such file")
        elif isinstance(info, str) or not stat.S_ISREG(info.st_mode):
            reason = info if isinstance(info, str) else "not a regular file"
            yield self._problem(obj, "secret_params", where, f"{relpath}: {reason}")
        elif info.st_mode & 0o077:
            yield self._problem(obj, "secret_params", where,
                                f"{relpath}: readable by others (chmod 600 {relpath})",
                                warning=True)

    def _syntax(self, path: Path) -> str | None:
        if path not in self._syntax_cache:
            result = run(["bash", "-n", str(path)], check=False, timeout=30)
            lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
            self._syntax_cache[path] = (
                None if result.ok else (lines[0].replace(f"{path}: ", "") if lines else
                                        exit_status(result.returncode)))
        return self._syntax_cache[path]

    def _shellcheck(self, obj: Declared, key: str, where: str, name: str,
                    path: Path) -> Iterator[Problem]:
        if path not in self._shellcheck_cache:
            assert self.shellcheck
            # absolute: it runs in the script's directory (for `source` of neighbours), where
            # a path relative to ours (--basedir .) names nothing
            result = run([self.shellcheck, "-f", "gcc", "-S", "warning", "-x",
                          str(path.absolute())], check=False, timeout=60, cwd=str(path.parent))
            findings = []
            if result.returncode not in (0, 1):  # 1: findings; more: shellcheck itself failed
                said = (result.stderr or result.stdout).strip().splitlines()
                findings.append(f"{name}: shellcheck {exit_status(result.returncode)}"
                                + (f": {said[-1]}" if said else ""))
            for line in result.stdout.splitlines()[:5]:
                detail = line.split(": ", 1)[-1] if ": " in line else line
                location = line.split(":")[1] if line.count(":") >= 2 else "?"
                findings.append(f"{name}:{location}: shellcheck: {detail}")
            self._shellcheck_cache[path] = findings
        for finding in self._shellcheck_cache[path]:
            yield self._problem(obj, key, where, finding, warning=True)


def check_files(defs: Definitions, basedir: Path) -> list[Problem]:
    return FileChecker(defs, basedir).problems()
