"""The per-host watcher (`s2s-sd watch`, run by s2s-watch.service on every host of a
systemd-engine host group): concurrency violations, noticed continuously.

Every WATCH_INTERVAL seconds it observes this host's groups (units, VIPs, mounts: no
script `status` runs, to stay cheap) and, for each group of which anything is active
here, asks the other hosts over the agent sessions it keeps open (one `observe` request
per host and round, no new ssh connection or process start) whether it is active there
too, and asks who answers ARP/ND for each of the group's VIPs (0.3 s each; from an
address of its own, never as a duplicate probe a move's target would count). A
violation is seen within WATCH_INTERVAL + the round's time (< 10 s, the documented bound)
on every host that runs any of the group, so a by-hand VIP on a second host raises the
alarm on both.

What it sees is recorded in the state dir (health_records.WATCH_FILE, read by `status`
through the `state` request); a new violation is an event (actions.log and the notify
hook), and so is its end. With `on_concurrency = "stop"` the host the group is not
assigned to stops its own instance, but only when the host it is assigned to really runs
it (so two hosts with different ideas of the assignment never both stop it), and never a
frozen group.

A host that cannot be asked is no violation: the moves and the guard refuse on it, and
`status` shows it unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from s2s_sd.engines.net.ops import vip_down, who_answers
from s2s_sd.engines.net.vip import host_group_vips, vip_for_service
from s2s_sd.errors import S2SError
from s2s_sd.hosts import events, freeze, health_records, state, sync
from s2s_sd.hosts.health_records import Violation
from s2s_sd.hosts.transport import Transport
from s2s_sd.model import Definitions, Group, IpService, MountService
from s2s_sd.naming import group_units
from s2s_sd.observation import GroupObservation
from s2s_sd.plan import assigned_host

WATCH_INTERVAL = 5.0
PEER_TIMEOUT = 4.0  # a peer that takes longer is skipped this round (and reconnected)
SESSION_ROUNDS = 60  # reopen the sessions every 5 minutes: a peer's agent keeps old defs

ACTIVE_ELSEWHERE = "active_elsewhere"
VIP_ANSWERED = "vip_answered"

Observer = Callable[[Definitions, Sequence[str]], Mapping[str, GroupObservation]]
Prober = Callable[[Definitions, str, str], str | None]  # (defs, group, service) -> MAC
Stopper = Callable[[Definitions, Group], str]


@dataclass(frozen=True)
class RoundResult:
    violations: tuple[Violation, ...]
    new: tuple[Violation, ...] = ()
    ended: tuple[Violation, ...] = ()
    stopped: tuple[str, ...] = ()  # "GROUP: what was stopped"


@dataclass
class Watcher:
    """One host's watcher; the I/O is injectable so the unit tier runs its decisions."""

    defs: Definitions
    basedir: Path
    host: str
    transport: Transport
    observer: Observer
    prober: Prober
    stopper: Stopper
    clock: Callable[[], float] = time.time
    previous: dict[tuple[str, str, str], Violation] = field(default_factory=dict)

    def round(self) -> RoundResult:
        hostgroup = self.defs.hostgroup.name
        now = self.clock()
        here = self.observer(self.defs, [g.name for g in self.defs.groups])
        active = [g for g in self.defs.groups if g.name in here and here[g.name].active]
        peers = [h for h in self.defs.hostgroup.host_names if h != self.host]
        elsewhere = self._elsewhere(active, peers)
        found: list[Violation] = []
        for group in active:
            others = elsewhere.get(group.name, [])
            if others:
                found.append(Violation(
                    group.name, self.host, ACTIVE_ELSEWHERE,
                    f"{group.name} is active on {self.host} and on {', '.join(others)}",
                    now))
            # every VIP of a group active here: another host answering for it is a
            # rogue whether this host holds the address yet or not (our own kernel does
            # not answer our own probe)
            for service in group.services:
                if isinstance(service, IpService):
                    mac = self.prober(self.defs, group.name, service.name)
                    if mac:
                        found.append(Violation(
                            group.name, self.host, VIP_ANSWERED,
                            f"{service.address} of {group.name} (active on {self.host}) is "
                            f"answered by another host too, MAC {mac}", now))
        # a violation keeps the time it was first seen
        current = {v.key: self.previous.get(v.key, v) for v in found}
        new = tuple(v for k, v in current.items() if k not in self.previous)
        ended = tuple(v for k, v in self.previous.items() if k not in current)
        stopped = self._react(active, elsewhere, current.values())
        self.previous = current
        health_records.write_violations(hostgroup, list(current.values()), now)
        hook = events.notify_hook(self.defs, self.basedir)
        for violation in new:
            events.emit(hostgroup, events.Event("concurrency", violation.group, None,
                                                self.host, violation.message), hook,
                        self.basedir)
        for violation in ended:
            events.emit(hostgroup, events.Event("concurrency-ended", violation.group, None,
                                                self.host, violation.message), hook,
                        self.basedir)
        for line in stopped:
            group_name = line.split(":", 1)[0]
            events.emit(hostgroup, events.Event("concurrency-stopped", group_name, None,
                                                self.host, line), hook, self.basedir)
        return RoundResult(tuple(current.values()), new, ended, tuple(stopped))

    def _elsewhere(self, active: Sequence[Group], peers: Sequence[str]
                   ) -> dict[str, list[str]]:
        """group -> the other hosts on which it is active (those that answered)."""
        if not active or not peers:
            return {}
        names = [g.name for g in active]
        answers = self.transport.ask_many(peers, "observe",
                                          {"groups": names, "scripts": False},
                                          timeout=PEER_TIMEOUT)
        found: dict[str, list[str]] = {}
        for peer, answer in answers.items():
            if not answer.ok:
                continue
            for name, raw in answer.value().get("groups", {}).items():
                if name in names and GroupObservation.from_dict(raw).active:
                    found.setdefault(name, []).append(peer)
        return found

    def _react(self, active: Sequence[Group], elsewhere: Mapping[str, list[str]],
               violations: object) -> list[str]:
        """on_concurrency = "stop": stop this host's instance of a group that runs on its
        assigned host (another one) too; never a frozen group."""
        if self.defs.hostgroup.on_concurrency != "stop" or not violations:
            return []
        hostgroup = self.defs.hostgroup.name
        assignments = state.read_assignments(hostgroup)
        stopped = []
        for group in active:
            assigned = assigned_host(group, assignments)
            if assigned == self.host or assigned not in elsewhere.get(group.name, []):
                continue
            if freeze.is_frozen(hostgroup, group.name):
                continue
            stopped.append(f"{group.name}: {self.stopper(self.defs, group)} (it runs on "
                           f"{assigned}, where it is assigned)")
        return stopped


# -- the real I/O ----------------------------------------------------------------------------

def observe_here(defs: Definitions, groups: Sequence[str]) -> Mapping[str, GroupObservation]:
    from s2s_sd.hosts.observe import observe

    return observe(defs, "", list(groups), scripts=False)


def probe_vip(defs: Definitions, group: str, service: str) -> str | None:
    # asked as a checker, not probed: a move's target probing for the address at the
    # same moment (the group stopped here mid-round) must not take this for a rival
    return who_answers(vip_for_service(defs, group, service),
                       checking_among=host_group_vips(defs))


def stop_here(defs: Definitions, group: Group) -> str:
    """Stop the group's units here, then what is still up of it here whoever brought it
    up (an address added or a disk mounted by hand is the rogue instance's too): its VIPs
    removed, its mounts unmounted the way its mount members do it, in reverse order."""
    from s2s_sd import paths
    from s2s_sd.engines.systemd.units import reset_failed, systemctl
    from s2s_sd.hosts.observe import mounted_paths
    from s2s_sd.run import run

    units = group_units(group)
    ok, message = systemctl("stop", units, 120)
    reset_failed(units)
    removed = []
    for service in reversed(group.services):
        if isinstance(service, MountService) and service.mountpoint in mounted_paths():
            unmounted = run([f"{paths.helper_dir()}/s2s-mount", "stop", service.device,
                             service.mountpoint, service.fstype,
                             service.options or "defaults"],
                            check=False, timeout=(service.stop_timeout or 90) + 30)
            removed.append(f"unmounted {service.mountpoint}" if unmounted.ok else
                           f"{service.mountpoint} NOT unmounted (exit "
                           f"{unmounted.returncode})")
        if isinstance(service, IpService):
            vip = vip_for_service(defs, group.name, service.name)
            try:
                result = vip_down(vip, force=True)
            except S2SError as exc:
                removed.append(f"{service.address} NOT removed ({exc})")
                continue
            if result.action == "removed":
                removed.append(f"removed {service.address}")
    return "stopped its units" + ("" if ok else f" (systemctl: {message})") + (
        "; " + ", ".join(removed) if removed else "")


def run_forever(defs_loader: Callable[[], Definitions], basedir: Path, host: str,
                make_transport: Callable[[Definitions], Transport],
                interval: float = WATCH_INTERVAL, rounds: int | None = None) -> None:
    """Round after round until killed (rounds: a limit, for `watch --once`)."""
    defs = defs_loader()
    generation = sync.read_generation(defs.hostgroup.name).number
    watcher = Watcher(defs, basedir, host, make_transport(defs), observe_here, probe_vip,
                      stop_here)
    done = 0
    try:
        while rounds is None or done < rounds:
            started = time.monotonic()
            try:
                watcher.round()
            except S2SError as exc:  # one bad round (systemd busy, netlink): say, go on
                state.log_action(defs.hostgroup.name, host, f"watch round failed: {exc}")
            done += 1
            now_generation = sync.read_generation(defs.hostgroup.name).number
            if now_generation != generation or done % SESSION_ROUNDS == 0:
                # new definitions here (sync), or time to reopen the peers' sessions
                watcher.transport.close()
                defs = defs_loader()
                generation = now_generation
                watcher = Watcher(defs, basedir, host, make_transport(defs), observe_here,
                                  probe_vip, stop_here, previous=watcher.previous)
            if rounds is None or done < rounds:
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        watcher.transport.close()
