"""The /etc/hosts alias that follows a VIP: exact bytes, atomic, serialised writers."""

from __future__ import annotations

import multiprocessing
import os
import stat
import sys
from pathlib import Path

import pytest

from s2s_sd.engines.net import hosts_file
from s2s_sd.engines.net.ops import vip_down, vip_status, vip_up
from s2s_sd.engines.net.vip import Announce, make_vip
from s2s_sd.errors import Refused
from s2s_sd.run import run
from tests.netns.netns_lab import Lab

pytestmark = pytest.mark.netns

# Everything a real hosts file may hold: comments, tabs and runs of spaces, blank
# lines, IPv6, several names per line, bytes that are not UTF-8, a CR before a LF.
ORIGINAL = (
    b"# /etc/hosts of a test node\n"
    b"127.0.0.1\tlocalhost\n"
    b"127.0.1.1   node1.example.org    node1\n"
    b"\n"
    b"::1     localhost ip6-localhost ip6-loopback\n"
    b"ff02::1 ip6-allnodes\n"
    b"  # indented comment with trailing spaces   \n"
    b"10.77.0.99 db.example.org db  # comment \xe4\xf6 latin-1\n"
    b"192.0.2.7\twindows-line\r\n"
    b"10.77.0.98\tlast-line-without-comment\n"
)


@pytest.fixture
def hosts(tmp_path: Path) -> Path:
    path = tmp_path / "hosts"
    path.write_bytes(ORIGINAL)
    path.chmod(0o644)
    return path


def test_alias_added_and_removed_leaving_every_other_byte(segment: Lab, hosts: Path) -> None:
    vip = make_vip("10.77.0.50/24", hostname="oracle_c07")

    up = vip_up(vip, netns=segment.host1.path, hosts=hosts, announce=Announce(0))

    assert up.hosts_file_changed
    assert hosts.read_bytes() == ORIGINAL + b"10.77.0.50\toracle_c07\t# s2s-sd vip\n"
    assert stat.S_IMODE(hosts.stat().st_mode) == 0o644
    assert vip_status(vip, netns=segment.host1.path, hosts=hosts).hostname_addresses == (
        "10.77.0.50",)
    again = vip_up(vip, netns=segment.host1.path, hosts=hosts, announce=Announce(0))
    assert not again.hosts_file_changed

    down = vip_down(vip, netns=segment.host1.path, hosts=hosts)

    assert down.hosts_file_changed
    assert hosts.read_bytes() == ORIGINAL
    assert not vip_down(vip, netns=segment.host1.path, hosts=hosts).hosts_file_changed
    leftovers = [p.name for p in hosts.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_alias_follows_a_changed_address_in_place(hosts: Path) -> None:
    hosts.write_bytes(ORIGINAL + b"10.77.0.40 www_c07\n" + b"127.0.0.2 tail\n")

    assert hosts_file.set_alias(hosts, "www_c07", "10.77.0.41").changed

    assert hosts.read_bytes() == (
        ORIGINAL + b"10.77.0.41\twww_c07\t# s2s-sd vip\n" + b"127.0.0.2 tail\n")


def test_alias_shared_with_other_names_is_refused_before_any_change(
    segment: Lab, hosts: Path
) -> None:
    hosts.write_bytes(ORIGINAL + b"10.77.0.9 oracle_c07 legacy-name\n")
    before = hosts.read_bytes()
    vip = make_vip("10.77.0.50/24", hostname="oracle_c07")

    with pytest.raises(Refused, match=r"hosts:11"):
        vip_up(vip, netns=segment.host1.path, hosts=hosts)

    assert hosts.read_bytes() == before
    assert not vip_status(vip, netns=segment.host1.path).present
    # down must still work (a group has to be stoppable), and leaves that line alone
    down = vip_down(vip, netns=segment.host1.path, hosts=hosts)
    assert hosts.read_bytes() == before
    assert down.warnings and "hosts:11" in down.warnings[0]


def _add_names(path: str, writer: int, count: int) -> None:
    for number in range(count):
        hosts_file.set_alias(Path(path), f"w{writer}_n{number}", f"10.77.{writer}.{number}")


def test_concurrent_writers_lose_no_line(hosts: Path) -> None:
    writers, names = 4, 40
    context = multiprocessing.get_context("fork")
    processes = [context.Process(target=_add_names, args=(str(hosts), w, names))
                 for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    data = hosts.read_bytes()
    assert data.startswith(ORIGINAL)
    added = data[len(ORIGINAL):].splitlines()
    expected = {f"10.77.{w}.{n}\tw{w}_n{n}\t# s2s-sd vip".encode()
                for w in range(writers) for n in range(names)}
    assert len(added) == writers * names
    assert set(added) == expected


def test_bind_mounted_hosts_file_is_rewritten_in_place(hosts: Path, tmp_path: Path) -> None:
    """Containers bind-mount /etc/hosts: rename cannot replace it, so write in place.

    Runs in a private mount namespace (unshare -m), so the bind mount never leaks out.
    """
    source = tmp_path / "hosts.source"
    source.write_bytes(ORIGINAL)
    script = (
        "import sys; from pathlib import Path; from s2s_sd.engines.net import hosts_file; "
        "from s2s_sd.run import run; "
        "run(['mount', '--bind', sys.argv[1], sys.argv[2]]); "
        "print(hosts_file.set_alias(Path(sys.argv[2]), 'web_c07', '10.77.0.80').changed)"
    )

    result = run(["unshare", "--mount", "--propagation", "private", sys.executable, "-c",
                  script, str(source), str(hosts)], check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
    assert source.read_bytes() == ORIGINAL + b"10.77.0.80\tweb_c07\t# s2s-sd vip\n"
    assert hosts.read_bytes() == ORIGINAL  # the mount point itself was never touched


def test_lock_file_sits_next_to_the_hosts_file(hosts: Path) -> None:
    hosts_file.set_alias(hosts, "x_c07", "10.77.0.5")
    assert hosts_file.lock_path(hosts).exists()
    assert hosts_file.lock_path(hosts).parent == hosts.parent
    assert os.stat(hosts).st_ino != os.stat(hosts_file.lock_path(hosts)).st_ino
