"""The rooms of s2s_sd and the directions they may import in, and no import cycle at all.

Every module belongs to one room; a module may import modules of its own room and of the
rooms listed before it, never of a room listed after it (imports inside functions count
too: a lazy import is still a dependency):

  core       the pure definition half and the pure models (test_core_purity.py's list)
  this host  one host's system, no other host: run.py, writer.py, the file checks, the
             records in /run and /var/lib (hosts/state, lock, events, freeze, observe),
             the engines' tools (engines/net/, engines/systemd/units, engines/pacemaker/
             cib and crm_tools), the kits' runner and /service tree
  hosts      across hosts: the typed protocol, the transport, sync, enrolment, the fire
             drill's admin side
  agent      the host side of every request: one module per concern, one table
  runtime    the engines' orchestration across hosts (engines/*/runtime.py), the Engine
             protocol (engines/engine.py, choose.py, */engine.py), the kits' relocation
  cli        parse, call, print; the composition root

So the core imports nothing of the run-time half, the engines never import the CLI, the
agent never imports an engine's orchestration. A module no room claims fails the test:
a new module is placed on purpose (see the README's architecture section). And a module
over 500 lines says at its top (`# Size:`) why, and where it will split."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.unit.test_core_purity import CORE

pytestmark = pytest.mark.unit

PACKAGE = "s2s_sd"


def _core_prefixes() -> list[str]:
    """The core room from the purity test's list (files and directories of s2s_sd)."""
    return [f"{PACKAGE}." + entry.removesuffix(".py").replace("/", ".") for entry in CORE]


# (room, module prefixes); the longest matching prefix decides a module's room
ROOMS: Sequence[tuple[str, Sequence[str]]] = (
    # recovery, timings, hosts/health and health_records: modules of the branches merged
    # with this one (issue 12), placed here in advance (pure decisions; this host's records)
    ("core", [PACKAGE, *_core_prefixes(), f"{PACKAGE}.recovery"]),
    ("this host", [
        f"{PACKAGE}.run", f"{PACKAGE}.writer", f"{PACKAGE}.basetree", f"{PACKAGE}.checks",
        f"{PACKAGE}.shebang", f"{PACKAGE}.version", f"{PACKAGE}.timings",
        f"{PACKAGE}.hosts.state", f"{PACKAGE}.hosts.lock", f"{PACKAGE}.hosts.events",
        f"{PACKAGE}.hosts.freeze", f"{PACKAGE}.hosts.observe", f"{PACKAGE}.hosts.health",
        f"{PACKAGE}.hosts.health_records",
        f"{PACKAGE}.engines", f"{PACKAGE}.kits"]),
    ("hosts", [f"{PACKAGE}.hosts"]),
    ("agent", [f"{PACKAGE}.agent"]),
    ("runtime", [f"{PACKAGE}.engines.engine", f"{PACKAGE}.engines.choose",
                 f"{PACKAGE}.engines.systemd.runtime", f"{PACKAGE}.engines.systemd.engine",
                 f"{PACKAGE}.engines.pacemaker.runtime", f"{PACKAGE}.engines.pacemaker.engine",
                 f"{PACKAGE}.engines.pacemaker.migrate",
                 f"{PACKAGE}.engines.pacemaker.apply_live",
                 f"{PACKAGE}.kits.relocate"]),
    ("cli", [f"{PACKAGE}.cli"]),
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    path: Path
    line: int
    target: str  # the imported module of the package

    def where(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}"


def modules(root: Path) -> dict[str, Path]:
    """Every module of the package below ROOT (its parent is the import root)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str, known: Mapping[str, Path]) -> str | None:
    """The module of the package NAME is (or is an attribute of), if any."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(known: Mapping[str, Path]) -> list[Import]:
    """Every import of a module of the package by another, at module level or inside a
    function, with its line; `from PACKAGE.x import y` counts as importing PACKAGE.x.y
    when that is a module, else PACKAGE.x."""
    found: list[Import] = []
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, is_package, node)
                names = [f"{source}.{alias.name}" for alias in node.names] or [source]
            for name in names:
                target = _known(name, known)
                if target is not None and target != module:
                    found.append(Import(module, path, node.lineno, target))
    return found


def room_of(module: str, rooms: Sequence[tuple[str, Sequence[str]]] = ROOMS) -> int | None:
    best: tuple[int, int] | None = None  # (prefix length, room index)
    for index, (_, prefixes) in enumerate(rooms):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def wrong_directions(found: Iterable[Import],
                     rooms: Sequence[tuple[str, Sequence[str]]] = ROOMS) -> list[str]:
    problems = []
    for edge in found:
        source, target = room_of(edge.module, rooms), room_of(edge.target, rooms)
        if source is None or target is None or target <= source:
            continue  # an unplaced module is reported by test_every_module_has_a_room
        allowed = ", ".join(name for name, _ in rooms[:source + 1])
        problems.append(f"{edge.where()}: room {rooms[source][0]!r} may import only "
                        f"{allowed}; {rooms[target][0]!r} is above it")
    return problems


def cycles(found: Iterable[Import]) -> list[list[Import]]:
    """One cycle of imports per strongly connected group of modules (Tarjan)."""
    edges: dict[str, dict[str, Import]] = {}
    for edge in found:
        edges.setdefault(edge.module, {}).setdefault(edge.target, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in edges.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return [_one_cycle(sorted(group)[0], group, edges) for group in groups]


def _one_cycle(start: str, group: set[str], edges: Mapping[str, Mapping[str, Import]]
               ) -> list[Import]:
    """A path of imports from START back to START inside GROUP (breadth first)."""
    paths: dict[str, list[Import]] = {start: []}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for target, edge in sorted(edges.get(module, {}).items()):
            if target == start:
                return [*paths[module], edge]
            if target in group and target not in paths:
                paths[target] = [*paths[module], edge]
                queue.append(target)
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group has one


KNOWN = modules(REPO / PACKAGE)
IMPORTS = imports(KNOWN)


def test_every_module_has_a_room() -> None:
    unplaced = sorted(m for m in KNOWN if room_of(m) is None)
    assert not unplaced, ("modules in no room of tests/unit/test_layering.py ROOMS "
                          f"(place them on purpose): {unplaced}")


def test_imports_go_only_down_the_rooms() -> None:
    problems = wrong_directions(IMPORTS)
    assert not problems, "imports against the rooms' direction:\n" + "\n".join(problems)


def test_no_import_cycle() -> None:
    found = cycles(IMPORTS)
    assert not found, "import cycles:\n" + "\n".join(
        " -> ".join(edge.where() for edge in cycle) for cycle in found)


MAX_LINES = 500  # a module longer than this says at its top why, and where it will split
SIZE_NOTE = "# Size:"


def unexplained_sizes(known: Mapping[str, Path]) -> list[str]:
    found = []
    for path in sorted(known.values()):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > MAX_LINES and not any(line.startswith(SIZE_NOTE) for line in lines[:60]):
            found.append(f"{path}: {len(lines)} lines and no '{SIZE_NOTE}' note near its top")
    return found


def test_every_long_module_says_why_at_its_top() -> None:
    found = unexplained_sizes(KNOWN)
    assert not found, "\n".join(found)


def test_the_size_check_can_fail(tmp_path: Path) -> None:
    known = _sample_package(tmp_path, {"long.py": "x = 1\n" * (MAX_LINES + 1),
                                       "noted.py": f"{SIZE_NOTE} why\n" + "x = 1\n" * MAX_LINES})
    assert [line.split(":")[0].rsplit("/", 1)[-1] for line in unexplained_sizes(known)] == [
        "long.py"]


def _sample_package(tmp_path: Path, files: Mapping[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return modules(tmp_path / "pkg")


def test_checker_finds_an_upward_import_inside_a_function(tmp_path: Path) -> None:
    # the check itself must be able to fail, and name the file, line and both modules
    known = _sample_package(tmp_path, {
        "__init__.py": "", "low.py": "def f():\n    from pkg.high import g\n",
        "high.py": "from pkg import low\n"})
    rooms = (("low", ["pkg.low", "pkg"]), ("high", ["pkg.high"]))
    problems = wrong_directions(imports(known), rooms)
    assert len(problems) == 1
    assert "low.py:2: pkg.low imports pkg.high" in problems[0]
    assert "'high' is above it" in problems[0]


def test_checker_finds_a_cycle_through_relative_imports(tmp_path: Path) -> None:
    known = _sample_package(tmp_path, {
        "__init__.py": "", "sub/__init__.py": "",
        "sub/a.py": "from . import b\n", "sub/b.py": "from ..c import x\n",
        "c.py": "import pkg.sub.a\nx = 1\n"})
    found = cycles(imports(known))
    assert len(found) == 1
    assert [edge.module for edge in found[0]] == ["pkg.c", "pkg.sub.a", "pkg.sub.b"]
    assert [edge.target for edge in found[0]] == ["pkg.sub.a", "pkg.sub.b", "pkg.c"]
