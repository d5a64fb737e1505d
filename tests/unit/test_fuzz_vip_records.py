"""A record of an IPv6 VIP is believed only when it is exactly what s2s-sd writes: any
other bytes (mutated records, arbitrary JSON, garbage) are UntrustedRecord, never another
exception, and never a record of another address or namespace."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.engines.net import records as vip_records
from s2s_sd.engines.net.records import UntrustedRecord, VipRecord

pytestmark = pytest.mark.unit

NETNS = "net4026531840"
ADDRESS = ipaddress.IPv6Interface("fd77::61/64")
GENUINE = VipRecord(netns=NETNS, index=2, interface="eth0", address="fd77::61/64",
                    created=518509, since="2026-11-30T18:50:00Z", owner="ora.vip")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=10)


def believed_or_untrusted(raw: bytes) -> VipRecord | None:
    try:
        record = vip_records.parse_record(raw, NETNS, ADDRESS)
    except UntrustedRecord:
        return None
    assert (record.netns, record.address) == (NETNS, ADDRESS.with_prefixlen)
    return record


@given(raw=st.binary(max_size=300))
def test_fuzz_any_bytes(raw: bytes) -> None:
    believed_or_untrusted(raw)


@given(key=st.sampled_from(sorted(json.loads(GENUINE.to_json()))), value=JSON_VALUES)
def test_fuzz_one_field_changed(key: str, value: object) -> None:
    data = json.loads(GENUINE.to_json())
    data[key] = value
    record = believed_or_untrusted(json.dumps(data).encode())
    if record is not None:  # believed: then it says exactly what the file said
        assert json.loads(record.to_json()) == data


@given(cut=st.integers(min_value=0, max_value=len(GENUINE.to_json()) - 2))
def test_fuzz_truncated(cut: int) -> None:
    assert believed_or_untrusted(GENUINE.to_json().encode()[:cut]) is None
