"""`python -m lab up|down|status|exec|ssh|client|stop|kill|start|partition|heal`.

Run from the repository root with the repo's venv, as root:

    .venv/bin/python -m lab up --cluster
    .venv/bin/python -m lab exec n1 -- crm_mon -1
    .venv/bin/python -m lab down

`--backend vagrant` sends exec/ssh/stop/start/kill/partition/heal/status to the boxes of
vagrant/ (through `vagrant ssh`) instead of nspawn nodes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lab import host
from lab.errors import LabError
from lab.nspawn import Lab, default_workdir
from lab.topology import node_names
from lab.vagrant import VagrantLab
from s2s_sd.errors import CommandFailed, S2SError


def _disk(spec: str) -> tuple[str, int]:
    path, _, size = spec.rpartition(":")
    if not path or not size.isdigit():
        raise argparse.ArgumentTypeError(f"expected IN_NODE_PATH:SIZE_MB, got {spec!r}")
    return path, int(size)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m lab", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--workdir", type=Path, default=None,
                     help=f"lab state and node overlays (default {default_workdir()}, "
                          "env S2S_SD_LAB_DIR)")
    top.add_argument("--backend", choices=("nspawn", "vagrant"), default="nspawn")
    commands = top.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="boot the nodes (tears down any previous lab first)")
    up.add_argument("--nodes", type=int, default=3, help="number of nodes n1..nN (default 3)")
    up.add_argument("--cluster", action="store_true",
                    help="corosync + Pacemaker over the nodes, waits for quorum")
    up.add_argument("--disk", type=_disk, action="append", default=[],
                    metavar="IN_NODE_PATH:SIZE_MB",
                    help="a shared ext4 disk given to every node, e.g. "
                         "/dev/mapper/censhare_data:64")
    up.add_argument("--package", type=Path, default=None, metavar="DEB",
                    help="package mode: the nodes install this s2s-sd .deb with apt "
                         "(e.g. dist/s2s-sd_0.1.0_all.deb from `make deb`) instead of "
                         "running the repo's venv")
    commands.add_parser("down", help="remove the lab and anything an earlier run left behind")
    commands.add_parser("status", help="nodes, their state and leftovers on the host")
    for name, text in (("exec", "run a command in a node"),
                       ("ssh", "run a command on TARGET over OpenSSH from NODE")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("node")
        if name == "ssh":
            sub.add_argument("target")
        sub.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND ARGS...")
    client = commands.add_parser("client", help="run a command in the client netns")
    client.add_argument("argv", nargs=argparse.REMAINDER)
    for name, text in (("stop", "clean poweroff"), ("kill", "kill -9 of the node's PID 1"),
                       ("start", "boot a stopped node again"),
                       ("partition", "cut the node off the network"),
                       ("heal", "reconnect a partitioned node")):
        commands.add_parser(name, help=text).add_argument("node")
    return top


def _command(argv: Sequence[str]) -> list[str]:
    words = list(argv)
    if words[:1] == ["--"]:
        words = words[1:]
    if not words:
        raise LabError("no command given (use: ... -- COMMAND ARGS...)")
    return words


def _print_result(stdout: str, stderr: str) -> None:
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)


def main(args: Sequence[str] | None = None) -> int:
    options = parser().parse_args(args)
    command: str = options.command
    try:
        if options.backend == "vagrant":
            return _vagrant(options, command)
        if command == "up":
            lab = Lab(options.workdir, node_names(options.nodes), cluster=options.cluster,
                      disks=dict(options.disk), package=options.package)
            report = lab.up()
            how = ("built with debootstrap" if report.rootfs.built
                   else "unpacked from the cache" if report.rootfs.extracted else "cached")
            print(f"lab up: {', '.join(lab.nodes)} in {report.total_seconds:.1f} s "
                  f"(root {how} in {report.rootfs.seconds:.1f} s, "
                  f"boot {report.boot_seconds:.1f} s)")
            for path, device in sorted(lab.disk_devices.items()):
                print(f"disk {path} = {device}")
            return 0
        if command == "down":
            Lab(options.workdir).down()
            print("lab down: nothing left on this host")
            return 0
        if command == "status":
            return _status(options.workdir)
        lab = Lab.attach(options.workdir)
        if command == "exec":
            result = lab.exec(options.node, _command(options.argv), check=False)
            _print_result(result.stdout, result.stderr)
            return result.returncode
        if command == "ssh":
            result = lab.ssh(options.node, options.target, _command(options.argv),
                             check=False)
            _print_result(result.stdout, result.stderr)
            return result.returncode
        if command == "client":
            result = lab.client(_command(options.argv), check=False)
            _print_result(result.stdout, result.stderr)
            return result.returncode
        node: str = options.node
        if command == "start":
            print(f"{node}: {lab.start(node)}")
        else:
            {"stop": lab.stop, "kill": lab.kill, "partition": lab.partition,
             "heal": lab.heal}[command](node)
        return 0
    except CommandFailed as exc:
        print(f"lab: {exc}\n{exc.stderr.strip()}", file=sys.stderr)
        return 1
    except (S2SError, ValueError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1


def _status(workdir: Path | None) -> int:
    try:
        lab = Lab.attach(workdir)
    except LabError as exc:
        print(str(exc))
    else:
        mode = "cluster" if lab.cluster else "no cluster"
        print(f"lab in {lab.workdir} ({mode}), client netns {lab.client_netns} "
              f"at {lab.client_address}")
        for status in lab.status():
            pid = status.leader_pid if status.leader_pid is not None else "-"
            cut = " PARTITIONED" if status.partitioned else ""
            print(f"  {status.node:4} {status.address:15} {status.state:10} pid1={pid}{cut}")
        for path, device in sorted(lab.disk_devices.items()):
            print(f"  disk {path} = {device}")
    left = host.leftovers()
    print("host resources of the lab:" if left else "no lab resources on this host")
    for line in left:
        print(f"  {line}")
    return 0


def _vagrant(options: argparse.Namespace, command: str) -> int:
    lab = VagrantLab()
    if command == "up":
        lab.up()
    elif command == "down":
        lab.down()
    elif command == "status":
        for node in lab.nodes:
            print(f"  {node:4} {lab.address(node):15} {lab.system_state(node)}")
    elif command in ("exec", "ssh"):
        argv = _command(options.argv)
        result = (lab.exec(options.node, argv, check=False) if command == "exec"
                  else lab.ssh(options.node, options.target, argv, check=False))
        _print_result(result.stdout, result.stderr)
        return result.returncode
    elif command == "start":
        lab.start(options.node)
    elif command in ("stop", "kill", "partition", "heal"):
        {"stop": lab.stop, "kill": lab.kill, "partition": lab.partition,
         "heal": lab.heal}[command](options.node)
    else:
        raise LabError(f"{command} is not available with the vagrant backend")
    return 0


if __name__ == "__main__":
    sys.exit(main())
