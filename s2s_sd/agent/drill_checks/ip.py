"""ip members: the VIP is not held here unless the group runs here, its /etc/hosts alias is
not on a line that belongs to something else, and (probe) an interface for it is up here
and nobody answers ARP/ND for it except the host that runs the group now.

Probes of one VIP from several hosts at once would hear each other (RFC 5227 counts
another prober as a conflict), so the admin asks for them host by host (drill_run.py);
everything else runs on all hosts in parallel.
"""

from __future__ import annotations

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.drill import Finding, VipAnswer, fail, ok
from s2s_sd.engines.net import hosts_file
from s2s_sd.engines.net.vip import host_group_vips, vip_for_service
from s2s_sd.errors import BadInput, OperationFailed, Refused
from s2s_sd.model import Group, IpService


def check_ip(facts: HostFacts, group: Group, service: IpService) -> tuple[list[Finding], bool]:
    """(findings, whether the VIP still needs a probe from this host)."""
    host, member = facts.host, service.name
    vip = vip_for_service(facts.defs, group.name, service.name)
    found = []
    if vip.hostname:
        try:
            hosts_file.check_alias(facts.hosts_file, vip.hostname)
            found.append(ok(host, group.name, member, "ip.alias",
                            f"alias {vip.hostname} is free or s2s-sd's own in "
                            f"{facts.hosts_file}"))
        except (Refused, OperationFailed) as exc:
            found.append(fail(host, group.name, member, "ip.alias", str(exc)))
    try:
        here = facts.vip_present(vip)
    except (BadInput, OperationFailed) as exc:  # a declared interface that is not here
        found.append(fail(host, group.name, member, "ip.interface", str(exc)))
        return found, False
    if not here:
        return found, True
    if group.name in facts.running:
        found.append(ok(host, group.name, member, "ip.answered",
                        f"{vip.text} is up here: the group runs here"))
    else:
        found.append(fail(host, group.name, member, "ip.answered",
                          f"{vip.text} is on an interface here although the group does "
                          "not run here"))
    return found, False


def probe_vip(facts: HostFacts, group: Group, service: IpService
              ) -> tuple[list[Finding], VipAnswer | None]:
    """The interface the VIP would go on, and who answers for it on that segment."""
    host, member = facts.host, service.name
    vip = vip_for_service(facts.defs, group.name, service.name)
    try:
        mac = facts.who_answers(vip, host_group_vips(facts.defs))
    except (BadInput, OperationFailed) as exc:
        return [fail(host, group.name, member, "ip.interface", str(exc))], None
    where = (f"interface {vip.interface}" if vip.interface
             else "the interface of its connected route")
    return ([ok(host, group.name, member, "ip.interface", f"{where} is up for {vip.text}")],
            VipAnswer(host, group.name, member, vip.text, mac))
