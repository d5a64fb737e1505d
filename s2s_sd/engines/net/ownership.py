"""Whether an address found here is s2s-sd's own: up adopts and down removes only such
an address, anything else is refused unless forced (see the package's docstring)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from s2s_sd.engines.net import netlink, records
from s2s_sd.engines.net.vip import Vip, full_label
from s2s_sd.errors import Refused


@dataclass(frozen=True)
class Ownership:
    """Did s2s-sd put this address here: how it knows (`by`), or why not (`why_not`)."""

    by: str | None
    why_not: str | None = None


def ownership_of(held: netlink.Address, vip: Vip, netns_id: str) -> Ownership:
    """IPv4: the address carries the label s2s-sd gives this VIP. IPv6 has no labels: it
    carries s2s-sd's address protocol (Linux 6.3+), or s2s-sd's record of it matches."""
    if isinstance(held.address, ipaddress.IPv6Interface):
        if held.proto == netlink.ADDRESS_PROTO:
            return Ownership(f"address protocol {netlink.ADDRESS_PROTO}")
        return _record_ownership(held, held.address, netns_id)
    label = full_label(vip, held.link.name)
    if label is not None and held.label == label:
        return Ownership(f"label {label}")
    if label is None:
        return Ownership(None, f"no s2s-sd label fits after the interface name "
                                f"{held.link.name}")
    return Ownership(None, f"its label is {held.label or held.link.name}, s2s-sd's would "
                            f"be {label}")


def _record_ownership(held: netlink.Address, address: ipaddress.IPv6Interface,
                      netns_id: str) -> Ownership:
    """The record is believed only for the very address s2s-sd added: same interface
    index (a re-created interface took its addresses with it, so a record of the old
    index is stale; a renamed one kept them), s2s-sd's netlink.IFA_F_NODAD flag and the kernel's
    creation stamp recorded then (an address removed and added again by hand has a new
    one)."""
    protocol = f"its address protocol is {held.proto or 0}, not {netlink.ADDRESS_PROTO}"
    try:
        record = records.read_record(netns_id, address)
    except records.UntrustedRecord as exc:
        return Ownership(None, f"{protocol}, and its record is not trusted: {exc}")
    path = records.record_path(netns_id, address)
    if record is None:
        return Ownership(None, f"{protocol}, and s2s-sd has no record of it in "
                                f"{path.parent}")
    if record.index != held.link.index:
        return Ownership(None, f"{protocol}, and the record {path} is of interface index "
                                f"{record.index} ({record.interface}), not "
                                f"{held.link.index}: that interface was re-created since")
    if not held.flags & netlink.IFA_F_NODAD:
        return Ownership(None, f"{protocol}, and it lacks the nodad flag s2s-sd adds with "
                                f"(record {path} is stale)")
    if record.created != held.created:
        return Ownership(None, f"{protocol}, and it was created at {held.created}, not at "
                                f"{record.created} as recorded in {path}: added again by "
                                "someone else since")
    return Ownership(f"record {path}: {record.owner or 'added as an address'}, since "
                      f"{record.since}")


def refuse_unless_ours(held: netlink.Address, vip: Vip, verb: str, force: bool,
                       netns_id: str) -> None:
    if force:
        return
    ownership = ownership_of(held, vip, netns_id)
    if ownership.by is not None:
        return
    raise Refused(f"{held.address.with_prefixlen} on {held.link.name} was not added by s2s-sd "
                  f"({ownership.why_not}): not {verb} it. If it really is this VIP, give "
                  "--force")

