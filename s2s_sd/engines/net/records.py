"""Records of the IPv6 VIPs s2s-sd added: how they are recognised where the kernel
cannot tell.

IPv6 addresses have no labels. s2s-sd marks its IPv6 VIPs with address protocol 83
(IFA_PROTO), but only Linux 6.3 and later keep that attribute: 6.1 (Debian 12) ignores
it when adding and never reports it. So every IPv6 VIP s2s-sd adds also gets a small
record in RUN_DIR/vips/ (/run is emptied at reboot, exactly like the addresses):

  vips/net<INODE>_<ADDRESS>.json
      {"format": 1, "netns": "net4026531840", "index": 2, "interface": "eth0",
       "address": "fd77::61/64", "created": 518509, "since": "2026-11-30T18:50:00Z",
       "owner": "ora.vip"}

`netns` is the inode of the network namespace (the same address may be a VIP in two
namespaces of one machine), `created` the kernel's creation stamp of the address
(IFA_CACHEINFO cstamp, 1/100 s since boot). A record proves nothing by itself: ownership.py
trusts it only for an address with exactly that prefix, on the interface with that index,
with s2s-sd's IFA_F_NODAD flag and the recorded creation stamp, so an address removed
and added again by hand is not taken for s2s-sd's. Anything odd about a record (a link,
not a regular file, too big, not JSON, a field of the wrong type or range, another
address than its name says) makes it untrusted, with the reason, never an exception.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from s2s_sd import paths
from s2s_sd.errors import OperationFailed, S2SError, printable
from s2s_sd.hosts import state
from s2s_sd.vip_rules import INTERFACE_NAME
from s2s_sd.writer import write_file_atomic

RECORD_DIR = "vips"
FORMAT = 1
MAX_RECORD_BYTES = 4096
MAX_INDEX = 2**31 - 1  # ifindex is a signed 32-bit int
MAX_STAMP = 2**32 - 1  # cstamp is an unsigned 32-bit count of 1/100 s
_NETNS = re.compile(r"net[0-9]{1,20}")
_OWNER = re.compile(r"[A-Za-z0-9_.-]{1,200}")
_FIELDS = ("format", "netns", "index", "interface", "address", "created", "since", "owner")


class UntrustedRecord(ValueError):
    """A record that exists but cannot be believed; the message says why."""


@dataclass(frozen=True)
class VipRecord:
    netns: str  # "net" + the inode of the network namespace file
    index: int  # interface index when the address was added
    interface: str  # its name then (for people; the index decides)
    address: str  # "fd77::61/64"
    created: int  # the kernel's creation stamp of the address, 1/100 s since boot
    since: str  # wall clock when added, ISO 8601 UTC
    owner: str | None  # GROUP.SERVICE for the group form, None for an address given

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1, sort_keys=True) + "\n"


def now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def record_dir() -> Path:
    return Path(paths.run_dir()) / RECORD_DIR


def record_path(netns: str, address: ipaddress.IPv6Interface) -> Path:
    """One record per address and namespace: s2s-sd never has one address up twice."""
    return record_dir() / f"{netns}_{address.ip.compressed}.json"


def _int_field(data: dict[str, object], key: str, low: int, high: int) -> int:
    value = data[key]
    # bool is an int in Python, and JSON's 1.0 a float: neither is an index or a stamp
    if type(value) is not int or not low <= value <= high:
        raise UntrustedRecord(f"{key} must be an integer {low}..{high}, not "
                              f"{printable(repr(value))[:60]}")
    return value


def _text_field(data: dict[str, object], key: str, pattern: re.Pattern[str]) -> str:
    value = data[key]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise UntrustedRecord(f"{key} is not valid: {printable(repr(value))[:60]}")
    return value


def parse_record(raw: bytes, netns: str, address: ipaddress.IPv6Interface) -> VipRecord:
    """The record in RAW, which must be about ADDRESS (with its prefix) in NETNS;
    UntrustedRecord for anything else."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UntrustedRecord(f"not a JSON record ({printable(str(exc))[:80]})") from exc
    if not isinstance(data, dict) or sorted(data) != sorted(_FIELDS):
        raise UntrustedRecord(f"not a record of format {FORMAT} (fields: "
                              f"{', '.join(_FIELDS)})")
    _int_field(data, "format", FORMAT, FORMAT)
    recorded_netns = _text_field(data, "netns", _NETNS)
    if recorded_netns != netns:
        raise UntrustedRecord(f"it is about network namespace {recorded_netns}, not {netns}")
    text = data["address"]
    try:
        recorded = ipaddress.IPv6Interface(text) if isinstance(text, str) and "/" in text \
            else None
    except ValueError:
        recorded = None
    if recorded is None or recorded.with_prefixlen != text:
        raise UntrustedRecord(f"address is not an IPv6 address/prefix: "
                              f"{printable(repr(text))[:60]}")
    if recorded != address:
        raise UntrustedRecord(f"it is about {recorded.with_prefixlen}, not "
                              f"{address.with_prefixlen}")
    since = data["since"]
    if not isinstance(since, str) or len(since) > 40 or not since.isprintable():
        raise UntrustedRecord("since is not a time stamp")
    owner = data["owner"]
    if owner is not None:
        owner = _text_field(data, "owner", _OWNER)
    return VipRecord(
        netns=recorded_netns, index=_int_field(data, "index", 1, MAX_INDEX),
        interface=_text_field(data, "interface", INTERFACE_NAME), address=recorded.with_prefixlen,
        created=_int_field(data, "created", 0, MAX_STAMP), since=since, owner=owner)


def _trusted_dir(create: bool) -> Path:
    """RUN_DIR/vips, root's only; Refused when it is a link or someone else's."""
    run_dir = record_dir().parent
    if create:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    return state.private_subdir(run_dir, RECORD_DIR, create=create)


def read_record(netns: str, address: ipaddress.IPv6Interface) -> VipRecord | None:
    """The record of ADDRESS in NETNS; None when there is none; UntrustedRecord when
    the record (or its directory) cannot be believed."""
    path = record_path(netns, address)
    try:
        _trusted_dir(create=False)
        raw = state.read_state_file(path, MAX_RECORD_BYTES)
    except S2SError as exc:
        raise UntrustedRecord(f"{printable(str(exc))}") from exc
    if raw is None:
        return None
    try:
        return parse_record(raw, netns, address)
    except UntrustedRecord as exc:
        raise UntrustedRecord(f"{path}: {exc}") from exc


def write_record(record: VipRecord) -> Path:
    """Write (replace atomically, never through a link) the record of an added address.
    Raises S2SError (Refused for an untrusted directory, OperationFailed otherwise)."""
    address = ipaddress.IPv6Interface(record.address)
    directory = _trusted_dir(create=True)
    path = record_path(record.netns, address)
    try:
        write_file_atomic(directory / path.name, record.to_json(), mode=0o600)
    except OSError as exc:
        raise OperationFailed(f"{path}: cannot write the record of {record.address} "
                              f"({exc.strerror or exc})") from exc
    return path


def remove_record(netns: str, address: ipaddress.IPv6Interface) -> str | None:
    """Remove the record of ADDRESS in NETNS, if any; a warning when it cannot be (a
    stale record is harmless: its creation stamp never matches a later address)."""
    path = record_path(netns, address)
    try:
        _trusted_dir(create=False)
        os.unlink(path)  # a link is removed itself, never followed
    except FileNotFoundError:
        return None
    except (OSError, S2SError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        return f"{path}: record not removed ({printable(str(reason))})"
    return None


__all__ = ["UntrustedRecord", "VipRecord", "now_text", "parse_record", "read_record",
           "record_dir", "record_path", "remove_record", "write_record"]
