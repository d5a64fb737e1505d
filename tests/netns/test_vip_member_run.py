"""`s2s-sd member run GROUP VIP`, the main process of an ip member's unit, brings the VIP
up in its own process (no `s2s-sd vip up` started): the probe still refuses an address
another host answers for, READY=1 comes only with the address on the interface, the
monitor sees it go, and SIGTERM (systemd's stop of the unit) takes it down in the same
process."""

from __future__ import annotations

import socket
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from s2s_sd import paths
from tests.netns.netns_lab import S2S_SD, Lab, Node

pytestmark = pytest.mark.netns

ADDRESS = "10.77.0.60"
DEFINITIONS = f"""\
[hostgroup]
name  = "c07"
hosts = ["host1", "host2"]

[groups.ora]

  [[groups.ora.services]]
  name    = "vip"
  type    = "ip"
  address = "{ADDRESS}/24"
  monitor_interval = 1
"""


@pytest.fixture
def basedir(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    base.mkdir()
    (base / "s2s.toml").write_text(textwrap.dedent(DEFINITIONS))
    return base


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    """What systemd listens on for a Type=notify service's READY=1."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(30)
    yield sock
    sock.close()


def member_run(node: Node, basedir: Path, notify: socket.socket, run_dir: Path
               ) -> subprocess.Popen[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": notify.getsockname(),
           paths.RUN_DIR.env: str(run_dir)}
    return subprocess.Popen(
        ["ip", "netns", "exec", node.netns, S2S_SD, "--basedir", str(basedir), "member",
         "run", "ora", "vip"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def addresses(node: Node) -> str:
    return node.ip("addr", "show", "dev", "eth0")


def test_the_vip_comes_up_in_the_member_process_and_is_watched(
    segment: Lab, basedir: Path, notify_socket: socket.socket, private_run_dir: Path
) -> None:
    process = member_run(segment.host1, basedir, notify_socket, private_run_dir)
    try:
        ready = notify_socket.recv(4096).decode()
        assert ready.startswith("READY=1"), ready
        assert f"{ADDRESS}/24" in addresses(segment.host1)
        assert "eth0:ora" in addresses(segment.host1)
        assert segment.client.pings(ADDRESS)
        assert process.poll() is None  # the monitor loop
        # the address goes behind its back: the next check (1 s) ends the loop (exit 0
        # here: without its unit in systemd, the member counts as being stopped)
        segment.host1.ip("addr", "del", f"{ADDRESS}/24", "dev", "eth0")
        output, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert f"{ADDRESS}/24 added on eth0 (eth0:ora); announced 5 times in " in output
    assert " s (probe 0." in output  # the journal says where a start's time went


def test_an_address_answered_elsewhere_fails_the_start_and_stays_off(
    segment: Lab, basedir: Path, notify_socket: socket.socket, private_run_dir: Path
) -> None:
    segment.host2.ip("addr", "add", f"{ADDRESS}/24", "dev", "eth0")

    process = member_run(segment.host1, basedir, notify_socket, private_run_dir)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 1, output
    assert f"{ADDRESS} is in use: {segment.host2.mac} answered our ARP probe" in output
    assert "start failed (exit 3)" in output
    assert ADDRESS not in addresses(segment.host1)


def test_sigterm_takes_the_vip_down_without_another_process(
    segment: Lab, basedir: Path, notify_socket: socket.socket, private_run_dir: Path
) -> None:
    process = member_run(segment.host1, basedir, notify_socket, private_run_dir)
    try:
        assert notify_socket.recv(4096).decode().startswith("READY=1")
        assert f"{ADDRESS}/24" in addresses(segment.host1)
        # as systemd stops the unit (no ExecStop=): SIGTERM to the main process
        process.terminate()
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # exit 0: a clean stop, so the unit's ExecStopPost= starts no `vip down`
    assert process.returncode == 0, output
    assert f"{ADDRESS}/24 removed on eth0 (eth0:ora)" in output
    assert ADDRESS not in addresses(segment.host1)
    assert not segment.client.pings(ADDRESS)
