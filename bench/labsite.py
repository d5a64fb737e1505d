"""What the lab benchmarks of moves share: a host group of the 3 lab nodes with one group
defined by the bench, installed as a site would (base dir on n1, `s2s-sd sync`), and
`s2s-sd` run on a node with its wall clock.

The nodes' addresses are the lab's; the admin host is n1. Each bench has its own base dir
and host-group name, so they never see each other's groups."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from lab import Lab  # noqa: E402
from s2s_sd.run import PIPE, Result, spawn  # noqa: E402

ADMIN = "n1"
NODES = ("n1", "n2", "n3")
# a TCP service and its client (the repository is mounted at its own path in the nodes)
SERVER = REPO / "bench" / "gap_server.py"
CLIENT = REPO / "bench" / "gap_client.py"


@dataclass(frozen=True)
class Site:
    """A host group of the lab nodes: its name, base dir and the one group's TOML."""

    name: str
    basedir: str
    group_toml: str  # a [groups.NAME] table with its [[groups.NAME.services]]

    def definitions(self, lab: Lab) -> str:
        nodes = ", ".join(f'"{n}"' for n in NODES)
        lines = ["[hostgroup]", f'name = "{self.name}"', f"hosts = [{nodes}]", ""]
        for node in NODES:
            lines += [f"[hosts.{node}]", f'address = "{lab.address(node)}"']
        return "\n".join([*lines, "", self.group_toml, ""])

    def install(self, lab: Lab) -> None:
        """The base dir on the admin host, synced to every node (units installed there)."""
        for node in NODES:
            lab.exec(node, ["rm", "-rf", self.basedir], check=False)
        lab.exec(ADMIN, ["sh", "-c", f"mkdir -p {self.basedir} && "
                                     f"cat > {self.basedir}/s2s.toml"],
                 input=self.definitions(lab))
        self.run(lab, "sync")

    def run(self, lab: Lab, *args: str, node: str = ADMIN, check: bool = True
            ) -> tuple[float, Result]:
        """`s2s-sd ARGS --basedir B` on node: (wall clock in seconds, result)."""
        began = time.perf_counter()
        result = lab.exec(node, ["s2s-sd", *args, "--basedir", self.basedir], check=False,
                          timeout=300)
        elapsed = time.perf_counter() - began
        if check and not result.ok:
            raise SystemExit(f"s2s-sd {' '.join(args)} on {node} failed (exit "
                             f"{result.returncode}): {result.stdout}{result.stderr}")
        return elapsed, result


def server_command(address: str, port: int) -> list[str]:
    """gap_server.py as the nodes run it (their python3)."""
    return ["/usr/bin/python3", str(SERVER), address, str(port)]


class Client:
    """gap_client.py in the lab's client namespace, connecting every 10 ms until served()."""

    def __init__(self, lab: Lab, address: str, port: int) -> None:
        self.process = spawn(["ip", "netns", "exec", lab.client_netns, sys.executable,
                              str(CLIENT), address, str(port)], stdin=PIPE, stdout=PIPE)

    def served(self) -> list[float]:
        """Stop it (its stdin closes); the times of the connections it got served."""
        out, _ = self.process.communicate(timeout=60)
        return [float(line) for line in out.decode().split()]


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """The command line of a lab bench: its own options, added by the caller, and --keep."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--keep", action="store_true", help="leave the lab up afterwards")
    return parser


@contextmanager
def running(site: Site, group: str, keep: bool) -> Iterator[Lab]:
    """The lab up, the site installed and `group` started on its first host; the lab taken
    down afterwards unless `keep`."""
    lab = Lab(cluster=False)
    lab.up()
    try:
        site.install(lab)
        site.run(lab, "start", group)
        yield lab
    finally:
        if not keep:
            lab.down()


def active_on(lab: Lab, unit: str, nodes: Sequence[str] = NODES) -> list[str]:
    """The running nodes on which unit is active."""
    return [n for n in nodes if lab.is_running(n) and
            lab.exec(n, ["systemctl", "is-active", "--quiet", unit], check=False).ok]
