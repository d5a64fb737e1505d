"""The core (model, load, validate, render, plan) does no I/O beyond reading definition
files: it must not import subprocess, pystemd, pyroute2 or click, directly or through
another module of s2s-sd."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit

PACKAGE = REPO / "s2s_sd"
CORE = ["model.py", "load.py", "load_files.py", "load_reader.py", "load_services.py",
        "validate.py", "plan.py", "tomlpos.py", "edit.py", "errors.py", "status_print.py",
        "render", "kits/layout.py", "paths.py", "drill.py", "fstab.py", "status.py",
        "observation.py", "service_settings.py", "engines/pacemaker/crm_mon.py", "naming.py",
        "move_plan.py", "durations.py", "vip_rules.py", "engines/net/packets.py"]
FORBIDDEN = {"subprocess", "pystemd", "pyroute2", "click", "socket", "s2s_sd.run"}


def core_files() -> list[Path]:
    files: list[Path] = []
    for entry in CORE:
        path = PACKAGE / entry
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return files


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def module_path(name: str) -> Path | None:
    if not name.startswith("s2s_sd"):
        return None
    parts = name.split(".")[1:]
    for end in range(len(parts), 0, -1):
        candidate = PACKAGE.joinpath(*parts[:end])
        if candidate.with_suffix(".py").is_file():
            return candidate.with_suffix(".py")
        if (candidate / "__init__.py").is_file():
            return candidate / "__init__.py"
    return None


def transitive_imports(path: Path, seen: set[Path]) -> set[str]:
    if path in seen:
        return set()
    seen.add(path)
    names = imported_modules(path)
    for name in list(names):
        target = module_path(name)
        if target is not None:
            names |= transitive_imports(target, seen)
    return names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_module_imports_no_io_library(path: Path) -> None:
    names = transitive_imports(path, set())
    bad = sorted(n for n in names if n.split(".")[0] in FORBIDDEN or n in FORBIDDEN
                 or any(n.startswith(f"{f}.") for f in FORBIDDEN))
    assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_checker_finds_a_forbidden_import(tmp_path: Path) -> None:
    # the check itself must be able to fail
    sample = tmp_path / "sample.py"
    sample.write_text("import subprocess\nfrom pyroute2 import IPRoute\n")
    assert {"subprocess", "pyroute2", "pyroute2.IPRoute"} <= imported_modules(sample)
