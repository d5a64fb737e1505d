"""IPv6 VIP ownership on kernels without IFA_PROTO (Debian 12's 6.1): s2s-sd's record in
RUN_DIR/vips recognises its own addresses. This machine's kernel keeps the protocol, so
the tests add their VIPs with the protocol switched off, as 6.1 would (it ignores the
attribute): only the record can tell. Real namespaces, real files, the real command."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from s2s_sd.engines.net import netlink
from s2s_sd.engines.net import records as vip_records
from s2s_sd.engines.net.netlink import (
    ADDRESS_PROTO,
    kernel_keeps_address_protocol,
    kernel_release_keeps_address_protocol,
)
from s2s_sd.engines.net.ops import vip_down, vip_status, vip_up
from s2s_sd.engines.net.vip import Announce, Vip, VipResult, make_vip, parse_address
from tests.netns.netns_lab import Lab

pytestmark = pytest.mark.netns

QUIET = Announce(count=0)


def address_line(segment: Lab, address: str) -> str | None:
    """`ip -6 addr` line of ADDRESS on host1's eth0 (with its flags and proto), or None."""
    for line in segment.host1.ip("-6", "-o", "addr", "show", "dev", "eth0").splitlines():
        if f" {address} " in line:
            return line
    return None


def kernel_protocol(segment: Lab, address: str) -> int | None:
    """The IFA_PROTO the kernel reports for ADDRESS on host1 (iproute2 6.1 shows none)."""
    from pyroute2 import IPRoute

    with IPRoute(netns=segment.host1.path, flags=0) as ipr:
        for msg in ipr.addr("dump", family=socket.AF_INET6):
            if f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}" == address:
                proto = msg.get_attr("IFA_PROTO")
                return None if proto is None else int(proto)
    raise AssertionError(f"{address} is not on host1")


def up_as_on_linux_6_1(segment: Lab, address: str) -> VipResult:
    vip = make_vip(address)
    return vip_up(vip, netns=segment.host1.path, announce=QUIET, address_protocol=False)


def record_of(address: str) -> Path:
    [path] = vip_records.record_dir().glob(f"*_{address.split('/')[0]}.json")
    return path


def test_up_then_down_through_the_record(segment: Lab) -> None:
    result = up_as_on_linux_6_1(segment, "fd77::61/64")

    assert result.action == "added"
    line = address_line(segment, "fd77::61/64")
    assert line is not None and "nodad" in line
    assert kernel_protocol(segment, "fd77::61/64") is None  # no kernel mark
    record = json.loads(record_of("fd77::61/64").read_text())
    assert (record["address"], record["interface"], record["owner"]) == (
        "fd77::61/64", "eth0", None)
    assert record["index"] == int(segment.host1.ip("-o", "link", "show", "eth0").split(":")[0])
    assert record_of("fd77::61/64").stat().st_mode & 0o777 == 0o600

    status = segment.host1.s2s_sd("vip", "status", "fd77::61/64")
    assert status.returncode == 0, status.stderr
    assert "up on eth0; s2s-sd's (record " in status.stdout
    assert ": added as an address, since 20" in status.stdout
    again = segment.host1.s2s_sd("vip", "up", "fd77::61/64", "--count", "0")
    assert again.returncode == 0 and "already up" in again.stdout, again.stderr

    down = segment.host1.s2s_sd("vip", "down", "fd77::61/64")

    assert down.returncode == 0, down.stderr
    assert address_line(segment, "fd77::61/64") is None
    assert list(vip_records.record_dir().iterdir()) == []


def test_a_hand_added_address_without_record_is_refused(segment: Lab) -> None:
    segment.host1.ip("-6", "addr", "add", "fd77::62/64", "dev", "eth0", "nodad")

    down = segment.host1.s2s_sd("vip", "down", "fd77::62/64")
    up = segment.host1.s2s_sd("vip", "up", "fd77::62/64", "--count", "0")
    status = segment.host1.s2s_sd("vip", "status", "fd77::62/64", "--json")

    for refused in (down, up):
        assert refused.returncode == 3, refused.stderr
        assert "was not added by s2s-sd" in refused.stderr
        assert "s2s-sd has no record of it" in refused.stderr
    assert address_line(segment, "fd77::62/64") is not None
    state = json.loads(status.stdout)
    assert (state["present"], state["owned_by"]) == (True, None)
    assert "no record" in state["not_ours"]


def test_a_stale_record_of_an_address_added_again_by_hand_is_refused(segment: Lab) -> None:
    """Same address, same interface, same nodad flag: only the creation stamp differs."""
    up_as_on_linux_6_1(segment, "fd77::63/64")
    segment.host1.ip("-6", "addr", "del", "fd77::63/64", "dev", "eth0")
    time.sleep(0.05)  # the stamp counts 1/100 s: a hand is slower than that anyway
    segment.host1.ip("-6", "addr", "add", "fd77::63/64", "dev", "eth0", "nodad")

    down = segment.host1.s2s_sd("vip", "down", "fd77::63/64")

    assert down.returncode == 3, down.stderr
    assert "added again by someone else since" in down.stderr
    assert address_line(segment, "fd77::63/64") is not None
    forced = segment.host1.s2s_sd("vip", "down", "fd77::63/64", "--force")
    assert forced.returncode == 0, forced.stderr
    assert address_line(segment, "fd77::63/64") is None
    assert list(vip_records.record_dir().iterdir()) == []  # the stale record went too


def test_an_address_without_the_nodad_flag_is_not_believed(segment: Lab) -> None:
    """Added again by hand the plain way (with duplicate detection): refused by flag."""
    up_as_on_linux_6_1(segment, "fd77::64/64")
    segment.host1.ip("-6", "addr", "del", "fd77::64/64", "dev", "eth0")
    segment.host1.ip("-6", "addr", "add", "fd77::64/64", "dev", "eth0")

    down = segment.host1.s2s_sd("vip", "down", "fd77::64/64")

    assert down.returncode == 3, down.stderr
    assert "lacks the nodad flag" in down.stderr


def test_a_record_of_another_interface_index_is_stale(segment: Lab) -> None:
    """The interface was re-created (its index changed): its addresses died with it, so
    whatever holds the address now is not what s2s-sd added."""
    up_as_on_linux_6_1(segment, "fd77::65/64")
    path = record_of("fd77::65/64")
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "index": record["index"] + 40}))

    down = segment.host1.s2s_sd("vip", "down", "fd77::65/64")

    assert down.returncode == 3, down.stderr
    assert "that interface was re-created since" in down.stderr
    assert address_line(segment, "fd77::65/64") is not None


@pytest.mark.parametrize("kind", ["symlink", "fifo", "garbage", "other address"])
def test_a_hostile_record_is_not_trusted(segment: Lab, tmp_path: Path, kind: str) -> None:
    up_as_on_linux_6_1(segment, "fd77::66/64")
    path = record_of("fd77::66/64")
    genuine = path.read_text()
    path.unlink()
    if kind == "symlink":  # a copy of the genuine record, planted through a link
        (tmp_path / "planted.json").write_text(genuine)
        path.symlink_to(tmp_path / "planted.json")
    elif kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "garbage":
        path.write_bytes(b"\xff{" * 3000)
    else:
        path.write_text(genuine.replace("fd77::66/64", "fd77::67/64"))
    started = time.monotonic()

    down = segment.host1.s2s_sd("vip", "down", "fd77::66/64")

    assert down.returncode == 3, down.stderr
    assert "its record is not trusted" in down.stderr
    assert "Traceback" not in down.stderr
    assert time.monotonic() - started < 30
    assert address_line(segment, "fd77::66/64") is not None


def test_the_group_form_records_its_owner_and_the_kernel_mark_still_counts(
        segment: Lab) -> None:
    """Where the kernel keeps the protocol it is used, and the record is written too."""
    vip = Vip(parse_address("fd77::68/64"), None, "ora", True, None, "ora.vip")
    vip_up(vip, netns=segment.host1.path, announce=QUIET)
    keeps = kernel_keeps_address_protocol(segment.host1.path)

    assert kernel_protocol(segment, "fd77::68/64") == (ADDRESS_PROTO if keeps else None)
    assert json.loads(record_of("fd77::68/64").read_text())["owner"] == "ora.vip"
    state = vip_status(vip, netns=segment.host1.path)
    assert state.owned_by is not None
    assert state.owned_by.startswith("address protocol 83" if keeps else
                                     f"record {record_of('fd77::68/64')}: ora.vip, since ")
    assert vip_down(vip, netns=segment.host1.path).action == "removed"
    assert list(vip_records.record_dir().iterdir()) == []


def test_detection_agrees_with_the_kernel_release(segment: Lab,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The dump evidence (the kernel's own ::1 carries IFA_PROTO from 6.3 on) and the
    release number, the last resort, give the same answer on a stock kernel."""
    monkeypatch.setattr(netlink, "_protocol_support", None)
    assert kernel_keeps_address_protocol(segment.host1.path) == \
        kernel_release_keeps_address_protocol(os.uname().release)


def test_the_same_address_in_two_namespaces_has_two_records(segment: Lab) -> None:
    """host1 and host2 share this machine's run dir here, as lab nodes reached through
    --netns would: a record of one namespace never vouches for the other."""
    up_as_on_linux_6_1(segment, "fd77::69/64")
    segment.host2.ip("-6", "addr", "add", "fd77::69/64", "dev", "eth0", "nodad")

    refused = segment.host2.s2s_sd("vip", "down", "fd77::69/64")

    assert refused.returncode == 3, refused.stderr
    assert "no record of it" in refused.stderr
    assert segment.host1.s2s_sd("vip", "down", "fd77::69/64").returncode == 0
