"""The fire drill's checks on one host: one module per kind of member (mount, ip, script,
exec, systemd), plus hooks, kits, the Pacemaker node and the host itself (generation,
versions). Each check is a small function returning findings; none of them changes
anything (no mount, no address, no unit started, no file written).

`HostFacts` is what every check of one drill on one host shares: read once, and where a
check would otherwise reach into the machine (paths of system files, systemctl, the VIP
probe), replaceable, so each finding type is testable on real files in a tmp dir.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from s2s_sd.engines.net import ops as net_ops
from s2s_sd.engines.net.hosts_file import DEFAULT_HOSTS_FILE
from s2s_sd.engines.net.vip import IPAddress, Vip
from s2s_sd.model import Definitions
from s2s_sd.run import Result, run

# where helpers (fsck.*, mount.*) and programs are looked for when a check needs them
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Systemctl = Callable[[Sequence[str]], Result]


def systemctl_readonly(args: Sequence[str]) -> Result:
    """systemctl for questions only (show): never start, stop or enable."""
    return run(["systemctl", *args], check=False, timeout=30)


def ask_who_answers(vip: Vip, host_group_vips: Collection[IPAddress]) -> str | None:
    """A drill only checks: it asks as the watcher does, never with a duplicate probe."""
    return net_ops.who_answers(vip, checking_among=host_group_vips)


def vip_on_an_interface_here(vip: Vip) -> bool:
    return net_ops.vip_status(vip, hosts=None).present


@dataclass(frozen=True)
class HostFacts:
    host: str
    defs: Definitions
    basedir: Path
    running: frozenset[str] = frozenset()  # groups that run on this host now
    mounted: frozenset[str] = frozenset()  # mountpoints mounted here
    fstab: Path = Path("/etc/fstab")
    hosts_file: Path = DEFAULT_HOSTS_FILE
    disk_dir: Path = Path("/dev/disk")  # by-label/, by-uuid/ (udev)
    proc_filesystems: Path = Path("/proc/filesystems")
    modules_dir: Path = Path("/lib/modules")
    search_path: str = SYSTEM_PATH
    ocf_root: Path = Path("/usr/lib/ocf/resource.d")
    systemctl: Systemctl = field(default=systemctl_readonly, compare=False)
    vip_present: Callable[[Vip], bool] = field(default=vip_on_an_interface_here,
                                                 compare=False)
    # (vip, the host group's VIPs) -> who answers, asked as a checker
    who_answers: Callable[[Vip, Collection[IPAddress]], str | None] = field(
        default=ask_who_answers, compare=False)
