"""Service kits, the host side: set /service links, describe the services here, place or
remove a system path's symlink (the admin side of `where`, `relocate` and `link` is
kits/relocate.py).

/service links are host-local: every host that may run a group needs the links of the
services on the group's disks, so relocate sets them on all of the group's hosts (and
removes them from the hosts of the group a service leaves).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.errors import BadInput
from s2s_sd.hosts.protocol import AbsolutePath, Flag, MapOf, Nullable, Operation, arg
from s2s_sd.kits.layout import Layout, is_kit_name, locate, number_text, parse_number
from s2s_sd.kits.tree import (
    layout_from_env,
    local_where,
    place_symlink,
    remove_symlink,
    set_links,
)
from s2s_sd.model import Definitions


@dataclass(frozen=True)
class _KitName:
    kind: str = "str"

    def __call__(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or len(value) > 255 or not is_kit_name(value):
            raise BadInput(f"request: '{name}' must be a service name, not {str(value)[:40]!r}")
        return value


@dataclass(frozen=True)
class _DiskNumber:
    kind: str = "str"

    def __call__(self, name: str, value: Any) -> int:
        number = parse_number(value) if isinstance(value, str) else None
        if number is None:
            raise BadInput(f"request: {name} {str(value)[:40]!r} is not a disk number NN")
        return number


@dataclass(frozen=True)
class KitsLinksRequest:
    name: str = arg(_KitName())
    links: dict[int, str | None] = arg(MapOf(_DiskNumber(), Nullable(AbsolutePath())))


@dataclass(frozen=True)
class KitsWhereRequest:
    name: str | None = arg(_KitName(), required=False)


@dataclass(frozen=True)
class KitsPathRequest:
    path: str = arg(AbsolutePath())
    stable: str = arg(AbsolutePath())
    undo: bool | None = arg(Flag(), required=False)


def _defs(ctx: AgentContext) -> Definitions | None:
    try:
        return ctx.defs()
    except (OSError, BadInput):
        return None


def _inside(path: str, directory: str) -> bool:
    return path.startswith(directory.rstrip("/") + "/")


def _escapes(path: str, directory: str) -> bool:
    """PATH exists and, symlinks resolved, leads out of DIRECTORY (resolved too)."""
    return os.path.lexists(path) and not _inside(os.path.realpath(path),
                                                 os.path.realpath(directory))


def _confined_target(layout: Layout, defs: Definitions | None, name: str, number: int,
                     target: str) -> str:
    """A /service/NN link target must be NAME directly on a disk NN this host group knows
    (a group's mount or a local disk), and must not lead elsewhere through a symlink."""
    disk = locate(target, layout, defs)
    if disk is None or disk.number != number or \
            target != posixpath.join(posixpath.normpath(disk.mountpoint), name):
        raise BadInput(f"request: link target {target!r} is not {name} directly on a disk "
                       f"{number_text(number)} of this host group (a group's mount member "
                       "or a local disk)")
    if _escapes(target, disk.mountpoint):
        raise BadInput(f"request: link target {target} leads out of {disk.mountpoint} "
                       f"(to {os.path.realpath(target)})")
    return target


def op_kits_links(ctx: AgentContext, request: KitsLinksRequest) -> dict[str, Any]:
    layout = layout_from_env()
    defs = _defs(ctx)
    targets = {number: None if target is None else
               _confined_target(layout, defs, request.name, number, target)
               for number, target in request.links.items()}
    changed = set_links(layout, request.name, targets)
    return {"host": ctx.host, "changed": changed}


def op_kits_where(ctx: AgentContext, request: KitsWhereRequest) -> dict[str, Any]:
    return {"host": ctx.host,
            "services": local_where(layout_from_env(), _defs(ctx), request.name)}


def op_kits_path(ctx: AgentContext, request: KitsPathRequest) -> dict[str, Any]:
    """`link` on the other hosts of a group: PATH -> /service/NN/NAME/PATH (or undo)."""
    path, stable = request.path, request.stable
    root = posixpath.normpath(layout_from_env().service_root)
    parts = stable[len(root) + 1:].split("/", 2) if _inside(stable, root) else []
    if len(parts) < 3 or parse_number(parts[0]) is None or not is_kit_name(parts[1]) \
            or "/" + parts[2] != path:
        raise BadInput(f"request: 'stable' must be {root}/NN/NAME{path} for 'path' {path}, "
                       f"not {stable}")
    if _inside(os.path.realpath(path), os.path.realpath(root)):
        raise BadInput(f"request: {path} is inside the service tree {root}")
    service = posixpath.join(root, parts[0], parts[1])
    if _escapes(stable, service):
        raise BadInput(f"request: {stable} leads out of {service} (to "
                       f"{os.path.realpath(stable)})")
    change = remove_symlink(path, stable) if request.undo else place_symlink(path, stable)
    return {"host": ctx.host, "changed": [change]}


KITS_OPERATIONS: Mapping[str, Operation[Any]] = {
    "kits_links": Operation(KitsLinksRequest, op_kits_links),
    "kits_where": Operation(KitsWhereRequest, op_kits_where),
    "kits_path": Operation(KitsPathRequest, op_kits_path),
}
