"""The VIP operations: vip_up, vip_down, vip_status, who_answers (see the package's
docstring for what an administrator can expect of them)."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from s2s_sd.engines.net import announcer, hosts_file, netlink, ownership, records, wire
from s2s_sd.engines.net.vip import (
    Action,
    Announce,
    IPAddress,
    Probe,
    Vip,
    VipResult,
    VipStatus,
    full_label,
)
from s2s_sd.errors import BadInput, OperationFailed, Refused, S2SError


def vip_status(
    vip: Vip,
    *,
    netns: netlink.NetnsPath | None = None,
    hosts: Path | None = hosts_file.DEFAULT_HOSTS_FILE,
) -> VipStatus:
    """Is the VIP on an interface here, which one, with which label; what the alias maps to.

    HOSTS is only read (for the alias); None skips it.
    """
    path = netlink.netns_path(netns)
    with netlink.open_netlink(path) as ipr:
        holders = netlink.vip_holders(ipr, vip)
    exact = next((h for h in holders if h.address == vip.address), None)
    other = holders[0] if holders and exact is None else None
    shown = exact or other
    owned = ownership.Ownership(None)
    if exact is not None:
        try:
            owned = ownership.ownership_of(exact, vip, netlink.netns_id(path))
        except BadInput as exc:  # a --label that cannot be this interface's
            owned = ownership.Ownership(None, str(exc))
    alias_addresses: tuple[str, ...] = ()
    if vip.hostname and hosts is not None:
        alias_addresses = hosts_file.find_alias(hosts, vip.hostname)
    return VipStatus(
        address=vip.text,
        present=exact is not None,
        interface=shown.link.name if shown else None,
        label=shown.label if shown else None,
        held_as=other.address.with_prefixlen if other else None,
        tentative=bool(shown and shown.flags
                       & (netlink.IFA_F_TENTATIVE | netlink.IFA_F_DADFAILED)),
        hostname=vip.hostname,
        hostname_addresses=alias_addresses,
        owned_by=owned.by,
        not_ours=owned.why_not,
    )


def who_answers(
    vip: Vip, *, netns: netlink.NetnsPath | None = None, probe: Probe | None = None,
    checking_among: Collection[IPAddress] | None = None,
) -> str | None:
    """The MAC of a host answering for the VIP on its segment, or None (moves use this).

    Sent from NETNS; answers from NETNS itself are not seen. By default the question is
    the duplicate probe, as a host about to take the address sends it. A host that only
    checks (the watcher, for a VIP of a group active on it) gives CHECKING_AMONG, the
    host group's VIPs: then it asks from an address of its own that is none of them (see
    netlink.own_source_address), so that a move's target probing at the same moment does
    not count the question as a rival claim and refuse the move. Without such an address
    it probes, as before.
    """
    path = netlink.netns_path(netns)
    with netlink.open_netlink(path) as ipr:
        links = netlink.read_links(ipr)
        link = (netlink.link_by_name(links, vip.interface) if vip.interface
                else netlink.connected_link(ipr, links, vip))
        source = (None if checking_among is None else
                  netlink.own_source_address(ipr, links, link, vip, checking_among))
    return wire.answering_mac(path, link, vip, probe or Probe(), source)


def vip_up(
    vip: Vip,
    *,
    netns: netlink.NetnsPath | None = None,
    hosts: Path = hosts_file.DEFAULT_HOSTS_FILE,
    announce: Announce | None = None,
    probe: Probe | None = None,
    force: bool = False,
    address_protocol: bool | None = None,
    take_over: bool = False,
    probed_ahead: str | None = None,
) -> VipResult:
    """Bring the VIP up here: check, probe, add, announce, then set the hosts alias.

    PROBED_AHEAD: the probe was made already, and nobody answered (what probed_ahead.take
    said of it): not probed again.

    TAKE_OVER (a migration from the Pacemaker engine, see migrate_note_fresh): an
    address already here that s2s-sd did not add (the cluster's IPaddr2 did) is removed
    and added again at once as s2s-sd's own, so the group's stop and moves know it.

    Already present with the same prefix on the chosen interface: announce again and
    succeed. HOSTS is the hosts file of the machine NETNS belongs to (for a node reached
    through /proc/PID/ns/net that is /proc/PID/root/etc/hosts, not ours).

    Raises BadInput (nothing changed) for unusable input; Refused (nothing changed) when
    another host answers for the address, or the address or alias is held in a way
    s2s-sd will not override (also: present already, but not added by s2s-sd, unless
    FORCE); OperationFailed for what went wrong on the way (an address
    added by this call is removed again first).

    An IPv6 VIP is added with address protocol 83 where the kernel keeps it
    (ADDRESS_PROTOCOL None: detected; False: never, as on Linux < 6.3) and recorded in
    RUN_DIR/vips either way, the record being what recognises it on older kernels.
    """
    announce = announce or Announce()
    probe = probe or Probe()
    started = time.monotonic()
    path = netlink.netns_path(netns)
    netns_id = netlink.netns_id(path)
    if vip.hostname:
        hosts_file.check_alias(hosts, vip.hostname)
    with netlink.open_netlink(path) as ipr:
        links = netlink.read_links(ipr)
        link = netlink.choose_link(ipr, links, vip)
        label = full_label(vip, link.name)
        holders = netlink.holders(ipr, links, vip)
        exact = next((h for h in holders if h.address == vip.address), None)
        if exact is None and holders:
            held = holders[0]
            raise Refused(f"{vip.ip} is already on {held.link.name} as "
                          f"{held.address.with_prefixlen}; not adding {vip.text} on "
                          f"{link.name} as well (take it down first)")
        if exact is not None and exact.link.index != link.index:
            raise Refused(f"{vip.text} is already on {exact.link.name}, not on {link.name}")
        if exact is not None and exact.flags & netlink.IFA_F_DADFAILED:
            raise Refused(f"{vip.text} is on {link.name} but failed duplicate address "
                          "detection: another node owns it")
        taken_over = False
        if (exact is not None and take_over
                and ownership.ownership_of(exact, vip, netns_id).by is None):
            # same interface, same MAC: the address is gone for microseconds, no neighbour
            # cache changes; added again below with s2s-sd's label (IPv6: protocol, record)
            netlink.delete_address(ipr, exact.link, vip)
            exact, taken_over = None, True
        if exact is not None:
            ownership.refuse_unless_ours(exact, vip, "adopting", force, netns_id)
        wire.require_mac(link)
        probe_seconds = 0.0
        if exact is None:
            probe_started = time.monotonic()
            # a taken-over address was ours to answer for a moment ago: nobody to probe for
            answering = (None if taken_over or probed_ahead
                         else wire.answering_mac(path, link, vip, probe))
            probe_seconds = time.monotonic() - probe_started
            if answering:
                method = "ARP probe" if vip.address.version == 4 else "duplicate address detection"
                raise Refused(f"{vip.ip} is in use: {answering} answered our {method} on "
                              f"{link.name}; not adding it")
            with_protocol = vip.address.version == 4 or (
                address_protocol is not False and netlink.address_protocol_supported(ipr))
            netlink.add_address(ipr, link, vip, label, with_protocol)
            action: Action = "added"
        else:
            label = exact.label
            action = "already-present"
        try:
            if action == "added" and isinstance(vip.address, ipaddress.IPv6Interface):
                _record(ipr, links, link, vip, netns_id)
            announce_started = time.monotonic()
            sent = wire.send_announcements(path, link, vip, announce, netns_id)
            announce_seconds = time.monotonic() - announce_started
            changed = False
            if vip.hostname:
                changed = hosts_file.set_alias(hosts, vip.hostname, str(vip.ip)).changed
        except S2SError as failure:
            # An up that fails must not leave a VIP behind that nobody announced or
            # will take down (systemd runs no ExecStop= after a failed ExecStart=).
            if action == "added":
                _roll_back(ipr, link, vip, failure)
            raise
    return VipResult(
        address=vip.text, action=action, interface=link.name, label=label,
        announcements=sent, hostname=vip.hostname, hosts_file_changed=changed,
        probe_seconds=probe_seconds, announce_seconds=announce_seconds,
        total_seconds=time.monotonic() - started, probed_ahead=probed_ahead,
    )


def _record(ipr: Any, links: dict[int, netlink.Link], link: netlink.Link, vip: Vip,
            netns_id: str) -> None:
    """Record the IPv6 address just added, with the creation stamp the kernel gave it."""
    added = next((h for h in netlink.holders(ipr, links, vip)
                  if h.address == vip.address and h.link.index == link.index), None)
    if added is None or added.created is None:
        raise OperationFailed(f"{vip.text} vanished from {link.name} right after adding it")
    records.write_record(records.VipRecord(
        netns=netns_id, index=link.index, interface=link.name, address=vip.text,
        created=added.created, since=records.now_text(), owner=vip.owner))


def _roll_back(ipr: Any, link: netlink.Link, vip: Vip, failure: S2SError) -> None:
    try:
        netlink.delete_address(ipr, link, vip)
    except S2SError as cleanup:
        raise OperationFailed(f"{failure}; removing {vip.text} from {link.name} again failed "
                              f"too: {cleanup}") from failure


def vip_down(
    vip: Vip, *, netns: netlink.NetnsPath | None = None,
    hosts: Path = hosts_file.DEFAULT_HOSTS_FILE, force: bool = False,
) -> VipResult:
    """Take the VIP down here and remove its hosts alias. Absent already: success.

    The same address with another prefix, or on another interface than the one asked
    for, or one s2s-sd did not add (unless FORCE), is not ours to remove: Refused.
    """
    started = time.monotonic()
    path = netlink.netns_path(netns)
    netns_id = netlink.netns_id(path)
    if vip.hostname:
        hosts_file.check_name(vip.hostname)
    with netlink.open_netlink(path) as ipr:
        holders = netlink.vip_holders(ipr, vip)
        exact = next((h for h in holders if h.address == vip.address), None)
        if exact is None and holders:
            held = holders[0]
            raise Refused(f"{vip.ip} is on {held.link.name} as {held.address.with_prefixlen}, "
                          f"not as {vip.text}: not removing it")
        if exact is not None and vip.interface is not None and exact.link.name != vip.interface:
            raise Refused(f"{vip.text} is on {exact.link.name}, not on {vip.interface}: "
                          "not removing it")
        if exact is not None:
            ownership.refuse_unless_ours(exact, vip, "removing", force, netns_id)
        # The alias goes first: a name must never point at an address being given away.
        warnings: list[str] = []
        changed = False
        if vip.hostname:
            alias = hosts_file.remove_alias(hosts, vip.hostname)
            changed = alias.changed
            warnings += [f"{hosts}:{line.number} still maps {vip.hostname} (together with "
                         "other names); left unchanged" for line in alias.foreign_lines]
        # no announcement of the address may leave this host once it is gone
        announcer.stop(announcer.pid_path(netns_id, vip.ip.compressed))
        if exact is not None:
            netlink.delete_address(ipr, exact.link, vip)
        if isinstance(vip.address, ipaddress.IPv6Interface):
            # removed now, or gone before: a record of it is stale either way
            problem = records.remove_record(netns_id, vip.address)
            warnings += [problem] if problem else []
    return VipResult(
        address=vip.text, action="removed" if exact else "absent",
        interface=exact.link.name if exact else None, label=exact.label if exact else None,
        hostname=vip.hostname, hosts_file_changed=changed,
        total_seconds=time.monotonic() - started, warnings=tuple(warnings),
    )

