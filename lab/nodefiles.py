"""What makes each node itself: identity, network, OpenSSH trust, the cluster stack.

Everything is written on the host into a node's overlay root before it boots, so a node
comes up complete and nothing depends on commands run inside it during boot.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.topology import CLIENT_ADDRESS, CLUSTER_NAME, node_address, prefixed
from s2s_sd.run import run

NETWORK_FILE = "etc/systemd/network/10-lab-host0.network"


@dataclass(frozen=True)
class SshKeys:
    """The lab's root keypair (shared by all nodes) and every node's own host key."""

    private_key: Path
    public_key: str
    host_keys: Mapping[str, Path]  # node -> private host key; the public one is KEY.pub

    def known_hosts(self) -> str:
        """One line per node, under its name and its address (both are used to connect)."""
        lines = []
        for node, key in sorted(self.host_keys.items()):
            key_type, key_data = Path(f"{key}.pub").read_text().split()[:2]
            lines.append(f"{node},{node_address(node)} {key_type} {key_data}\n")
        return "".join(lines)


def make_ssh_keys(directory: Path, nodes: Sequence[str]) -> SshKeys:
    directory.mkdir(parents=True, exist_ok=True)
    private_key = directory / "id_ed25519"
    _keygen(private_key, "root@s2s-sd-lab")
    host_keys: dict[str, Path] = {}
    for node in nodes:
        host_keys[node] = directory / f"{node}_ssh_host_ed25519_key"
        _keygen(host_keys[node], f"root@{node}")
    return SshKeys(private_key, Path(f"{private_key}.pub").read_text(), host_keys)


def _keygen(path: Path, comment: str) -> None:
    if path.exists():
        return
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def _write(root: Path, relative: str, text: str | bytes, mode: int = 0o644,
           owner: tuple[int, int] = (0, 0)) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        path.unlink()
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    os.chown(path, *owner)
    path.chmod(mode)
    return path


def hosts_file(nodes: Sequence[str]) -> str:
    """/etc/hosts of the nodes and of the client: every lab name resolves everywhere."""
    hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    hosts += [f"{node_address(n)}\t{n}" for n in nodes]
    hosts.append(f"{CLIENT_ADDRESS}\tclient")
    return "\n".join(hosts) + "\n"


def write_identity(root: Path, node: str, nodes: Sequence[str]) -> None:
    _write(root, "etc/hostname", f"{node}\n")
    # A fresh machine-id per node: journald, D-Bus and corosync tell nodes apart by it.
    _write(root, "etc/machine-id", uuid.uuid4().hex + "\n", mode=0o444)
    _write(root, "etc/hosts", hosts_file(nodes))


def write_network(root: Path, node: str) -> None:
    # IgnoreCarrierLoss keeps the static address while the lab partitions the node (its
    # bridge port goes down, so host0 loses carrier): a partition must look like a broken
    # switch, not like a node that lost its configuration.
    _write(root, NETWORK_FILE, (
        "[Match]\nName=host0\n\n"
        f"[Network]\nAddress={prefixed(node_address(node))}\n"
        "ConfigureWithoutCarrier=yes\nIgnoreCarrierLoss=yes\nLinkLocalAddressing=ipv6\n"
    ))


def write_ssh(root: Path, node: str, keys: SshKeys) -> None:
    _write(root, "etc/ssh/ssh_host_ed25519_key", keys.host_keys[node].read_bytes(), 0o600)
    _write(root, "etc/ssh/ssh_host_ed25519_key.pub",
           Path(f"{keys.host_keys[node]}.pub").read_bytes())
    # Only the key the lab made: sshd would otherwise complain about missing RSA/ECDSA keys.
    _write(root, "etc/ssh/sshd_config.d/lab.conf",
           "HostKey /etc/ssh/ssh_host_ed25519_key\nPermitRootLogin prohibit-password\n"
           "UseDNS no\n")
    _write(root, "etc/ssh/ssh_known_hosts", keys.known_hosts())
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    _write(root, "root/.ssh/id_ed25519", keys.private_key.read_bytes(), 0o600)
    _write(root, "root/.ssh/id_ed25519.pub", keys.public_key)
    _write(root, "root/.ssh/authorized_keys", keys.public_key, 0o600)


def compile_s2s_sd(repo: Path) -> None:
    """Byte-compile the working tree's s2s_sd with the venv's python, as the nodes run it.
    They mount the tree read-only: a module whose byte code is missing or older than its
    source (edited or merged since the host last imported it) would be compiled anew by
    every s2s-sd process in every node, 0.06 s more for a move's admin alone and more for
    each agent, which no installed program pays (the package's is compiled at install).
    A module that does not compile is left to fail where it is imported, with its error."""
    run([str(repo / ".venv/bin/python"), "-m", "compileall", "-q", str(repo / "s2s_sd")],
        check=False, timeout=300)


def install_s2s_sd(root: Path, repo: Path) -> None:
    """s2s-sd of the working tree: the repo is bind-mounted read-only at the same path, and
    its venv (made with Debian's python3, like the nodes') runs there unchanged."""
    link = root / "usr/local/bin/s2s-sd"
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(repo / ".venv/bin/s2s-sd")


PACKAGE_DIR = "var/cache/s2s-sd-lab"  # in the node: where the .deb waits for apt


def stage_package(root: Path, package: Path) -> str:
    """Put the built .deb into the node's root (the package mode replaces the venv link);
    return its path inside the node, for `apt-get install` once the node runs."""
    target = root / PACKAGE_DIR / package.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(package.read_bytes())
    return f"/{PACKAGE_DIR}/{package.name}"


def install_package_argv(in_node_path: str) -> list[str]:
    """apt installs a local .deb as an administrator would; every dependency is already in
    the root (rootfs.PACKAGES), so it needs no package lists and no network."""
    return ["apt-get", "install", "-y", "-q", "--no-install-recommends", in_node_path]


def set_units(root: Path, enable: Sequence[str] = (), disable: Sequence[str] = ()) -> None:
    if enable:
        run(["systemctl", f"--root={root}", "--quiet", "enable", *enable])
    if disable:
        run(["systemctl", f"--root={root}", "--quiet", "disable", *disable])


# --- corosync + Pacemaker --------------------------------------------------------------


def corosync_conf(nodes: Sequence[str], cluster_name: str = CLUSTER_NAME) -> str:
    """knet + votequorum over the lab addresses; the same text the Vagrant boxes get."""
    node_blocks = "".join(
        "    node {\n"
        f"        ring0_addr: {node_address(n)}\n"
        f"        name: {n}\n"
        f"        nodeid: {i}\n"
        "    }\n"
        for i, n in enumerate(nodes, start=1)
    )
    two_node = "    two_node: 1\n" if len(nodes) == 2 else ""
    return (
        "totem {\n"
        "    version: 2\n"
        f"    cluster_name: {cluster_name}\n"
        "    transport: knet\n"
        "    crypto_cipher: aes256\n"
        "    crypto_hash: sha256\n"
        "}\n\n"
        f"nodelist {{\n{node_blocks}}}\n\n"
        "quorum {\n"
        "    provider: corosync_votequorum\n"
        f"{two_node}"
        "}\n\n"
        "logging {\n"
        "    to_logfile: yes\n"
        "    logfile: /var/log/corosync/corosync.log\n"
        "    to_syslog: yes\n"
        "    timestamp: on\n"
        "}\n"
    )


def make_authkey(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        run(["corosync-keygen", "-k", str(path)])
    return path.read_bytes()


def make_lab_cib(path: Path) -> str:
    """An empty CIB with the two lab-only settings of LAB-NOTES.md.

    stonith-enabled=false: nspawn nodes have nothing to fence with (never on real hosts).
    dc-deadtime=2s: the first DC is elected in ~6 s instead of ~24 s.
    """
    empty = run(["cibadmin", "--empty"]).stdout
    path.write_text(empty)
    env = {"CIB_file": str(path)}
    for name, value in (("stonith-enabled", "false"), ("dc-deadtime", "2s")):
        run(["crm_attribute", "--type", "crm_config", "--name", name, "--update", value],
            extra_env=env)
    return path.read_text()


def _ids(root: Path, user: str, group: str) -> tuple[int, int]:
    """uid/gid in the node's own /etc/passwd and /etc/group (not the host's)."""
    uid = gid = None
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            uid = int(fields[2])
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == group:
            gid = int(fields[2])
    if uid is None or gid is None:
        raise LabError(f"the node root has no {user}:{group}; is pacemaker installed in it?")
    return uid, gid


def write_cluster(root: Path, nodes: Sequence[str], authkey: bytes, cib: str) -> None:
    _write(root, "etc/corosync/corosync.conf", corosync_conf(nodes))
    _write(root, "etc/corosync/authkey", authkey, 0o400)
    owner = _ids(root, "hacluster", "haclient")
    _write(root, "var/lib/pacemaker/cib/cib.xml", cib, 0o600, owner)
    set_units(root, enable=["corosync.service", "pacemaker.service"])
