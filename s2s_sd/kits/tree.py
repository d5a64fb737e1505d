"""The /service tree on this host: where logical services are, moving them between disks
(relocate) and moving system paths into them (link). The rules are in kits/layout.py.

Every change is made so that an interruption leaves either the old or the new state:
copies go to a hidden name on the target disk and are renamed into place after they
were verified; a /service link is replaced by a symlink created under a temporary name
and renamed over it; the old copy is renamed to a hidden name (never picked up as a kit)
and kept until --purge. Copying, verifying and replacing trees and links: kits/copy.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_sd.errors import BadInput, Refused
from s2s_sd.kits.copy import copy_tree, remove_tree, replace_symlink, verify_copy
from s2s_sd.kits.layout import (
    DEFAULT_LOCAL_DISKS,
    DEFAULT_SERVICE_ROOT,
    LOCAL,
    Disk,
    Layout,
    Transfer,
    copy_name,
    is_kit_name,
    is_old_copy_of,
    local_disk,
    locate,
    number_text,
    old_copy_name,
    parse_number,
    plan_relocation,
    relocation_disks,
    service_link,
)
from s2s_sd.kits.runner import STATE_RUNNING, Kit, call_kit
from s2s_sd.model import Definitions

SERVICE_ROOT_ENV = "S2S_SD_SERVICE_ROOT"
LOCAL_DISKS_ENV = "S2S_SD_LOCAL_DISKS"
STATE_TIMEOUT = 30
Log = Callable[[str], None]
Mounted = Callable[[str], bool]


def _quiet(_text: str) -> None:
    return None


def layout_from_env(service_root: str | None = None, local_disks: str | None = None) -> Layout:
    return Layout(
        service_root=service_root or os.environ.get(SERVICE_ROOT_ENV) or DEFAULT_SERVICE_ROOT,
        local_disks=local_disks or os.environ.get(LOCAL_DISKS_ENV) or DEFAULT_LOCAL_DISKS)


# -- reading the tree ---------------------------------------------------------------------

@dataclass(frozen=True)
class Link:
    number: int
    path: str
    target: str | None  # absolute, normalised; None: not a symlink
    available: bool  # the target exists here
    disk: Disk | None  # the group or local disk it points into

    def as_dict(self) -> dict[str, Any]:
        return {"nn": number_text(self.number), "link": self.path, "target": self.target,
                "available": self.available,
                "disk": self.disk.mountpoint if self.disk else None,
                "group": self.disk.group if self.disk else None,
                "local": bool(self.disk and self.disk.group is None)}


def read_link(path: str) -> str | None:
    if not os.path.islink(path):
        return None
    target = os.readlink(path)
    return os.path.normpath(os.path.join(os.path.dirname(path), target))


def service_links(layout: Layout, defs: Definitions | None, name: str | None = None
                  ) -> dict[str, list[Link]]:
    """name -> its /service/NN/name entries, by number."""
    found: dict[str, list[Link]] = {}
    try:
        numbers = sorted(os.listdir(layout.service_root))
    except FileNotFoundError:
        return found
    for nn in numbers:
        number = parse_number(nn)
        directory = os.path.join(layout.service_root, nn)
        if number is None or not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            if (name is not None and entry != name) or not is_kit_name(entry):
                continue
            path = os.path.join(directory, entry)
            target = read_link(path)
            disk = locate(target, layout, defs) if target else None
            found.setdefault(entry, []).append(
                Link(number, path, target, os.path.exists(path), disk))
    return found


def kit_of(links: Sequence[Link]) -> Kit | None:
    """The kit (the directory with sbin/) among a service's link targets."""
    for link in links:
        if link.available and (os.path.isdir(os.path.join(link.path, "sbin"))):
            return Kit(os.path.basename(link.path), os.path.dirname(link.target or link.path),
                       link.target or link.path)
    return None


def kit_state(kit: Kit) -> tuple[int | None, str]:
    if not kit.has("state"):
        return None, ""
    finished, output = call_kit(kit, "state", STATE_TIMEOUT)
    return (4 if finished.timed_out else finished.returncode), output


def describe_service(name: str, links: Sequence[Link], state: bool = True) -> dict[str, Any]:
    """What `where` says about one service on this host."""
    configured = any(link.target is not None and link.disk is not None for link in links)
    available = bool(links) and all(link.available for link in links)
    kit = kit_of(links)
    code, output = kit_state(kit) if (kit and state) else (None, "")
    groups = sorted({link.disk.group for link in links if link.disk and link.disk.group})
    local = bool(links) and all(link.disk is not None and link.disk.group is None
                                for link in links)
    return {"name": name, "configured": configured, "available": available,
            "kit": kit.path if kit else None,
            "running": None if code is None else code == STATE_RUNNING,
            "state": code, "state_output": output[-500:],
            "groups": groups, "local": local,
            "links": [link.as_dict() for link in links]}


def local_where(layout: Layout, defs: Definitions | None, name: str | None = None,
                state: bool = True) -> list[dict[str, Any]]:
    return [describe_service(n, links, state)
            for n, links in sorted(service_links(layout, defs, name).items())]


def service_running(layout: Layout, defs: Definitions | None, name: str) -> bool:
    links = service_links(layout, defs, name).get(name, [])
    kit = kit_of(links)
    return kit is not None and kit_state(kit)[0] == STATE_RUNNING


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.localtime())


# -- relocate -----------------------------------------------------------------------------

@dataclass
class Relocation:
    name: str
    to: str
    transfers: list[Transfer]
    hosts_set: list[str] = field(default_factory=list)  # other hosts that get the links
    hosts_removed: list[str] = field(default_factory=list)  # other hosts that lose them
    old_copies: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)  # target -> manifest digest

    def steps(self, purge: bool) -> list[str]:
        out = []
        for t in self.transfers:
            out.append(f"copy {t.source} to {t.target} (owners, modes, links, xattrs), "
                       "verify the copy")
        for t in self.transfers:
            out.append(f"switch {t.link} -> {t.target} (atomic rename)")
        if self.hosts_set:
            out.append(f"set the links on {', '.join(self.hosts_set)}")
        if self.hosts_removed:
            out.append(f"remove the links on {', '.join(self.hosts_removed)}")
        for t in self.transfers:
            if purge:
                out.append(f"delete the old copy {t.source}")
            else:
                out.append(f"keep the old copy {t.source} as "
                           f"{os.path.join(os.path.dirname(t.source), '.s2s-sd-old.')}"
                           f"{self.name}.STAMP (until --purge)")
        return out


def current_links(layout: Layout, defs: Definitions | None, name: str) -> dict[int, str]:
    links = service_links(layout, defs, name).get(name, [])
    if not links:
        raise BadInput(f"no service '{name}' on this host (no "
                       f"{os.path.join(layout.service_root, 'NN', name)})")
    result = {}
    for link in links:
        if link.target is None:
            raise BadInput(f"{link.path} is not a symlink: s2s-sd only moves /service links")
        result[link.number] = link.target
    return result


def destination(layout: Layout, defs: Definitions | None, to: str) -> list[Disk]:
    if to == LOCAL:
        try:
            entries = sorted(os.listdir(layout.local_disks))
        except FileNotFoundError:
            entries = []
        return [local_disk(layout, n) for n in (parse_number(e) for e in entries)
                if n is not None and os.path.isdir(local_disk(layout, n).mountpoint)]
    group = defs.group(to) if defs else None
    if group is None:
        raise BadInput(f"--to {to}: no such group" + ("" if defs else
                                                      " (no definitions on this host)"))
    disks = relocation_disks(group)
    if not disks:
        raise BadInput(f"group {to} has no disks (mount members) to hold services")
    return disks


def plan(layout: Layout, defs: Definitions | None, name: str, to: str,
         mounted: Mounted = os.path.ismount) -> Relocation:
    """Check everything a relocation needs; raise before anything changes."""
    links = current_links(layout, defs, name)
    if service_running(layout, defs, name):
        raise Refused(f"{name} is running here (its sbin/state says so): stop it first")
    try:
        transfers = plan_relocation(name, links, layout, defs, destination(layout, defs, to))
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    for t in transfers:
        if t.source_disk is not None and t.source_disk.group is not None and not mounted(
                t.source_disk.mountpoint):
            raise Refused(f"{t.source_disk.describe()} is not mounted on this host: relocate "
                          f"{name} where group {t.source_disk.group} runs")
        if not os.path.isdir(t.source):
            raise BadInput(f"{t.link} -> {t.source}: not available on this host")
        if t.target_disk.group is not None and not mounted(t.target_disk.mountpoint):
            raise Refused(f"{t.target_disk.describe()} is not mounted on this host: relocate "
                          f"into group {t.target_disk.group} where it runs")
        if not os.path.isdir(t.target_disk.mountpoint):
            raise BadInput(f"{t.target_disk.describe()}: no such directory")
        if os.path.lexists(t.target):
            raise BadInput(f"{t.target} exists already: remove or rename it first")
    return Relocation(name, to, transfers)


def execute(relocation: Relocation, purge: bool = False, log: Log = _quiet) -> Relocation:
    """Copy and verify everything, then switch the links here, then retire the old copies.
    The links of other hosts are the caller's (kits/relocate.py)."""
    made: list[str] = []
    try:
        for t in relocation.transfers:
            temp = os.path.join(t.target_disk.mountpoint, copy_name(relocation.name))
            if os.path.lexists(temp):
                remove_tree(temp)  # a copy an earlier, interrupted relocation left
            made.append(temp)
            log(f"copying {t.source} to {t.target}")
            copy_tree(t.source, temp)
            relocation.digests[t.target] = verify_copy(t.source, temp)
            os.rename(temp, t.target)
            made[-1] = t.target
            log(f"verified {t.target} ({relocation.digests[t.target][:16]})")
    except BaseException:
        for path in made:
            remove_tree(path)
        raise
    os.sync()  # the copy is on disk before anything points at it or the old one goes
    for t in relocation.transfers:
        replace_symlink(t.link, t.target)
        log(f"{t.link} -> {t.target}")
    stamp = _stamp()
    for t in relocation.transfers:
        if purge:
            remove_tree(t.source)
            log(f"deleted the old copy {t.source}")
            continue
        old = os.path.join(os.path.dirname(t.source), old_copy_name(relocation.name, stamp))
        os.rename(t.source, old)
        relocation.old_copies.append(old)
        log(f"old copy kept as {old}")
    return relocation


def purge_old_copies(layout: Layout, defs: Definitions | None, name: str,
                     mounted: Mounted = os.path.ismount) -> list[str]:
    """Delete the old copies of `name` kept on the disks available here."""
    disks = [d.mountpoint for d in destination(layout, defs, LOCAL)]
    for group in (defs.groups if defs else ()):
        disks += [d.mountpoint for d in relocation_disks(group) if mounted(d.mountpoint)]
    removed = []
    for disk in disks:
        try:
            entries = os.listdir(disk)
        except OSError:
            continue
        for entry in sorted(entries):
            if is_old_copy_of(entry, name):
                remove_tree(os.path.join(disk, entry))
                removed.append(os.path.join(disk, entry))
    return removed


def set_links(layout: Layout, name: str, targets: Mapping[int, str | None]) -> list[str]:
    """On this host: point /service/NN/name at each target (None: remove the link).
    Never replaces anything but a symlink."""
    changed = []
    for number, target in sorted(targets.items()):
        path = service_link(layout, number, name)
        if os.path.lexists(path) and not os.path.islink(path):
            raise Refused(f"{path} exists and is no symlink: not replaced")
        if target is None:
            if os.path.islink(path):
                os.unlink(path)
                changed.append(f"removed {path}")
        elif read_link(path) != os.path.normpath(target):
            replace_symlink(path, target)
            changed.append(f"{path} -> {target}")
    return changed


# -- link: a system path into the service tree -------------------------------------------

def _service_dir(layout: Layout, defs: Definitions | None, name: str, number: int) -> str:
    links = {link.number: link for link in service_links(layout, defs, name).get(name, [])}
    link = links.get(number)
    if link is None:
        raise BadInput(f"no {service_link(layout, number, name)} on this host")
    if not link.available:
        raise BadInput(f"{link.path} -> {link.target}: not available on this host (its disk "
                       "is not mounted here)")
    return link.path


def link_path(layout: Layout, defs: Definitions | None, path: str, name: str,
              number: int = 0, log: Log = _quiet) -> str:
    """Move PATH's content to /service/NN/NAME/PATH and leave a symlink at PATH pointing
    there (through the stable /service path, so it follows relocations)."""
    path = os.path.normpath(path)
    if not os.path.isabs(path) or path == "/":
        raise BadInput(f"{path}: give an absolute path other than /")
    if os.path.islink(path):
        raise BadInput(f"{path} is a symlink already ({os.readlink(path)})")
    if not os.path.lexists(path):
        raise BadInput(f"{path}: no such file or directory")
    service_dir = _service_dir(layout, defs, name, number)
    real_service = os.path.realpath(service_dir)
    if os.path.realpath(path).startswith(real_service.rstrip("/") + "/") or \
            os.path.realpath(path).startswith(os.path.realpath(layout.service_root) + "/"):
        raise BadInput(f"{path} is inside the service tree already")
    if service_running(layout, defs, name):
        raise Refused(f"{name} is running here (its sbin/state says so): stop it first")
    stable = os.path.join(service_dir, path.lstrip("/"))
    real_target = os.path.join(real_service, path.lstrip("/"))
    if os.path.lexists(real_target):
        raise BadInput(f"{stable} exists already")
    os.makedirs(os.path.dirname(real_target), mode=0o755, exist_ok=True)
    temp = os.path.join(os.path.dirname(real_target),
                        f".{os.path.basename(real_target)}.s2s-sd-copy")
    if os.path.lexists(temp):
        remove_tree(temp)
    try:
        copy_tree(path, temp)
        verify_copy(path, temp)
        os.rename(temp, real_target)
    except BaseException:
        remove_tree(temp)
        raise
    log(f"copied and verified {path} into {stable}")
    aside = f"{path}.s2s-sd-linked.{os.getpid()}"
    os.rename(path, aside)
    try:
        replace_symlink(path, stable)
    except BaseException:
        os.rename(aside, path)
        raise
    os.sync()  # the moved content is on disk before the original goes
    remove_tree(aside)
    log(f"{path} -> {stable}")
    return stable


def unlink_path(layout: Layout, defs: Definitions | None, path: str,
                log: Log = _quiet) -> str:
    """Undo `link`: the content comes back to PATH, the symlink and the service tree's
    copy go. Returns where the content was."""
    path = os.path.normpath(path)
    target = read_link(path)
    root = os.path.normpath(layout.service_root)
    if target is None or not target.startswith(root + "/"):
        raise BadInput(f"{path} is not a symlink into {root}")
    parts = target[len(root) + 1:].split("/")
    number = parse_number(parts[0]) if parts else None
    if number is None or len(parts) < 3:
        raise BadInput(f"{path} -> {target}: not a path inside a service")
    name = parts[1]
    _service_dir(layout, defs, name, number)
    if not os.path.lexists(target):
        raise BadInput(f"{target}: no such file or directory")
    if service_running(layout, defs, name):
        raise Refused(f"{name} is running here (its sbin/state says so): stop it first")
    temp = f"{path}.s2s-sd-unlink.{os.getpid()}"
    if os.path.lexists(temp):
        remove_tree(temp)
    try:
        copy_tree(target, temp)
        verify_copy(target, temp)
    except BaseException:
        remove_tree(temp)
        raise
    os.sync()
    os.unlink(path)
    os.rename(temp, path)
    remove_tree(target)
    # empty directories link made on the way to the content go too
    kit_dir = os.path.realpath(os.path.join(root, parts[0], name))
    parent = Path(os.path.realpath(os.path.dirname(target)))
    while str(parent).startswith(kit_dir + "/") and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent
    log(f"{path} restored from {target}")
    return target


def place_symlink(path: str, stable: str) -> str:
    """On a host that does not hold the service: make PATH the symlink `link` made on
    the holder, where that is safe (PATH absent, an empty directory, or the same link)."""
    path = os.path.normpath(path)
    if read_link(path) == os.path.normpath(stable):
        return f"{path} -> {stable} (already)"
    if os.path.islink(path):
        raise Refused(f"{path} is a symlink to {os.readlink(path)}: not replaced")
    if os.path.isdir(path):
        if os.listdir(path):
            raise Refused(f"{path} holds data of its own: move it aside first (or run "
                          "`s2s-sd link` here while the service is here)")
        os.rmdir(path)
    elif os.path.lexists(path):
        raise Refused(f"{path} exists and is no directory: not replaced")
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    replace_symlink(path, stable)
    return f"{path} -> {stable}"


def remove_symlink(path: str, stable: str) -> str:
    """Undo place_symlink: remove PATH when it is that symlink."""
    path = os.path.normpath(path)
    if read_link(path) != os.path.normpath(stable):
        return f"{path}: not a link to {stable}, left alone"
    os.unlink(path)
    return f"removed {path}"
