"""The systemd engine's requests about one group to one host, as the moves use them: start
and stop (timed, with the host's own phases and each member's time; a start's members
reported as they come up), the pre- and post-move hooks, the VIP probe, and the proof that
a group runs nowhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from s2s_sd.errors import Refused
from s2s_sd.hosts.session import HostGroupSession
from s2s_sd.hosts.start_watch import member_progress
from s2s_sd.hosts.transport import Transport
from s2s_sd.model import Group


class GroupRequests:
    """Requests about a group to its hosts, over a host-group session."""

    def __init__(self, session: HostGroupSession, watcher: Transport | None = None) -> None:
        self.session = session
        # a second transport that polls the member states while a start runs
        # (hosts/start_watch.py), for a line per member as it comes up
        self.watcher = watcher

    def start(self, group: Group, host: str, generation: int) -> dict[str, Any]:
        if self.watcher is None:
            return self.group_op("start", group, host, generation)
        with member_progress(self.watcher, group, host,
                             self.session.progress) as seen_by_start:
            result = self.group_op("start", group, host, generation)
            seen_by_start(result.get("observation"))
            return result

    def stop(self, group: Group, host: str, generation: int) -> dict[str, Any]:
        return self.group_op("stop", group, host, generation)

    def group_op(self, verb: str, group: Group, host: str, generation: int
                 ) -> dict[str, Any]:
        """start_group or stop_group on host, timed: the request as the admin saw it,
        then what the host measured (its phases, each unit's own start or stop)."""
        timings = self.session.timings
        with timings.step(f"{verb} {group.name}", host):
            result = self.session.transport.call(
                host, f"{verb}_group", {"group": group.name, "generation": generation},
                timeout=3600)
        for phase, seconds in dict(result.get("phases") or {}).items():
            timings.add(phase, host, float(seconds), detail=True)
        timings.add_members(host, dict(result.get("seconds") or {}),
                            "started" if verb == "start" else "stopped")
        return result

    def hook(self, group: Group, which: str, host: str, source: str | None,
             target: str) -> None:
        if getattr(group, which) is None:
            return
        name = which.replace("_", "-")
        self.session.progress(f"[{host}] {name} hook {getattr(group, which)}")
        with self.session.timings.step(f"{name} hook", host):
            self.session.transport.call(host, "run_hook", {
                "group": group.name, "which": which, "source": source, "target": target})

    def probe(self, group: Group, host: str) -> dict[str, str | None]:
        answers: dict[str, str | None] = self.session.transport.call(
            host, "probe_vips", {"group": group.name})["answers"]
        return answers

    def verify_nowhere(self, group: Group, target: str, skip: Sequence[str] = (),
                       admin_probe: bool = True) -> None:
        """Nothing of the group runs on any host asked, and nobody answers ARP/ND for its
        VIPs. admin_probe False: a move whose source is proven down, of a group whose VIP
        members all come first: their own probes on the target are that proof
        (plan.vips_lead, decided by move_plan.py)."""
        asked = [h for h in self.session.hosts if h not in skip]
        seen, lost = self.session.observe(group.name, asked, scripts=True)
        if lost:
            # reachable when the operation began, not now: it may still run the group there
            # (only the hosts the operation already found unreachable are in SKIP)
            raise Refused(f"{', '.join(lost)} could not be asked: cannot prove {group.name} "
                          f"is not active there{self.session.why(lost)}")
        still = {h: o.active_parts for h, o in seen.items() if o.active}
        if still:
            raise Refused("the group is still active: " + "; ".join(
                f"{h}: {', '.join(parts)}" for h, parts in still.items()))
        if not admin_probe:
            return  # each VIP's own probe proves it, before anything of the group starts
        answering = {a: mac for a, mac in self.probe(group, target).items() if mac}
        if answering:
            raise Refused("somebody still answers for the VIPs: " + ", ".join(
                f"{a} by MAC {mac}" for a, mac in answering.items()))
