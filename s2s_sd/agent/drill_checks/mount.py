"""mount members: the device is visible here (by path, LABEL= or UUID=), the mountpoint
exists or can be created, nothing is mounted there unless the group runs here, the kernel
or a mount helper supports the file system type, the host's fstab does not mount the
device (or the mountpoint) at boot, and the fsck helper of the type is installed."""

from __future__ import annotations

import os
import shutil
import string
from pathlib import Path

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.drill import Finding, fail, ok, warn
from s2s_sd.errors import OperationFailed
from s2s_sd.fstab import automatic_entries, parse_fstab
from s2s_sd.model import Engine, Group, MountService
from s2s_sd.run import run

TAGS = ("LABEL", "UUID")
# the repair program each type needs before a mount after a crash; the Filesystem agent
# runs it for these types (run_fsck=auto)
FSCK_HELPERS = {"ext2": "fsck.ext2", "ext3": "fsck.ext3", "ext4": "fsck.ext4",
                "vfat": "fsck.vfat", "xfs": "xfs_repair", "btrfs": "btrfs"}
_UDEV_PLAIN = set(string.ascii_letters + string.digits + "#+-.:=@_")


def udev_escape(value: str) -> str:
    """How udev names /dev/disk/by-label links: other bytes as \\xNN."""
    return "".join(ch if ch in _UDEV_PLAIN else "".join(f"\\x{b:02x}" for b in ch.encode())
                   for ch in value)


def _blkid(argv: list[str]) -> str:
    """blkid only reads (the cache and the device's superblock); missing blkid: nothing."""
    try:
        return run(["blkid", *argv], check=False, timeout=30).stdout
    except OperationFailed:
        return ""


def resolve_device(facts: HostFacts, device: str) -> tuple[str | None, set[str]]:
    """(the device's path on this host or None, every name it goes by here: as declared,
    its real path, LABEL=..., UUID=...)."""
    names = {device}
    tag, _, value = device.partition("=")
    path: str | None = None
    if tag in TAGS and value:
        link = facts.disk_dir / f"by-{tag.lower()}" / udev_escape(value)
        if link.exists():
            path = str(link)
        else:
            found = _blkid(["-l", "-o", "device", "-t", device]).strip()
            path = found.splitlines()[0] if found else None
    elif os.path.exists(device):
        path = device
    if path is not None:
        names |= {path, os.path.realpath(path)}
        for line in _blkid(["-o", "export", os.path.realpath(path)]).splitlines():
            key, _, text = line.partition("=")
            if key in TAGS and text:
                names.add(f"{key}={text}")
    return path, names


def _device(facts: HostFacts, group: Group, service: MountService, path: str | None
            ) -> Finding:
    if path is None:
        how = "by label or UUID (blkid, /dev/disk)" if "=" in service.device else "here"
        return fail(facts.host, group.name, service.name, "mount.device",
                    f"{service.device}: not visible {how}")
    shown = f" ({path})" if path != service.device else ""
    return ok(facts.host, group.name, service.name, "mount.device",
              f"{service.device}{shown} is visible")


def _mountpoint(facts: HostFacts, group: Group, service: MountService) -> Finding:
    host, where = facts.host, Path(service.mountpoint)
    if where.is_dir():
        return ok(host, group.name, service.name, "mount.mountpoint", f"{where} exists")
    if where.exists() or where.is_symlink():
        return fail(host, group.name, service.name, "mount.mountpoint",
                    f"{where} exists and is not a directory")
    parent = where.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return fail(host, group.name, service.name, "mount.mountpoint",
                    f"{where} cannot be created: {parent} is not a directory")
    read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
    if read_only or not os.access(parent, os.W_OK):
        why = "is on a read-only file system" if read_only else "is not writable"
        return fail(host, group.name, service.name, "mount.mountpoint",
                    f"{where} cannot be created: {parent} {why}")
    return ok(host, group.name, service.name, "mount.mountpoint",
              f"{where} does not exist and can be created")


def _mounted(facts: HostFacts, group: Group, service: MountService) -> Finding:
    host, where = facts.host, service.mountpoint
    if where not in facts.mounted:
        return ok(host, group.name, service.name, "mount.mounted", f"{where} is not mounted")
    if group.name in facts.running:
        return ok(host, group.name, service.name, "mount.mounted",
                  f"{where} is mounted: the group runs here")
    return fail(host, group.name, service.name, "mount.mounted",
                f"{where} is mounted here although the group does not run here")


def supported_by(facts: HostFacts, fstype: str) -> str | None:
    """How this host can mount FSTYPE (kernel, module, helper), None when it cannot."""
    try:
        text = facts.proc_filesystems.read_text(encoding="utf-8")
    except OSError:
        text = ""
    if fstype in {line.split()[-1] for line in text.splitlines() if line.split()}:
        return "registered in the kernel"
    if (facts.modules_dir / os.uname().release / "kernel" / "fs" / fstype).is_dir():
        return "a kernel module"
    helper = shutil.which(f"mount.{fstype}", path=facts.search_path)
    return f"mount helper {helper}" if helper else None


def _fstype(facts: HostFacts, group: Group, service: MountService) -> list[Finding]:
    host, fstype = facts.host, service.fstype
    how = supported_by(facts, fstype)
    found = [ok(host, group.name, service.name, "mount.fstype", f"{fstype}: {how}") if how
             else fail(host, group.name, service.name, "mount.fstype",
                       f"{fstype}: not supported here (not in {facts.proc_filesystems}, "
                       "no kernel module, no mount helper)")]
    helper = FSCK_HELPERS.get(fstype)
    if helper is None:
        return found
    if shutil.which(helper, path=facts.search_path):
        found.append(ok(host, group.name, service.name, "mount.fsck", f"{helper} installed"))
    else:
        # the Filesystem agent (pacemaker) runs it before every mount; s2s-mount does not
        level = fail if facts.defs.hostgroup.engine is Engine.PACEMAKER else warn
        found.append(level(host, group.name, service.name, "mount.fsck",
                           f"{helper} is not installed: a damaged {fstype} cannot be "
                           "repaired here"))
    return found


def _fstab(facts: HostFacts, group: Group, service: MountService, names: set[str]
           ) -> Finding:
    host = facts.host
    try:
        text = facts.fstab.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        return fail(host, group.name, service.name, "mount.fstab",
                    f"{facts.fstab}: unreadable ({exc.strerror})")
    entries = automatic_entries(parse_fstab(text), names, service.mountpoint)
    if entries:
        where = ", ".join(f"{facts.fstab}:{e.line} ({e.spec} on {e.mountpoint})"
                          for e in entries)
        return fail(host, group.name, service.name, "mount.fstab",
                    f"mounted at boot by {where}: remove it or add noauto")
    return ok(host, group.name, service.name, "mount.fstab",
              f"neither {service.device} nor {service.mountpoint} is mounted at boot "
              f"by {facts.fstab}")


def check_mount(facts: HostFacts, group: Group, service: MountService) -> list[Finding]:
    path, names = resolve_device(facts, service.device)
    return [_device(facts, group, service, path), _mountpoint(facts, group, service),
            _mounted(facts, group, service), *_fstype(facts, group, service),
            _fstab(facts, group, service, names)]
