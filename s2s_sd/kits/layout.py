"""The service-kit layout rules (pure: no file system, no processes).

  disks      A group's mount members are its numbered disks: the disk number is the last
             component of the mountpoint when that is all digits (/disk/GROUPDISK/00,
             /disk/GROUPDISK/01, ... by convention), otherwise the member's position among
             the group's mount members. Local (non-failover) disks are the numbered
             directories below one local root (/disk/local/00, ...; configurable).
  kits       A kit is a directory directly on a disk with an executable sbin/start (and
             sbin/stop, sbin/state): DISK/NAME/sbin/start. Hidden entries (.NAME) and
             lost+found are never kits; that is where relocation keeps old copies.
  services   A logical service NAME is reached through stable paths SERVICE_ROOT/NN/NAME,
             symlinks into whichever disk holds it: SERVICE_ROOT/NN/NAME -> DISK_NN/NAME.
             A multi-disk service has one link per disk (00, 01, 02, ...); its kit (sbin/)
             is on one of them, normally 00.
  start/stop Kits start in the order of their paths (disk order, then name) and stop in
             the reverse order.

The I/O side (finding kits, running them, relocating, linking) is kits/runner.py and
kits/tree.py; the definitions' checks of `kits` members are here.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from s2s_sd.model import Definitions, Group, KitsService, MountService

DEFAULT_SERVICE_ROOT = "/service"
DEFAULT_LOCAL_DISKS = "/disk/local"
DEFAULT_KIT_TIMEOUT = 120  # seconds per kit script
KIT_ACTIONS = ("start", "stop", "state")
LOCAL = "local"  # `relocate --to local`
OLD_COPY_PREFIX = ".s2s-sd-old."  # DISK/.s2s-sd-old.NAME.STAMP: kept until --purge
COPY_PREFIX = ".s2s-sd-copy."  # DISK/.s2s-sd-copy.NAME: a copy in progress
NOT_KITS = frozenset({"lost+found"})
_NUMBER = re.compile(r"[0-9]{1,3}\Z")
_KIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")


@dataclass(frozen=True)
class Layout:
    """Where the service links and local disks are (env/options choose, see tree.py)."""

    service_root: str = DEFAULT_SERVICE_ROOT
    local_disks: str = DEFAULT_LOCAL_DISKS


@dataclass(frozen=True)
class Disk:
    """A numbered disk: a group's mount member, or a local directory (group None)."""

    number: int
    mountpoint: str
    group: str | None = None
    service: str | None = None  # the mount member's name

    @property
    def nn(self) -> str:
        return number_text(self.number)

    def describe(self) -> str:
        owner = f"group {self.group}" if self.group else "local"
        return f"{owner} disk {self.nn} ({self.mountpoint})"


def number_text(number: int) -> str:
    return f"{number:02d}"


def parse_number(text: str) -> int | None:
    """'00' -> 0; None when text is no disk number."""
    return int(text) if _NUMBER.match(text) else None


def is_kit_name(name: str) -> bool:
    """A directory name that may be a kit or a service: no hidden, no lost+found."""
    return bool(_KIT_NAME.match(name)) and name not in NOT_KITS


def service_link(layout: Layout, number: int, name: str) -> str:
    return posixpath.join(layout.service_root, number_text(number), name)


def local_disk(layout: Layout, number: int) -> Disk:
    return Disk(number, posixpath.join(layout.local_disks, number_text(number)))


# -- group disks ------------------------------------------------------------------------

def group_disks(group: Group) -> list[Disk]:
    """The group's mount members as numbered disks, in member order."""
    disks = []
    mounts = [s for s in group.services if isinstance(s, MountService)]
    for index, service in enumerate(mounts):
        number = parse_number(posixpath.basename(service.mountpoint.rstrip("/")))
        disks.append(Disk(index if number is None else number, service.mountpoint,
                          group.name, service.name))
    return disks


def kits_disks(group: Group, service: KitsService) -> list[Disk]:
    """The disks a kits member scans: the listed ones, or every mount member before it."""
    position = group.services.index(service)
    before = {s.mountpoint for s in group.services[:position] if isinstance(s, MountService)}
    disks = [d for d in group_disks(group) if d.mountpoint in before]
    if service.disks:
        chosen = set(service.disks)
        disks = [d for d in disks if d.mountpoint in chosen]
    return disks


def relocation_disks(group: Group) -> list[Disk]:
    """Where `relocate --to GROUP` puts a service: the disks of the group's kits member(s),
    or every disk of the group when it has none."""
    members = [s for s in group.services if isinstance(s, KitsService)]
    if not members:
        return group_disks(group)
    seen: dict[str, Disk] = {}
    for member in members:
        for disk in kits_disks(group, member):
            seen.setdefault(disk.mountpoint, disk)
    return sorted(seen.values(), key=lambda d: d.number)


def all_group_disks(defs: Definitions | None) -> list[Disk]:
    return [d for g in (defs.groups if defs else ()) for d in group_disks(g)]


def kit_timeout(service: KitsService) -> int:
    return service.kit_timeout or DEFAULT_KIT_TIMEOUT


# -- where a path lies ------------------------------------------------------------------

def disk_of(path: str, disks: Iterable[Disk]) -> Disk | None:
    """The disk holding `path` (the longest mountpoint that contains it)."""
    path = posixpath.normpath(path)
    best: Disk | None = None
    for disk in disks:
        mp = posixpath.normpath(disk.mountpoint)
        inside = path == mp or path.startswith(mp.rstrip("/") + "/")
        if inside and (best is None or len(mp) > len(best.mountpoint)):
            best = disk
    return best


def local_disk_of(path: str, layout: Layout) -> Disk | None:
    """The local disk LOCAL_ROOT/NN holding `path`, if it is below the local root."""
    root = posixpath.normpath(layout.local_disks)
    path = posixpath.normpath(path)
    if not path.startswith(root.rstrip("/") + "/"):
        return None
    first = path[len(root.rstrip("/")) + 1:].split("/", 1)[0]
    number = parse_number(first)
    return None if number is None else local_disk(layout, number)


def locate(path: str, layout: Layout, defs: Definitions | None) -> Disk | None:
    """The group or local disk holding `path`; None when it is on neither."""
    return disk_of(path, all_group_disks(defs)) or local_disk_of(path, layout)


# -- relocation -------------------------------------------------------------------------

@dataclass(frozen=True)
class Transfer:
    """One /service/NN/NAME of a relocation: where it is and where it goes."""

    number: int
    link: str
    source: str  # the link's current target
    source_disk: Disk | None
    target_disk: Disk
    target: str  # target_disk/NAME

    def describe(self) -> str:
        return f"{self.link}: {self.source} -> {self.target}"


def plan_relocation(name: str, links: Mapping[int, str], layout: Layout,
                    defs: Definitions | None, destination: Sequence[Disk]) -> list[Transfer]:
    """The transfers of `relocate NAME`; ValueError (a message) when it cannot be done."""
    if not links:
        raise ValueError(f"no {service_link(layout, 0, name).replace('/00/', '/NN/')} here")
    by_number = {d.number: d for d in destination}
    transfers = []
    for number, source in sorted(links.items()):
        disk = by_number.get(number)
        if disk is None:
            have = ", ".join(d.nn for d in destination) or "none"
            raise ValueError(f"{service_link(layout, number, name)} needs a disk "
                             f"{number_text(number)} at the destination (it has: {have})")
        target = posixpath.join(disk.mountpoint, name)
        if posixpath.normpath(source) == target:
            raise ValueError(f"{service_link(layout, number, name)} is already on "
                             f"{disk.describe()}")
        transfers.append(Transfer(number, service_link(layout, number, name), source,
                                  locate(source, layout, defs), disk, target))
    return transfers


def old_copy_name(name: str, stamp: str) -> str:
    return f"{OLD_COPY_PREFIX}{name}.{stamp}"


def is_old_copy_of(entry: str, name: str) -> bool:
    return entry.startswith(f"{OLD_COPY_PREFIX}{name}.")


def copy_name(name: str) -> str:
    return f"{COPY_PREFIX}{name}"


# -- checks of kits members (called by validate.py) --------------------------------------

@dataclass(frozen=True)
class KitsProblem:
    key: str | None  # the member's key the problem is about
    message: str


def kits_problems(group: Group, service: KitsService) -> Iterator[KitsProblem]:
    position = group.services.index(service)
    before = [s for s in group.services[:position] if isinstance(s, MountService)]
    if not before:
        yield KitsProblem(None, f"a kits member needs disks: no mount member of group "
                                f"'{group.name}' comes before it")
    known = {s.mountpoint for s in before}
    later = {s.mountpoint for s in group.services[position:] if isinstance(s, MountService)}
    for listed in service.disks:
        if listed in later:
            yield KitsProblem("disks", f"disk {listed} is mounted after this member: put the "
                                       "kits member after its disks")
        elif listed not in known:
            yield KitsProblem("disks", f"'{listed}' is not the mountpoint of a mount member of "
                                       f"group '{group.name}'")
    if len(set(service.disks)) != len(service.disks):
        yield KitsProblem("disks", "a disk is listed twice")
    numbers: dict[int, str] = {}
    for disk in group_disks(group):
        if disk.number in numbers:
            yield KitsProblem(None, f"disks {numbers[disk.number]} and {disk.mountpoint} of "
                                    f"group '{group.name}' both have number {disk.nn}: "
                                    "/service/NN links need distinct numbers")
        numbers.setdefault(disk.number, disk.mountpoint)
    for other in group.services[:position]:
        if isinstance(other, KitsService):
            shared = ({d.mountpoint for d in kits_disks(group, other)}
                      & {d.mountpoint for d in kits_disks(group, service)})
            if shared:
                yield KitsProblem(None, f"disk(s) {', '.join(sorted(shared))} are also "
                                        f"scanned by kits member '{other.name}': every kit "
                                        "would start twice")
