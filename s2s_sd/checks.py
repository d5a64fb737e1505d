"""Checks of the files the definitions reference: they need the file system and `bash -n`,
so they live outside the pure core. Every problem names the key that references the file.
The whole base dir must also be syncable (basetree.py): a link that leaves it, dangles or
loops is reported at the key that references it, or else at the link itself.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

from s2s_sd.basetree import scan
from s2s_sd.errors import InvalidDefinitions, Problem, exit_status
from s2s_sd.load import load_raw
from s2s_sd.model import Declared, Definitions, ScriptService
from s2s_sd.run import run
from s2s_sd.shebang import is_shell_script
from s2s_sd.validate import HOSTNAME, service_path, validate


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


class FileChecker:
    def __init__(self, defs: Definitions, basedir: Path) -> None:
        self.defs = defs
        self.basedir = basedir
        self.hosts = defs.hostgroup.host_names
        self.shellcheck = shutil.which("shellcheck")
        self._syntax_cache: dict[Path, str | None] = {}
        self._shellcheck_cache: dict[Path, list[str]] = {}
        # what keeps the base dir from being synced, by path; reported at the first key
        # that references the path (or a directory above it), the rest at the path itself
        self._tree = {p.path: p.message for p in scan(basedir)[1]}
        self._tree_reported: set[str] = set()

    def problems(self) -> list[Problem]:
        found = self._referenced()
        for path, message in sorted(self._tree.items()):
            if path not in self._tree_reported:
                found.append(Problem(path, 1, "(file)", f"cannot be synced: {message}"))
        return found

    def _tree_problem(self, obj: Declared, key: str, where: str, name: str
                      ) -> Problem | None:
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path in self._tree:
                self._tree_reported.add(path)
                return self._problem(obj, key, where, f"{path}: cannot be synced: "
                                     f"{self._tree[path]}")
        return None

    def _referenced(self) -> list[Problem]:
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
            tree_problem = self._tree_problem(obj, key, where, name)
            if tree_problem:
                yield tree_problem
                continue
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
            if is_shell_script(path):
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
            tree_problem = self._tree_problem(obj, key, where, name)
            info = _stat(path)
            if tree_problem:
                yield tree_problem
            elif info is None:
                yield self._problem(obj, key, where, f"{name}: no such file in the base dir")
            elif isinstance(info, str) or not stat.S_ISREG(info.st_mode):
                reason = info if isinstance(info, str) else "not a regular file"
                yield self._problem(obj, key, where, f"{name}: {reason}")
            elif not os.access(path, os.R_OK):
                yield self._problem(obj, key, where, f"{name}: not readable")
            elif is_shell_script(path):
                error = self._syntax(path)
                if error:  # config files are sourced by the scripts
                    yield self._problem(obj, key, where, f"{name}: bash -n: {error}")

    def _secret(self, obj: Declared, where: str, relpath: str) -> Iterator[Problem]:
        path = self.basedir / relpath
        tree_problem = self._tree_problem(obj, "secret_params", where, relpath)
        info = _stat(path)
        if tree_problem:
            yield tree_problem
        elif info is None:
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
            self._shellcheck_cache[path] = shellcheck_findings(path, name, self.shellcheck)
        for finding in self._shellcheck_cache[path]:
            yield self._problem(obj, key, where, finding, warning=True)


def shellcheck_findings(path: Path, name: str, shellcheck: str = "shellcheck") -> list[str]:
    """shellcheck's warnings about PATH (the first five), as `NAME:LINE: shellcheck: ...`."""
    # absolute: it runs in the script's directory (for `source` of neighbours), where a
    # path relative to ours (--basedir .) names nothing
    result = run([shellcheck, "-f", "gcc", "-S", "warning", "-x", str(path.absolute())],
                 check=False, timeout=60, cwd=str(path.parent))
    findings = []
    if result.returncode not in (0, 1):  # 1: findings; more: shellcheck itself failed
        said = (result.stderr or result.stdout).strip().splitlines()
        findings.append(f"{name}: shellcheck {exit_status(result.returncode)}"
                        + (f": {said[-1]}" if said else ""))
    for line in result.stdout.splitlines()[:5]:
        detail = line.split(": ", 1)[-1] if ": " in line else line
        location = line.split(":")[1] if line.count(":") >= 2 else "?"
        findings.append(f"{name}:{location}: shellcheck: {detail}")
    return findings


def check_files(defs: Definitions, basedir: Path) -> list[Problem]:
    return FileChecker(defs, basedir).problems()


def load_checked(basedir: Path, host: str, files: bool = True, kits: bool = False,
                 staged: Mapping[str, str] | None = None) -> tuple[Definitions, list[Problem]]:
    """Load and validate as `check` does; raise InvalidDefinitions with every problem, or
    return the definitions and the warnings. kits: also the service kits on the disks
    mounted here. staged: definition texts to validate before they are written (see
    load_raw)."""
    definitions, problems = load_raw(basedir, host, staged)
    if definitions is not None:
        problems += validate(definitions)
        if files:
            problems += check_files(definitions, basedir)
        if kits:
            from s2s_sd.kits.runner import check_members

            problems += check_members(definitions)
    problems.sort(key=lambda p: (p.file, p.line, p.key, p.message))
    if definitions is None or any(not p.warning for p in problems):
        raise InvalidDefinitions(problems)
    return definitions, problems
