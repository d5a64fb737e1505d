"""The Vagrant backend: the same node operations on the VMs of vagrant/ (KVM machines only).

Commands reach the boxes through `vagrant ssh NODE -c ...` run in the vagrant/ directory,
so whatever provider the user has (libvirt, VirtualBox) works. The lab network is the
boxes' private network (192.168.77.0/24); the host is on it, so `client` runs on the host.
This backend cannot run on the project's own machines (no usable KVM, no box downloads);
see vagrant/README.md.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from lab.backend import SSH_OPTIONS, quorate_online_nodes
from lab.errors import LabError
from lab.topology import NODE_NAMES, SUBNET, node_address
from s2s_sd.errors import CommandFailed, OperationFailed
from s2s_sd.run import Result, run

VAGRANT_DIR = Path(__file__).resolve().parents[1] / "vagrant"
SETTLED_STATES = ("running", "degraded")


class VagrantLab:
    """n1..n3 as Vagrant VMs; the exec API of `Lab`, without nspawn-only features
    (leader_pid, the client netns)."""

    def __init__(self, vagrant_dir: Path = VAGRANT_DIR, nodes: Sequence[str] = NODE_NAMES,
                 *, cluster: bool = True, boot_timeout: float = 600.0) -> None:
        self.vagrant_dir = vagrant_dir
        self.nodes = tuple(nodes)
        self.cluster = cluster
        self.boot_timeout = boot_timeout

    def _vagrant(self, argv: Sequence[str], *, input: str | None = None, check: bool = True,
                 timeout: float = 120.0) -> Result:
        return run(["vagrant", *argv], cwd=str(self.vagrant_dir), input=input, check=check,
                   timeout=timeout)

    def up(self) -> None:
        self._vagrant(["up", *self.nodes], timeout=3600)
        for node in self.nodes:
            self.wait_running(node, timeout=self.boot_timeout)
        if self.cluster:
            self.wait_quorum()

    def down(self) -> None:
        self._vagrant(["destroy", "--force", *self.nodes], timeout=600)

    def exec(self, node: str, argv: Sequence[str], *, input: str | None = None,
             check: bool = True, timeout: float = 120.0) -> Result:
        """Run argv as root in the VM (vagrant logs in as `vagrant`, hence sudo)."""
        self._check_node(node)
        remote = "sudo -n -- " + shlex.join(argv)
        result = self._vagrant(["ssh", node, "--no-tty", "-c", remote], input=input,
                               check=False, timeout=timeout)
        # Report the command the caller asked for, not the vagrant wrapper around it.
        result = Result(tuple(argv), result.returncode, result.stdout, result.stderr)
        if check and not result.ok:
            raise CommandFailed(argv, result.returncode, result.stdout, result.stderr)
        return result

    def ssh(self, source: str, target: str, argv: Sequence[str], *, check: bool = True,
            timeout: float = 60.0) -> Result:
        return self.exec(source, ["ssh", *SSH_OPTIONS, target, shlex.join(argv)],
                         check=check, timeout=timeout)

    def client(self, argv: Sequence[str], *, input: str | None = None, check: bool = True,
               timeout: float = 60.0) -> Result:
        """The host is on the boxes' private network: it is the client."""
        return run(argv, input=input, check=check, timeout=timeout)

    def address(self, node: str) -> str:
        self._check_node(node)
        return node_address(node)

    def _check_node(self, node: str) -> None:
        if node not in self.nodes:
            raise LabError(f"no node {node!r} in this lab (nodes: {', '.join(self.nodes)})")

    def is_running(self, node: str) -> bool:
        result = self._vagrant(["status", node, "--machine-readable"], check=False)
        return any(line.split(",")[2:4] == ["state", "running"]
                   for line in result.stdout.splitlines() if line.count(",") >= 3)

    def system_state(self, node: str) -> str:
        if not self.is_running(node):
            return "stopped"
        result = self.exec(node, ["systemctl", "is-system-running"], check=False)
        return result.stdout.strip() or "unknown"

    def failed_units(self, node: str) -> list[str]:
        result = self.exec(node, ["systemctl", "list-units", "--failed", "--plain",
                                  "--no-legend", "--no-pager"], check=False)
        return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]

    def wait_running(self, node: str, timeout: float = 600.0) -> str:
        deadline = time.monotonic() + timeout
        state = "stopped"
        while time.monotonic() < deadline:
            with contextlib.suppress(OperationFailed):
                state = self.exec(node, ["systemctl", "is-system-running", "--wait"],
                                  check=False, timeout=timeout).stdout.strip()
                if state in SETTLED_STATES:
                    return state
            time.sleep(2)
        raise LabError(f"{node} did not finish booting within {timeout:.0f} s ({state})")

    def wait_quorum(self, nodes: Sequence[str] | None = None, timeout: float = 180.0) -> str:
        expected = set(nodes) if nodes is not None else {
            n for n in self.nodes if self.is_running(n)
        }
        asked = sorted(expected)[0]
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            result = self.exec(asked, ["crm_mon", "-1", "--output-as=xml"], check=False)
            last = result.stdout + result.stderr
            if result.ok and expected <= quorate_online_nodes(result.stdout):
                return self.exec(asked, ["crm_mon", "-1"]).stdout
            time.sleep(1)
        raise LabError(f"no quorum with {sorted(expected)} online within {timeout:.0f} s:\n"
                       f"{last}")

    def stop(self, node: str, timeout: float = 300.0) -> None:
        self._vagrant(["halt", node], timeout=timeout)

    def kill(self, node: str) -> None:
        """The VM's power is cut: the nearest thing to kill -9 of PID 1."""
        self._vagrant(["halt", "--force", node], timeout=300)

    def start(self, node: str, *, wait: bool = True) -> str:
        # --no-provision: a restarted node keeps its state, like a rebooted server.
        self._vagrant(["up", "--no-provision", node], timeout=1800)
        return self.wait_running(node, timeout=self.boot_timeout) if wait else "starting"

    def _lab_interface(self, node: str) -> str:
        """The NIC holding the node's lab address (vagrant ssh itself uses another one)."""
        result = self.exec(node, ["ip", "-o", "-4", "addr", "show", "to",
                                  f"{node_address(node)}/32"])
        words = result.stdout.split()
        if len(words) < 2:
            raise LabError(f"{node} has no interface with {node_address(node)} ({SUBNET})")
        return words[1]

    def partition(self, node: str) -> None:
        self.exec(node, ["ip", "link", "set", self._lab_interface(node), "down"])

    def heal(self, node: str) -> None:
        # With the link down the address is still listed, so the lookup still works.
        self.exec(node, ["ip", "link", "set", self._lab_interface(node), "up"])
