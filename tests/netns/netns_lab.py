"""A throw-away Ethernet segment in network namespaces: host1, host2, client on a bridge.

The bridge lives in a namespace of its own, so no traffic ever touches the machine's
real network. Names carry the creating process's id: a run that crashed leaves
namespaces no later run can collide with, and `reap_stale` removes them once their
creator is gone. Used by the netns tests and by bench/vip.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from s2s_sd.run import Result, run

PREFIX = "s2svip"
NETNS_DIR = Path("/run/netns")
SUBNET4 = "10.77.0"
SUBNET6 = "fd77::"
NODES = {"host1": 11, "host2": 12, "client": 100}
S2S_SD = str(Path(sys.executable).with_name("s2s-sd"))


@dataclass(frozen=True)
class Node:
    role: str
    netns: str  # name under /run/netns
    mac: str
    ipv4: str
    ipv6: str

    @property
    def path(self) -> str:
        return str(NETNS_DIR / self.netns)

    def ip(self, *argv: str, check: bool = True) -> str:
        return run(["ip", "-n", self.netns, *argv], check=check).stdout

    def exec(self, *argv: str, check: bool = True, timeout: float = 60) -> Result:
        return run(["ip", "netns", "exec", self.netns, *argv], check=check, timeout=timeout)

    def s2s_sd(self, *argv: str, prefix: tuple[str, ...] = ()) -> Result:
        """The real command line in this namespace, as the generated units run it.

        PREFIX goes between `ip netns exec NS` and s2s-sd (e.g. setpriv to drop caps).
        """
        return run(["ip", "netns", "exec", self.netns, *prefix, S2S_SD, *argv],
                   check=False, timeout=60)

    def pings(self, address: str) -> bool:
        return self.exec("ping", "-c", "1", "-W", "1", address, check=False).ok


@dataclass(frozen=True)
class Lab:
    switch: str
    nodes: dict[str, Node]

    @property
    def host1(self) -> Node:
        return self.nodes["host1"]

    @property
    def host2(self) -> Node:
        return self.nodes["host2"]

    @property
    def client(self) -> Node:
        return self.nodes["client"]

    def neighbour_mac(self, address: str) -> str | None:
        """The client's cached MAC for ADDRESS (whatever the entry's state), or None."""
        out = run(["ip", "-n", self.client.netns, "neigh", "show", address, "dev", "eth0"]).stdout
        match = re.search(r"lladdr ([0-9a-f:]{17})", out)
        return match.group(1) if match else None


def _namespaces() -> list[str]:
    out = run(["ip", "netns", "list"]).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _delete(name: str) -> None:
    run(["ip", "netns", "delete", name], check=False)


def reap_stale() -> None:
    """Remove namespaces of earlier runs whose creating process no longer exists."""
    for name in _namespaces():
        match = re.fullmatch(rf"{PREFIX}(\d+)-\w+-\w+", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _delete(name)


def _create(tag: str) -> Lab:
    switch = f"{tag}-sw"
    run(["ip", "netns", "add", switch])
    run(["ip", "-n", switch, "link", "add", "br0", "type", "bridge",
         "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"])
    run(["ip", "-n", switch, "link", "set", "br0", "up"])
    nodes = {}
    for number, (role, host_part) in enumerate(NODES.items()):
        name = f"{tag}-{role}"
        mac = f"02:77:00:00:00:{host_part:02x}"
        run(["ip", "netns", "add", name])
        port = f"p{number}"
        run(["ip", "-n", switch, "link", "add", port, "type", "veth",
             "peer", "name", "eth0", "netns", name])
        run(["ip", "-n", switch, "link", "set", port, "master", "br0", "up"])
        run(["ip", "-n", name, "link", "set", "eth0", "address", mac])
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        run(["ip", "-n", name, "link", "set", "eth0", "up"])
        ipv4 = f"{SUBNET4}.{host_part}"
        ipv6 = f"{SUBNET6}{host_part}"
        run(["ip", "-n", name, "addr", "add", f"{ipv4}/24", "dev", "eth0"])
        run(["ip", "-n", name, "addr", "add", f"{ipv6}/64", "dev", "eth0", "nodad"])
        nodes[role] = Node(role, name, mac, ipv4, ipv6)
    return Lab(switch, nodes)


@contextlib.contextmanager
def lab() -> Iterator[Lab]:
    """Create the segment; remove every namespace of it afterwards, even after failures."""
    if os.geteuid() != 0:
        raise RuntimeError("the netns tests need root (ip netns add); run them as root")
    reap_stale()
    tag = f"{PREFIX}{os.getpid()}-{secrets.token_hex(2)}"
    try:
        yield _create(tag)
    finally:
        for name in _namespaces():
            if name.startswith(f"{tag}-"):
                _delete(name)
