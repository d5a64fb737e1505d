"""The records of IPv6 VIPs (engines/net/records.py): their format, and that a damaged or
hostile record is never trusted and never a traceback. Real files in a tmp run dir."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import pytest

from s2s_sd import paths
from s2s_sd.engines.net import records as vip_records
from s2s_sd.engines.net.netlink import kernel_release_keeps_address_protocol
from s2s_sd.engines.net.records import UntrustedRecord, VipRecord
from s2s_sd.errors import S2SError

pytestmark = pytest.mark.unit

NETNS = "net4026531840"
ADDRESS = ipaddress.IPv6Interface("fd77::61/64")
RECORD = VipRecord(netns=NETNS, index=2, interface="eth0", address="fd77::61/64",
                   created=518509, since="2026-11-30T18:50:00Z", owner="ora.vip")


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(paths.RUN_DIR.env, str(tmp_path / "run"))
    return tmp_path / "run"


def fields() -> dict[str, object]:
    return dict(json.loads(RECORD.to_json()))


def test_round_trip_and_name() -> None:
    assert vip_records.parse_record(RECORD.to_json().encode(), NETNS, ADDRESS) == RECORD
    assert fields()["format"] == 1
    assert vip_records.record_path(NETNS, ADDRESS).name == "net4026531840_fd77::61.json"
    address_form = VipRecord(**{**vars(RECORD), "owner": None})
    assert vip_records.parse_record(address_form.to_json().encode(), NETNS, ADDRESS) == \
        address_form


@pytest.mark.parametrize(("change", "reason"), [
    ({"index": True}, "index must be an integer"),
    ({"index": 2.0}, "index must be an integer"),
    ({"index": 0}, "index must be an integer"),
    ({"index": 2**31}, "index must be an integer"),
    ({"created": -1}, "created must be an integer"),
    ({"created": 2**32}, "created must be an integer"),
    ({"created": "518509"}, "created must be an integer"),
    ({"format": 2}, "format must be an integer 1..1"),
    ({"netns": "net1"}, "network namespace net1, not net4026531840"),
    ({"netns": "../../etc"}, "netns is not valid"),
    ({"address": "fd77::62/64"}, "about fd77::62/64, not fd77::61/64"),
    ({"address": "fd77::61/96"}, "about fd77::61/96, not fd77::61/64"),
    ({"address": "fd77:0::61/64"}, "not an IPv6 address/prefix"),
    ({"address": "fd77::61"}, "not an IPv6 address/prefix"),
    ({"address": "10.77.0.61/24"}, "not an IPv6 address/prefix"),
    ({"address": ["fd77::61/64"]}, "not an IPv6 address/prefix"),
    ({"interface": "eth0\nExecStart=x"}, "interface is not valid"),
    ({"interface": "a/b"}, "interface is not valid"),
    ({"interface": "x" * 16}, "interface is not valid"),
    ({"owner": "ora\u2028vip"}, "owner is not valid"),
    ({"owner": 7}, "owner is not valid"),
    ({"since": "\x1b[2J"}, "since is not a time stamp"),
    ({"since": None}, "since is not a time stamp"),
    ({"extra": 1}, "not a record of format 1"),
])
def test_a_wrong_field_is_not_trusted(change: dict[str, object], reason: str) -> None:
    raw = json.dumps({**fields(), **change}).encode()
    with pytest.raises(UntrustedRecord, match=reason):
        vip_records.parse_record(raw, NETNS, ADDRESS)


@pytest.mark.parametrize("raw", [
    b"", b"\xff\xfe", b"null", b"[]", b"42", b"{", b"[" * 100_000, b'{"index": NaN}',
    json.dumps({k: v for k, v in fields().items() if k != "created"}).encode(),
])
def test_a_damaged_record_is_not_trusted(raw: bytes) -> None:
    with pytest.raises(UntrustedRecord) as caught:
        vip_records.parse_record(raw, NETNS, ADDRESS)
    assert "\n" not in str(caught.value)


def test_written_private_read_back_removed(run_dir: Path) -> None:
    path = vip_records.write_record(RECORD)

    assert path.parent == run_dir / "vips"
    assert (run_dir / "vips").stat().st_mode & 0o777 == 0o700
    assert path.stat().st_mode & 0o777 == 0o600
    assert vip_records.read_record(NETNS, ADDRESS) == RECORD
    assert vip_records.remove_record(NETNS, ADDRESS) is None
    assert vip_records.read_record(NETNS, ADDRESS) is None
    assert vip_records.remove_record(NETNS, ADDRESS) is None  # gone already: fine


def test_nothing_there_is_no_record(run_dir: Path) -> None:
    assert vip_records.read_record(NETNS, ADDRESS) is None
    assert not run_dir.exists()  # reading makes nothing


@pytest.mark.parametrize("kind", ["symlink", "fifo", "directory", "huge"])
def test_an_odd_record_file_is_not_trusted(run_dir: Path, tmp_path: Path, kind: str) -> None:
    path = vip_records.write_record(RECORD)
    path.unlink()
    if kind == "symlink":
        (tmp_path / "genuine.json").write_text(RECORD.to_json())
        path.symlink_to(tmp_path / "genuine.json")
    elif kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_text(RECORD.to_json() + " " * vip_records.MAX_RECORD_BYTES)

    with pytest.raises(UntrustedRecord, match=str(path)):
        vip_records.read_record(NETNS, ADDRESS)


def test_a_planted_link_is_replaced_never_followed(run_dir: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    path = vip_records.write_record(RECORD)
    path.unlink()
    path.symlink_to(victim)

    assert vip_records.remove_record(NETNS, ADDRESS) is None
    assert not path.is_symlink() and victim.read_text() == "precious\n"
    path.symlink_to(victim)
    vip_records.write_record(RECORD)
    assert not path.is_symlink() and victim.read_text() == "precious\n"
    assert vip_records.read_record(NETNS, ADDRESS) == RECORD


@pytest.mark.parametrize("kind", ["symlink", "open to others"])
def test_an_untrusted_record_dir_is_neither_read_nor_written(
        run_dir: Path, tmp_path: Path, kind: str) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (elsewhere / vip_records.record_path(NETNS, ADDRESS).name).write_text(RECORD.to_json())
    run_dir.mkdir()
    if kind == "symlink":
        (run_dir / "vips").symlink_to(elsewhere)
    else:
        (run_dir / "vips").mkdir()
        (run_dir / "vips").chmod(0o777)

    with pytest.raises(UntrustedRecord, match="vips"):
        vip_records.read_record(NETNS, ADDRESS)
    with pytest.raises(S2SError, match="vips"):
        vip_records.write_record(RECORD)
    warning = vip_records.remove_record(NETNS, ADDRESS)
    assert warning is not None and "record not removed" in warning
    assert len(list(elsewhere.iterdir())) == 1


@pytest.mark.parametrize(("release", "keeps"), [
    ("6.1.0-18-amd64", False), ("5.10.0-28-amd64", False), ("6.2.16", False),
    ("6.3.0", True), ("6.18.1-arch1", True), ("7.0", True), ("garbage", False), ("", False),
])
def test_kernel_release_last_resort(release: str, keeps: bool) -> None:
    assert kernel_release_keeps_address_protocol(release) is keeps
