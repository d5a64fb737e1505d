"""Host-side resources of the nspawn lab, and how to find and remove them after a crash.

Everything the lab creates on the host carries a fixed name, so `down` can find what a
crashed run left behind without any state file: the network namespaces, the cgroup
trees, the nspawn machine names (and their /run/systemd/nspawn/propagate dirs), the
overlay mounts (mount source TAG) and the loop devices (backing files named TAG-disk-*).
One consequence, on purpose: there is at most one nspawn lab per machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from s2s_sd.run import run

TAG = "s2s-sd-lab"
BRIDGE_NETNS = "s2slab"
CLIENT_NETNS = "s2slab-client"
BRIDGE = "br0"
# Host side of the client's veth pair, inside BRIDGE_NETNS; the client side is eth0.
CLIENT_BRIDGE_PORT = "vc-client"
MACHINE_PREFIX = "s2slab-"
DISK_IMAGE_PREFIX = f"{TAG}-disk-"
NETNS_DIR = Path("/run/netns")
# `ip netns exec NAME` bind-mounts /etc/netns/NAME/hosts over /etc/hosts: node names then
# resolve in the client namespace too.
NETNS_ETC_DIR = Path("/etc/netns")
PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")
CGROUP_ROOT = Path("/sys/fs/cgroup")
IFNAMSIZ = 16


def machine_name(node: str) -> str:
    """nspawn's machine name of a node; its hostname stays `node`."""
    return MACHINE_PREFIX + node


def bridge_port(node: str) -> str:
    """The host-side veth nspawn creates for --network-bridge: "vb-" + machine name."""
    name = "vb-" + machine_name(node)
    if len(name) >= IFNAMSIZ:
        # nspawn would hash a longer name; node names n1..n89 never get there.
        raise LabError(f"node name {node!r} is too long for a veth name")
    return name


# --- cgroups ---------------------------------------------------------------------------


def cgroup_hierarchies() -> tuple[Path, ...]:
    """The hierarchies a launcher must be moved in: the cgroup2 one and name=systemd (v1)."""
    found: list[Path] = []
    if (CGROUP_ROOT / "cgroup.controllers").is_file():  # pure cgroup2
        found.append(CGROUP_ROOT)
    elif (CGROUP_ROOT / "unified/cgroup.controllers").is_file():  # hybrid
        found.append(CGROUP_ROOT / "unified")
    if (CGROUP_ROOT / "systemd/cgroup.procs").is_file():
        found.append(CGROUP_ROOT / "systemd")
    return tuple(found)


def node_cgroups(node: str) -> tuple[Path, ...]:
    return tuple(h / TAG / machine_name(node) for h in cgroup_hierarchies())


def lab_cgroups() -> tuple[Path, ...]:
    return tuple(h / TAG for h in cgroup_hierarchies())


def _walk_bottom_up(top: Path) -> Iterator[Path]:
    for dirpath, _dirnames, _files in os.walk(top, topdown=False):
        yield Path(dirpath)


def cgroup_pids(top: Path) -> set[int]:
    pids: set[int] = set()
    if not top.is_dir():
        return pids
    for directory in _walk_bottom_up(top):
        with contextlib.suppress(OSError):
            pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
    return pids


def kill_cgroup_tree(top: Path, timeout: float = 10.0) -> None:
    """SIGKILL every process below `top`, wait until they are gone, remove the cgroups."""
    if not top.is_dir():
        return
    deadline = time.monotonic() + timeout
    while True:
        kill_file = top / "cgroup.kill"
        if kill_file.is_file():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        for pid in cgroup_pids(top):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # Exited processes leave cgroup.procs at exit, before their parent reaps them, so
        # zombies of nspawn launched by this process do not hold the cgroup.
        if not cgroup_pids(top):
            break
        if time.monotonic() > deadline:
            raise LabError(f"processes in {top} survive SIGKILL: {sorted(cgroup_pids(top))}")
        time.sleep(0.05)
    remove_cgroup_tree(top, deadline)


def remove_cgroup_tree(top: Path, deadline: float | None = None) -> None:
    """rmdir an emptied cgroup tree bottom-up; the kernel needs a moment after the kill."""
    deadline = deadline if deadline is not None else time.monotonic() + 10.0
    while top.is_dir():
        busy: list[Path] = []
        for directory in _walk_bottom_up(top):
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                busy.append(directory)
        if not busy:
            return
        if time.monotonic() > deadline:
            raise LabError(f"cannot remove cgroup {busy[0]} (still in use)")
        time.sleep(0.05)


# --- processes -------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int


def proc_stat(pid: int) -> ProcStat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may contain spaces and parentheses: it ends at the last ")".
    head, _, rest = text.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    return ProcStat(pid, comm, fields[0], int(fields[1]))


def alive(pid: int) -> bool:
    stat = proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def children(ppid: int) -> list[ProcStat]:
    found: list[ProcStat] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = proc_stat(int(entry.name))
            if stat is not None and stat.ppid == ppid:
                found.append(stat)
    return found


# --- network namespaces ----------------------------------------------------------------


def netns_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def create_networks(client_address: str, hosts_file: str) -> None:
    """The bridge namespace with BRIDGE, and the client namespace plugged into it."""
    ip = ["ip", "-n", BRIDGE_NETNS]
    run(["ip", "netns", "add", BRIDGE_NETNS])
    run([*ip, "link", "set", "lo", "up"])
    # STP off (the default) puts ports into forwarding at once: no 15 s learning delay.
    run([*ip, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0"])
    run([*ip, "link", "set", BRIDGE, "up"])
    run(["ip", "netns", "add", CLIENT_NETNS])
    run([*ip, "link", "add", CLIENT_BRIDGE_PORT, "type", "veth",
         "peer", "name", "eth0", "netns", CLIENT_NETNS])
    run([*ip, "link", "set", CLIENT_BRIDGE_PORT, "master", BRIDGE, "up"])
    client = ["ip", "-n", CLIENT_NETNS]
    run([*client, "link", "set", "lo", "up"])
    run([*client, "addr", "add", client_address, "dev", "eth0"])
    run([*client, "link", "set", "eth0", "up"])
    (NETNS_ETC_DIR / CLIENT_NETNS).mkdir(parents=True, exist_ok=True)
    (NETNS_ETC_DIR / CLIENT_NETNS / "hosts").write_text(hosts_file)


def set_link(link: str, up: bool) -> None:
    run(["ip", "-n", BRIDGE_NETNS, "link", "set", link, "up" if up else "down"])


def link_is_up(link: str) -> bool:
    result = run(["ip", "-n", BRIDGE_NETNS, "-j", "link", "show", link], check=False)
    if not result.ok:
        return False
    links = json.loads(result.stdout)
    return bool(links) and "UP" in links[0].get("flags", [])


def bridge_ports() -> list[str]:
    result = run(["ip", "-n", BRIDGE_NETNS, "-j", "link", "show", "master", BRIDGE],
                 check=False)
    if not result.ok or not result.stdout.strip():
        return []
    return [link["ifname"] for link in json.loads(result.stdout)]


# --- cleanup of everything above -------------------------------------------------------


def lab_mounts() -> list[str]:
    """Mount points of the lab's overlay roots (mount source TAG), deepest first."""
    points: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, right_fields = left.split(), right.split()
        if len(right_fields) >= 2 and right_fields[1] == TAG:
            points.append(_unescape(fields[4]))
    return sorted(set(points), key=len, reverse=True)


def _unescape(path: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        path = path.replace(code, char)
    return path


def lab_loop_devices() -> dict[str, str]:
    """{loop device: backing file} of the lab's shared disks."""
    result = run(["losetup", "--list", "--json", "--output", "NAME,BACK-FILE"], check=False)
    if not result.ok or not result.stdout.strip():
        return {}
    devices = json.loads(result.stdout).get("loopdevices", [])
    return {
        d["name"]: d["back-file"]
        for d in devices
        if DISK_IMAGE_PREFIX in Path(str(d.get("back-file") or "")).name
    }


def lab_netns() -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(
        p.name for p in NETNS_DIR.iterdir() if p.name in (BRIDGE_NETNS, CLIENT_NETNS)
    )


def lab_propagate_dirs() -> list[Path]:
    if not PROPAGATE_DIR.is_dir():
        return []
    return sorted(p for p in PROPAGATE_DIR.iterdir() if p.name.startswith(MACHINE_PREFIX))


def remove_propagate_dir(node: str) -> None:
    # nspawn leaves it behind because /run is not a tmpfs here; a stale one can make the
    # next boot of the same machine name fail.
    _remove_path(PROPAGATE_DIR / machine_name(node))


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            _remove_path(child)
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()


def leftovers() -> list[str]:
    """Everything of a lab still on this host, one line each (empty: the host is clean)."""
    found: list[str] = []
    for top in lab_cgroups():
        pids = cgroup_pids(top)
        if pids:
            found.append(f"{len(pids)} processes in {top}")
        elif top.exists():
            found.append(f"cgroup {top}")
    found += [f"mount {m}" for m in lab_mounts()]
    found += [f"loop device {d} ({f})" for d, f in lab_loop_devices().items()]
    found += [f"network namespace {n}" for n in lab_netns()]
    found += [f"nspawn runtime dir {p}" for p in lab_propagate_dirs()]
    if (NETNS_ETC_DIR / CLIENT_NETNS).exists():
        found.append(f"client hosts file {NETNS_ETC_DIR / CLIENT_NETNS}")
    return found


def clean_host() -> None:
    """Remove every lab resource on this host, whoever created it and however it ended."""
    problems: list[str] = []
    for top in lab_cgroups():
        try:
            kill_cgroup_tree(top)
        except LabError as exc:
            problems.append(str(exc))
    for point in lab_mounts():
        if not run(["umount", point], check=False).ok:
            # Something still holds it (a shell cd'ed into a node's root): detach it now,
            # the kernel frees it when the last user goes.
            run(["umount", "--lazy", point], check=False)
    for device in lab_loop_devices():
        run(["losetup", "--detach", device], check=False)
    for name in lab_netns():
        if not run(["ip", "netns", "delete", name], check=False).ok:
            problems.append(f"cannot delete network namespace {name}")
    for directory in lab_propagate_dirs():
        _remove_path(directory)
    _remove_path(NETNS_ETC_DIR / CLIENT_NETNS)
    with contextlib.suppress(OSError):  # created for the lab; kept if anyone else uses it
        NETNS_ETC_DIR.rmdir()
    left = leftovers()
    if problems or left:
        raise LabError("lab teardown incomplete: " + "; ".join(problems + left))
