"""issue 11 items 21, 22 at run time: `vip up` adopts and `vip down` removes only what
s2s-sd added (unless --force); a --netns that is no namespace file is refused without
waiting; the hosts file is written through a symlink, and a line mapping the alias with
another name (ASCII or not) is refused. Real namespaces, real files, the real command."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from s2s_sd.engines.net import hosts_file
from s2s_sd.engines.net.migrate_note import migrate_note_fresh, write_migrate_note
from s2s_sd.engines.net.ops import vip_down, vip_up
from s2s_sd.engines.net.vip import Announce, make_vip
from s2s_sd.errors import Refused
from tests.netns.netns_lab import Lab

pytestmark = pytest.mark.netns

ALIAS = "oracle_c07"


def addresses(segment: Lab) -> str:
    return segment.host1.ip("addr", "show", "dev", "eth0")


@pytest.mark.parametrize("command", ["up", "down"])
@pytest.mark.parametrize("family", [4, 6])
def test_the_primary_address_is_neither_adopted_nor_removed(
        segment: Lab, command: str, family: int) -> None:
    """A VIP typo equal to the interface's own address must not take the host off the net."""
    own = f"{segment.host1.ipv4}/24" if family == 4 else f"{segment.host1.ipv6}/64"
    before = addresses(segment)

    result = segment.host1.s2s_sd("vip", command, own, "--count", "0") if command == "up" \
        else segment.host1.s2s_sd("vip", command, own)

    assert result.returncode == 3, (result.stdout, result.stderr)
    assert f"{own} on eth0 was not added by s2s-sd" in result.stderr
    assert "--force" in result.stderr
    assert addresses(segment) == before
    assert segment.client.pings(own.split("/")[0])


def test_a_hand_made_address_needs_force(segment: Lab) -> None:
    segment.host1.ip("addr", "add", "10.77.0.60/24", "dev", "eth0")  # label eth0, not ours

    refused = segment.host1.s2s_sd("vip", "down", "10.77.0.60/24")
    assert refused.returncode == 3
    assert "its label is eth0, s2s-sd's would be eth0:vip" in refused.stderr
    assert "10.77.0.60/24" in addresses(segment)

    forced = segment.host1.s2s_sd("vip", "down", "10.77.0.60/24", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "10.77.0.60" not in addresses(segment)


def test_ours_under_another_label_is_named_and_removed_with_that_label(segment: Lab) -> None:
    assert segment.host1.s2s_sd("vip", "up", "10.77.0.61/24", "--label", "ora",
                                "--count", "0").returncode == 0

    plain = segment.host1.s2s_sd("vip", "down", "10.77.0.61/24")
    assert plain.returncode == 3
    assert "its label is eth0:ora" in plain.stderr

    again = segment.host1.s2s_sd("vip", "up", "10.77.0.61/24", "--label", "ora", "--count", "0")
    assert again.returncode == 0 and "already up" in again.stdout
    assert segment.host1.s2s_sd("vip", "down", "10.77.0.61/24", "--label", "ora").returncode == 0
    assert "10.77.0.61" not in addresses(segment)


def test_ipv6_vip_carries_the_mark_and_a_hand_made_one_is_refused(segment: Lab) -> None:
    segment.host1.ip("-6", "addr", "add", "fd77::60/64", "dev", "eth0", "nodad")

    refused = segment.host1.s2s_sd("vip", "up", "fd77::60/64", "--count", "0")
    assert refused.returncode == 3
    assert "address protocol" in refused.stderr

    assert segment.host1.s2s_sd("vip", "up", "fd77::61/64", "--count", "0").returncode == 0
    assert segment.host1.s2s_sd("vip", "up", "fd77::61/64", "--count", "0").returncode == 0
    assert segment.host1.s2s_sd("vip", "down", "fd77::61/64").returncode == 0
    assert "fd77::61" not in segment.host1.ip("-6", "addr", "show", "dev", "eth0")
    assert "fd77::60" in segment.host1.ip("-6", "addr", "show", "dev", "eth0")


@pytest.mark.parametrize("kind", ["fifo", "directory", "socket-less file"])
def test_netns_that_is_no_namespace_is_refused_without_waiting(
        segment: Lab, tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ns"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_text("")
    started = time.monotonic()

    result = segment.host1.s2s_sd("vip", "up", "10.77.0.62/24", "--netns", str(path))

    assert result.returncode == 2, result.stderr
    assert "is not a network namespace" in result.stderr
    assert time.monotonic() - started < 30


# -- the hosts file ----------------------------------------------------------------------------

ORIGINAL = b"127.0.0.1\tlocalhost\n10.77.0.99 db\n"


@pytest.mark.parametrize("other", [b"\xc3\xa4rger", b"legacy", b"\xe4\xf6", b"\xe2\x84\xaaube"])
def test_alias_beside_any_other_name_is_refused(segment: Lab, tmp_path: Path,
                                                other: bytes) -> None:
    """issue 11 item 21: a non-ASCII neighbour made the line invisible, and s2s-sd's own
    line went after it, so the old address still resolved first."""
    hosts = tmp_path / "hosts"
    hosts.write_bytes(ORIGINAL + b"10.77.0.9 " + ALIAS.encode() + b" " + other + b"\n")
    before = hosts.read_bytes()

    result = segment.host1.s2s_sd("vip", "up", "10.77.0.63/24", "--alias", ALIAS,
                                  "--hosts-file", str(hosts), "--count", "0")

    assert result.returncode == 3, result.stderr
    assert f"{hosts}:3" in result.stderr
    assert "Traceback" not in result.stderr
    assert hosts.read_bytes() == before
    assert "10.77.0.63" not in addresses(segment)


def test_alias_case_folded_like_the_resolver(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    # KELVIN SIGN lowercases to 'k' in Python, never in the resolver: not our name
    hosts.write_bytes(ORIGINAL + "10.77.0.9 \u212aube_c07\n".encode())
    assert hosts_file.set_alias(hosts, "kube_c07", "10.77.0.64").changed
    assert hosts.read_bytes().endswith(b"10.77.0.64\tkube_c07\t# s2s-sd vip\n")
    # ASCII case differences are the same name
    hosts.write_bytes(ORIGINAL + b"10.77.0.9 ORACLE_C07 other\n")
    with pytest.raises(Refused):
        hosts_file.set_alias(hosts, ALIAS, "10.77.0.64")


def test_symlinked_hosts_file_is_written_through_the_link(segment: Lab, tmp_path: Path) -> None:
    managed = tmp_path / "managed"
    managed.mkdir()
    target = managed / "hosts.real"
    target.write_bytes(ORIGINAL)
    target.chmod(0o644)
    link = tmp_path / "hosts"
    link.symlink_to(os.path.relpath(target, tmp_path))

    up = segment.host1.s2s_sd("vip", "up", "10.77.0.65/24", "--alias", ALIAS,
                              "--hosts-file", str(link), "--count", "0")

    assert up.returncode == 0, up.stderr
    assert link.is_symlink() and link.resolve() == target
    assert target.read_bytes() == ORIGINAL + b"10.77.0.65\t" + ALIAS.encode() + b"\t# s2s-sd vip\n"
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in managed.iterdir()] == ["hosts.real"]  # replaced in its directory
    down = segment.host1.s2s_sd("vip", "down", "10.77.0.65/24", "--alias", ALIAS,
                                "--hosts-file", str(link))
    assert down.returncode == 0, down.stderr
    assert link.is_symlink() and target.read_bytes() == ORIGINAL


@pytest.mark.parametrize("kind", ["dangling", "fifo"])
def test_hosts_file_that_cannot_be_one_is_refused(segment: Lab, tmp_path: Path,
                                                   kind: str) -> None:
    hosts = tmp_path / "hosts"
    if kind == "dangling":
        hosts.symlink_to(tmp_path / "gone")
    else:
        os.mkfifo(hosts)
    started = time.monotonic()

    result = segment.host1.s2s_sd("vip", "up", "10.77.0.66/24", "--alias", ALIAS,
                                  "--hosts-file", str(hosts), "--count", "0")

    assert result.returncode == 3, result.stderr
    assert ("does not exist" if kind == "dangling" else "not a regular file") in result.stderr
    assert time.monotonic() - started < 30
    assert "10.77.0.66" not in addresses(segment)
    assert hosts.is_symlink() if kind == "dangling" else hosts.is_fifo()


def test_a_migration_takes_over_the_clusters_address(segment: Lab, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """migrate --to systemd: IPaddr2 added the group's VIP without s2s-sd's label; the
    group form of `vip up` takes it over (re-added at once, labelled) only while the
    migration's note is fresh, and the group's stop can then remove it."""
    from dataclasses import replace


    monkeypatch.setenv("S2S_SD_RUNDIR", str(tmp_path / "run"))
    segment.host1.ip("addr", "add", "10.77.0.62/24", "dev", "eth0")  # as IPaddr2 adds it
    vip = replace(make_vip("10.77.0.62/24"), label="ora", label_may_shorten=True,
                  owner="ora.vip")
    quiet = Announce(0, 0.0)
    assert not migrate_note_fresh()
    with pytest.raises(Refused, match="was not added by s2s-sd"):
        vip_up(vip, netns=segment.host1.path, announce=quiet,
               take_over=migrate_note_fresh())
    write_migrate_note()
    assert migrate_note_fresh()
    result = vip_up(vip, netns=segment.host1.path, announce=quiet,
                    take_over=migrate_note_fresh())
    assert (result.action, result.label) == ("added", "eth0:ora")
    assert "eth0:ora" in addresses(segment)
    assert segment.client.pings("10.77.0.62")
    assert vip_down(vip, netns=segment.host1.path).action == "removed"
    assert "10.77.0.62" not in addresses(segment)
