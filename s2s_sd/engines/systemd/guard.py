"""The guard's cross-host question (systemd engine): may GROUP start on this host?

`s2s-guard@GROUP.service` runs `s2s-sd guard GROUP` before the group's first member,
whoever starts the group (boot, `systemctl start`, s2s-sd). Without a current journal of
a move to this host it asks every other host whether the group is active there, and
refuses when one is or cannot be asked; a move's own start is vouched for by its journal
(hosts/move_vouch.py, which also lets the unit's helper skip this program for a move).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from s2s_sd.engines.systemd.units import system_booting
from s2s_sd.errors import Refused
from s2s_sd.hosts import freeze, state
from s2s_sd.hosts import lock as locks
from s2s_sd.hosts.move_vouch import Clock, PidAlive, move_vouches
from s2s_sd.model import Definitions
from s2s_sd.observation import GroupObservation
from s2s_sd.plan import guard_verdict

if TYPE_CHECKING:
    from s2s_sd.hosts.transport import Transport


def guard(defs: Definitions, basedir: Path, host: str, group_name: str,
          transport: Transport | None = None, clock: Clock = time.time,
          pid_alive: PidAlive = locks.process_alive,
          booting: Callable[[], bool] = system_booting) -> str:
    """Return why `group_name` may start on this host, or raise Refused.

    Without a current journal of a move to this host (hosts/move_vouch.py), every other
    host is asked in one round trip: what runs there (the guard unit included, so two
    guards racing both refuse), its assignments (the newest epoch wins over this host's,
    which may have missed a move while it was down), its journals and its admin lock."""
    # the session (and with it the agent's operations) only for a start no move vouches
    # for: a move's guard stays a light import
    from s2s_sd.engines.in_process import open_session

    hostgroup = defs.hostgroup.name
    if freeze.is_frozen(hostgroup, group_name) and booting():
        # frozen: s2s-sd starts nothing of it, so neither does boot; a start by hand (the
        # operator's maintenance) goes on to the checks below: never two actives
        mark = freeze.read_marks(hostgroup).get(group_name)
        raise Refused(f"{group_name} is frozen ({mark.describe() if mark else 'marked'}): "
                      f"not started at boot; unfreeze it first (`s2s-sd unfreeze "
                      f"{group_name}`)")
    vouched = move_vouches(defs, host, group_name, clock, pid_alive)
    if vouched is not None:
        return vouched  # the admin proved the group down everywhere just before
    local = state.read_assignment_state(hostgroup)
    verdict = guard_verdict(defs, group_name, host, local.groups)
    if not verdict.allowed:
        raise Refused(verdict.reason)
    with open_session(defs, basedir, host, transport=transport, clock=clock) as session:
        peers = [h for h in session.hosts if h != host]
        answers = session.transport.ask_many(peers, "observe", {
            "groups": [group_name], "scripts": True, "hostgroup": hostgroup})
    unreachable = [h for h, a in answers.items() if not a.ok]
    if unreachable:
        raise Refused(f"{', '.join(unreachable)} unreachable: cannot prove {group_name} is "
                      "not active there (start it with `s2s-sd start` once they answer, or "
                      "move it with --force)")
    newest = local
    active = []
    for peer, answer in answers.items():
        value = answer.value()
        peer_state = value["state"]
        if int(peer_state["epoch"]) > newest.epoch:
            newest = state.Assignments(int(peer_state["epoch"]), dict(peer_state["assignments"]))
        for raw in peer_state.get("journals", []):
            if raw.get("group") == group_name:
                raise Refused(f"a move of {group_name} is journaled on {peer}")
        held = peer_state.get("lock")
        if held and (held["operation"] == "sync" or group_name in held["operation"].split()):
            raise Refused(f"an admin operation is in progress: {held['operation']!r} by "
                          f"{held['host']}")
        if GroupObservation.from_dict(value["groups"][group_name]).active:
            active.append(peer)
    if active:
        raise Refused(f"{group_name} is active on {', '.join(active)}")
    verdict = guard_verdict(defs, group_name, host, newest.groups)
    if not verdict.allowed:
        raise Refused(verdict.reason)
    return verdict.reason + "; not active on " + (", ".join(peers) or "any other host")
