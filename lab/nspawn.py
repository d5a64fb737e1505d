"""The nspawn lab: N Debian nodes booting a real systemd, on a bridge in a netns of their own.

    lab = Lab(Path("/var/lib/s2s-sd-lab"), cluster=True,
              disks={"/dev/mapper/censhare_data": 64})
    lab.up()
    lab.exec("n1", ["ssh", "-o", "BatchMode=yes", "n2", "hostname"]).stdout  # "n2\\n"
    lab.kill("n2"); lab.start("n2"); lab.partition("n3"); lab.heal("n3")
    lab.down()

Layout of the workdir: nodes/NODE/{upper,work,root} (overlayfs over the shared read-only
lower root of rootfs.py), ssh/ (lab keys), cluster/ (authkey, cib.xml), disks/ (images),
logs/NODE.console (the node's console), state.json (what `python -m lab` commands of
other processes need to find a running lab).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import s2s_sd
from lab import host, nodefiles, rootfs
from lab.backend import SSH_OPTIONS, quorate_online_nodes
from lab.errors import LabError
from lab.topology import CLIENT_ADDRESS, NODE_NAMES, node_address, prefixed
from s2s_sd.errors import OperationFailed
from s2s_sd.run import Result, run, spawn

DEFAULT_WORKDIR = Path("/var/lib/s2s-sd-lab")
WORKDIR_ENV = "S2S_SD_LAB_DIR"
STATE_FILE = "state.json"
LAUNCHER = Path(__file__).with_name("launcher.py")
# Commands run in a node see a clean environment, as after a login, not pytest's.
NODE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}
HOST_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "nsenter": "util-linux",
    "losetup": "mount",
    "ip": "iproute2",
    "debootstrap": "debootstrap",
    "zstd": "zstd",
    "tar": "tar",
    "mkfs.ext4": "e2fsprogs",
    "ssh-keygen": "openssh-client",
    "systemctl": "systemd",
}
CLUSTER_HOST_TOOLS = {
    "corosync-keygen": "corosync",
    "cibadmin": "pacemaker-cli-utils",
    "crm_attribute": "pacemaker-cli-utils",
}
SETTLED_STATES = ("running", "degraded")


def default_workdir() -> Path:
    return Path(os.environ.get(WORKDIR_ENV) or DEFAULT_WORKDIR)


def default_repo() -> Path:
    """The checkout whose s2s-sd the nodes run: the one this lab code was imported with."""
    return Path(s2s_sd.__file__).resolve().parents[1]


@dataclass(frozen=True)
class UpReport:
    rootfs: rootfs.RootfsReport
    boot_seconds: float  # from the first nspawn start to every node settled
    total_seconds: float


@dataclass(frozen=True)
class NodeStatus:
    node: str
    address: str
    running: bool
    leader_pid: int | None
    state: str  # `systemctl is-system-running`, or "stopped"
    partitioned: bool


class Lab:
    """A lab of systemd-nspawn nodes n1..nN. At most one is up per machine (fixed names)."""

    def __init__(
        self,
        workdir: Path | str | None = None,
        nodes: Sequence[str] = NODE_NAMES,
        *,
        cluster: bool = False,
        disks: Mapping[str, int] | None = None,
        repo: Path | None = None,
        package: Path | None = None,
        boot_timeout: float = 120.0,
    ) -> None:
        self.workdir = Path(workdir) if workdir is not None else default_workdir()
        self.nodes = tuple(nodes)
        for node in self.nodes:
            node_address(node)  # rejects names that are not n1, n2, ...
        self.cluster = cluster
        self.disks = dict(disks or {})
        self.repo = repo or default_repo()
        # package mode: the nodes run the built .deb (/usr/bin/s2s-sd, installed with apt)
        # instead of the repo's venv; the repo stays bind-mounted for examples and tests
        self.package = Path(package).resolve() if package is not None else None
        self.boot_timeout = boot_timeout
        self.bridge_netns = host.BRIDGE_NETNS
        self.client_netns = host.CLIENT_NETNS
        self.client_address = CLIENT_ADDRESS
        self.disk_devices: dict[str, str] = {}  # in-node path -> host loop device
        self._launchers: dict[str, int] = {}  # node -> nspawn pid
        self._children: dict[str, subprocess.Popen[bytes]] = {}  # launched by this process
        self._lower: Path | None = None

    # --- life cycle --------------------------------------------------------------------

    def up(self) -> UpReport:
        """Build (or reuse) the root, boot every node, wait until all are settled."""
        started = time.monotonic()
        self.check_host()
        self.down()  # whatever a crashed run left behind, and our own previous state
        try:
            report = rootfs.ensure_lower_root(log=self.workdir / "logs/debootstrap.log")
            self._lower = report.path
            self._prepare()
            boot_started = time.monotonic()
            for node in self.nodes:
                self._launch(node)
            self._save_state()
            for node in self.nodes:
                self.wait_running(node, timeout=self.boot_timeout)
            self._install_package()
            if self.cluster:
                self.wait_quorum()
            return UpReport(report, time.monotonic() - boot_started,
                            time.monotonic() - started)
        except BaseException:
            # A half-built lab is useless and holds loop devices and mounts: remove it.
            with contextlib.suppress(Exception):
                self.down()
            raise

    def down(self) -> None:
        """Remove the lab, and anything any earlier lab left on this host."""
        for node in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                self._children[node].kill()
        host.clean_host()
        for child in self._children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        self._children.clear()
        self._launchers.clear()
        self.disk_devices.clear()
        for transient in ("nodes", "disks", "cluster", "ssh", STATE_FILE):
            path = self.workdir / transient
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    @classmethod
    def attach(cls, workdir: Path | str | None = None) -> Lab:
        """The lab a `python -m lab up` of another process started in `workdir`."""
        directory = Path(workdir) if workdir is not None else default_workdir()
        try:
            state = json.loads((directory / STATE_FILE).read_text())
        except FileNotFoundError:
            raise LabError(f"no lab is up in {directory} (no {STATE_FILE})") from None
        package = state.get("package")
        lab = cls(directory, state["nodes"], cluster=state["cluster"],
                  disks=state["disk_sizes"], repo=Path(state["repo"]),
                  package=Path(package) if package else None)
        lab.disk_devices = dict(state["disk_devices"])
        lab._launchers = {n: int(p) for n, p in state["launchers"].items()}
        lab._lower = Path(state["lower"])
        return lab

    def check_host(self) -> None:
        """Fail early, with the fix, when this machine cannot run the lab."""
        problems = []
        if os.geteuid() != 0:
            problems.append("the lab needs root (network namespaces, mounts, nspawn)")
        tools = dict(HOST_TOOLS, **(CLUSTER_HOST_TOOLS if self.cluster else {}))
        missing = {tool: pkg for tool, pkg in tools.items() if shutil.which(tool) is None}
        if missing:
            problems.append(
                f"missing tools {', '.join(sorted(missing))}: "
                f"apt-get install {' '.join(sorted(set(missing.values())))} "
                "(scripts/setup test installs them)"
            )
        if self.package is not None:
            if not self.package.is_file() or self.package.suffix != ".deb":
                problems.append(f"{self.package}: no such .deb (make deb builds it)")
        elif not (self.repo / ".venv/bin/s2s-sd").is_file():
            problems.append(f"{self.repo}/.venv/bin/s2s-sd missing: run scripts/setup test")
        if not host.cgroup_hierarchies():
            problems.append("no cgroup2 hierarchy under /sys/fs/cgroup")
        if problems:
            raise LabError("the lab cannot come up here: " + "; ".join(problems))

    # --- building the nodes ------------------------------------------------------------

    def _node_dir(self, node: str) -> Path:
        return self.workdir / "nodes" / node

    def root(self, node: str) -> Path:
        """The node's root as the host sees it (the overlay mount): for reading files."""
        return self._node_dir(node) / "root"

    def _prepare(self) -> None:
        assert self._lower is not None
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        host.create_networks(prefixed(CLIENT_ADDRESS), nodefiles.hosts_file(self.nodes))
        keys = nodefiles.make_ssh_keys(self.workdir / "ssh", self.nodes)
        authkey, cib = b"", ""
        if self.cluster:
            cluster_dir = self.workdir / "cluster"
            cluster_dir.mkdir(parents=True, exist_ok=True)
            authkey = nodefiles.make_authkey(cluster_dir / "authkey")
            cib = nodefiles.make_lab_cib(cluster_dir / "cib.xml")
        self._make_disks()
        if self.package is None:
            nodefiles.compile_s2s_sd(self.repo)
        for node in self.nodes:
            directory = self._node_dir(node)
            for part in ("upper", "work", "root"):
                (directory / part).mkdir(parents=True, exist_ok=True)
            run(["mount", "-t", "overlay", host.TAG, "-o",
                 f"lowerdir={self._lower},upperdir={directory / 'upper'},"
                 f"workdir={directory / 'work'}", str(self.root(node))])
            root = self.root(node)
            nodefiles.write_identity(root, node, self.nodes)
            nodefiles.write_network(root, node)
            nodefiles.write_ssh(root, node, keys)
            if self.package is not None:
                nodefiles.stage_package(root, self.package)
            else:
                nodefiles.install_s2s_sd(root, self.repo)
            if self.cluster:
                nodefiles.write_cluster(root, self.nodes, authkey, cib)

    def _install_package(self) -> None:
        """Package mode: apt installs the staged .deb on every node (its maintainer
        scripts need the node's own systemd: tmpfiles, byte-compiling)."""
        if self.package is None:
            return
        in_node = f"/{nodefiles.PACKAGE_DIR}/{self.package.name}"
        for node in self.nodes:
            result = self.exec(node, nodefiles.install_package_argv(in_node), check=False,
                               timeout=300)
            if not result.ok:
                raise LabError(f"{node}: apt-get install {in_node} failed:\n"
                               f"{(result.stdout + result.stderr).strip()[-2000:]}")

    def _make_disks(self) -> None:
        directory = self.workdir / "disks"
        directory.mkdir(parents=True, exist_ok=True)
        for in_node_path, size_mb in sorted(self.disks.items()):
            if not in_node_path.startswith("/dev/"):
                raise LabError(f"a shared disk lives under /dev in the nodes: {in_node_path}")
            slug = in_node_path.strip("/").replace("/", "_")
            image = directory / f"{host.DISK_IMAGE_PREFIX}{slug}.img"
            with image.open("wb") as handle:
                handle.truncate(size_mb * 1024 * 1024)
            # The label makes /dev/disk/by-label-style definitions testable too.
            label = Path(in_node_path).name[:16]
            run(["mkfs.ext4", "-q", "-F", "-L", label, str(image)])
            device = run(["losetup", "--find", "--show", str(image)]).stdout.strip()
            self.disk_devices[in_node_path] = device

    def _launch(self, node: str) -> None:
        host.remove_propagate_dir(node)
        for cgroup in host.node_cgroups(node):
            host.kill_cgroup_tree(cgroup)  # a stale one from a killed node
        argv = [
            sys.executable, str(LAUNCHER),
            *[arg for cg in host.node_cgroups(node) for arg in ("--cgroup", str(cg))],
            "--",
            # `ip netns exec` would remount /sys and break nspawn's cgroup detection.
            "nsenter", f"--net={host.NETNS_DIR / host.BRIDGE_NETNS}",
            "systemd-nspawn", "--quiet", "--boot",
            f"--directory={self.root(node)}",
            f"--machine={host.machine_name(node)}", f"--hostname={node}",
            # No D-Bus or machined on the host: nspawn must not try to register.
            "--register=no", "--keep-unit",
            "--console=read-only", "--link-journal=no",
            f"--network-bridge={host.BRIDGE}",
            f"--bind-ro={self.repo}",
            *[f"--bind={dev}:{path}" for path, dev in sorted(self.disk_devices.items())],
        ]
        log = (self.workdir / "logs" / f"{node}.console").open("ab")
        try:
            child = spawn(argv, stdout=log.fileno(), stderr=subprocess.STDOUT)
        finally:
            log.close()
        self._children[node] = child
        self._launchers[node] = child.pid

    def _save_state(self) -> None:
        state = {
            "nodes": list(self.nodes),
            "cluster": self.cluster,
            "disk_sizes": self.disks,
            "disk_devices": self.disk_devices,
            "repo": str(self.repo),
            "package": str(self.package) if self.package is not None else None,
            "lower": str(self._lower),
            "launchers": self._launchers,
        }
        (self.workdir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    # --- node processes ----------------------------------------------------------------

    def _launcher_alive(self, node: str) -> bool:
        child = self._children.get(node)
        if child is not None:
            return child.poll() is None
        pid = self._launchers.get(node)
        return pid is not None and host.alive(pid)

    def is_running(self, node: str) -> bool:
        """The node's nspawn runs and has a PID 1 (it may still be booting)."""
        return self._launcher_alive(node) and self._find_leader(node) is not None

    def _find_leader(self, node: str) -> int | None:
        pid = self._launchers.get(node)
        if pid is None:
            return None
        for child in host.children(pid):
            if child.comm == "systemd" and child.state not in ("Z", "X"):
                return child.pid
        return None

    def leader_pid(self, node: str) -> int:
        """The host PID of the node's PID 1 (for nsenter, /proc/PID/ns/net, pystemd)."""
        self._check_node(node)
        leader = self._find_leader(node)
        if leader is None:
            raise LabError(f"{node} is not running")
        return leader

    def _check_node(self, node: str) -> None:
        if node not in self.nodes:
            raise LabError(f"no node {node!r} in this lab (nodes: {', '.join(self.nodes)})")

    def address(self, node: str) -> str:
        self._check_node(node)
        return node_address(node)

    def console_log(self, node: str, lines: int = 40) -> str:
        path = self.workdir / "logs" / f"{node}.console"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- running commands --------------------------------------------------------------

    def exec(
        self,
        node: str,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> Result:
        """Run argv in the node, in all its namespaces, as root with a login-like env."""
        leader = self.leader_pid(node)
        return run(["nsenter", f"--target={leader}", "--all", *argv],
                   input=input, check=check, timeout=timeout, env=NODE_ENV)

    def client(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> Result:
        """Run argv on the host in the client namespace (CLIENT_ADDRESS on the bridge)."""
        return run(["ip", "netns", "exec", self.client_netns, *argv],
                   input=input, check=check, timeout=timeout)

    def ssh(self, source: str, target: str, argv: Sequence[str], *, check: bool = True,
            timeout: float = 60.0) -> Result:
        """Run argv on `target` over OpenSSH from `source`, as s2s-sd's transport does."""
        return self.exec(
            source,
            # ssh hands the remote shell one string: quote so argv arrives unchanged.
            ["ssh", *SSH_OPTIONS, target, shlex.join(argv)],
            check=check, timeout=timeout,
        )

    # --- waiting -----------------------------------------------------------------------

    def system_state(self, node: str) -> str:
        if not self.is_running(node):
            return "stopped"
        result = self.exec(node, ["systemctl", "is-system-running"], check=False, timeout=30)
        return result.stdout.strip() or "unknown"

    def failed_units(self, node: str) -> list[str]:
        result = self.exec(node, ["systemctl", "list-units", "--failed", "--plain",
                                  "--no-legend", "--no-pager"], check=False)
        return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]

    def wait_running(self, node: str, timeout: float = 120.0) -> str:
        """Wait until the node finished booting and has its address; return the state
        ("running", or "degraded" when some unit failed: see failed_units)."""
        self._check_node(node)
        deadline = time.monotonic() + timeout
        state = "stopped"
        while time.monotonic() < deadline:
            if not self._launcher_alive(node):
                raise LabError(f"{node}'s nspawn exited while booting:\n{self.console_log(node)}")
            if self._find_leader(node) is not None:
                with contextlib.suppress(OperationFailed):
                    state = self.system_state(node)
                    if state in SETTLED_STATES and self._has_address(node):
                        return state
            time.sleep(0.1)
        raise LabError(f"{node} did not finish booting within {timeout:.0f} s "
                       f"(state {state}):\n{self.console_log(node)}")

    def _has_address(self, node: str) -> bool:
        result = self.exec(node, ["ip", "-4", "-o", "addr", "show", "dev", "host0"],
                           check=False, timeout=10)
        return f" {prefixed(node_address(node))} " in result.stdout

    def wait_quorum(self, nodes: Sequence[str] | None = None, timeout: float = 120.0) -> str:
        """Wait until Pacemaker has a DC, quorum, and `nodes` (default: every running
        node) online; return `crm_mon -1` as text."""
        expected = set(nodes) if nodes is not None else {
            n for n in self.nodes if self.is_running(n)
        }
        if not expected:
            raise LabError("no running node to ask for quorum")
        asked = sorted(expected)[0]
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            result = self.exec(asked, ["crm_mon", "-1", "--output-as=xml"], check=False,
                               timeout=30)
            last = result.stdout + result.stderr
            if result.ok and expected <= quorate_online_nodes(result.stdout):
                return self.exec(asked, ["crm_mon", "-1"]).stdout
            time.sleep(0.5)
        raise LabError(f"no quorum with {sorted(expected)} online within {timeout:.0f} s:\n"
                       f"{last}")

    # --- faults ------------------------------------------------------------------------

    def stop(self, node: str, timeout: float = 60.0) -> None:
        """Clean poweroff (systemd stops every unit), falling back to SIGTERM, SIGKILL."""
        self._check_node(node)
        if self.is_running(node):
            # The node may drop the connection as it goes down: the exit status says little.
            with contextlib.suppress(OperationFailed):
                self.exec(node, ["systemctl", "poweroff", "--no-block"], check=False,
                          timeout=30)
            if not self._wait_launcher_exit(node, timeout):
                pid = self._launchers[node]
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)  # nspawn asks PID 1 to power off
                self._wait_launcher_exit(node, 10)
        self._forget_node_process(node)

    def kill(self, node: str) -> None:
        """Hard crash: SIGKILL the node's PID 1 (its nspawn then exits on its own)."""
        leader = self.leader_pid(node)
        os.kill(leader, signal.SIGKILL)
        if not self._wait_launcher_exit(node, 15):
            raise LabError(f"{node}'s nspawn survived the death of its PID 1")
        self._forget_node_process(node)

    def start(self, node: str, *, wait: bool = True) -> str:
        """Boot a stopped or killed node again on the same root (its overlay is kept)."""
        self._check_node(node)
        if self.is_running(node):
            raise LabError(f"{node} is already running")
        self._forget_node_process(node)
        self._launch(node)
        self._save_state()
        return self.wait_running(node, timeout=self.boot_timeout) if wait else "starting"

    def _wait_launcher_exit(self, node: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._launcher_alive(node):
                return True
            time.sleep(0.05)
        return False

    def _forget_node_process(self, node: str) -> None:
        """After a node's nspawn ended (or to end it): its cgroups and nspawn leftovers."""
        for cgroup in host.node_cgroups(node):
            host.kill_cgroup_tree(cgroup)
        child = self._children.pop(node, None)
        if child is not None:
            child.wait(timeout=10)
        self._launchers.pop(node, None)
        host.remove_propagate_dir(node)

    def partition(self, node: str) -> None:
        """Cut the node off the lab network: its bridge port goes down (the node keeps its
        address, as behind a failed switch port)."""
        self._check_node(node)
        host.set_link(host.bridge_port(node), up=False)

    def heal(self, node: str) -> None:
        self._check_node(node)
        host.set_link(host.bridge_port(node), up=True)

    def is_partitioned(self, node: str) -> bool:
        port = host.bridge_port(node)
        return port in host.bridge_ports() and not host.link_is_up(port)

    # --- overview ----------------------------------------------------------------------

    def status(self) -> list[NodeStatus]:
        found = []
        for node in self.nodes:
            running = self.is_running(node)
            found.append(NodeStatus(
                node=node,
                address=node_address(node),
                running=running,
                leader_pid=self._find_leader(node) if running else None,
                state=self.system_state(node) if running else "stopped",
                partitioned=running and self.is_partitioned(node),
            ))
        return found

