"""The per-host watcher's decisions (hosts/watch.py), with the peers answered by a
scripted transport and this host's observation, probe and stop injected: what is a
violation, what is new or ended (events in actions.log), and when on_concurrency = "stop"
stops the instance here. The lab proves the real thing (tests/lab/test_health_ops.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from s2s_sd.hosts import freeze, health_records, state
from s2s_sd.hosts.watch import ACTIVE_ELSEWHERE, VIP_ANSWERED, Watcher
from s2s_sd.model import Definitions, Group
from s2s_sd.observation import GroupObservation
from tests.conftest import EXAMPLES
from tests.unit.fake_transport import Expect, ScriptedTransport, observation, ok, unreachable
from tests.unit.scenarios import (
    ASSIGNED,
    HOSTGROUP,
    MAC,
    NOW,
    definitions,
    group,
    local_state,
)

pytestmark = pytest.mark.unit

G = "censhare"  # assigned to n1


def on_host(how: Mapping[str, str]) -> dict[str, GroupObservation]:
    """This host's observation: group -> up/partial/down (default down)."""
    return {g.name: GroupObservation.from_dict(observation(g, how.get(g.name, "down")))
            for g in definitions().groups}


def peers_say(host: str, active: Mapping[str, str], asked: Sequence[str] = (G,)
              ) -> list[Expect]:
    """The other hosts' answers to the watcher's `observe` of the groups active here."""
    others = [h for h in ("n1", "n2", "n3") if h != host]
    return [Expect(h, "observe", {"groups": list(asked), "scripts": False},
                   unreachable() if active.get(h) == "unreachable" else ok(
                       {"host": h, "groups": {g: observation(group(g), active.get(h, "down"))
                                              for g in asked}}))
            for h in others]


class Host:
    """One host's watcher with everything it touches recorded."""

    def __init__(self, host: str, here: Mapping[str, str], defs: Definitions | None = None,
                 answering: str | None = None) -> None:
        self.defs = defs or definitions(host)
        self.transport = ScriptedTransport(self.defs, host)
        self.here = dict(here)
        self.stopped: list[str] = []
        self.watcher = Watcher(self.defs, EXAMPLES, host, self.transport,
                               lambda _d, _g: on_host(self.here),
                               lambda _d, _g, _s: answering, self.stop, clock=lambda: NOW)

    def stop(self, _defs: Definitions, stopped: Group) -> str:
        self.stopped.append(stopped.name)
        return "stopped its units"


def actions_log(root: Path) -> str:
    log = root.parent / "log" / "actions.log"
    return log.read_text() if log.exists() else ""


def test_nothing_active_here_asks_nobody() -> None:
    host = Host("n2", {})
    with local_state():
        assert host.watcher.round().violations == ()
        assert health_records.read_violations(HOSTGROUP) == []
    host.transport.verify()


def test_active_elsewhere_too_is_a_violation_once_then_its_end() -> None:
    host = Host("n1", {G: "up"})
    with local_state() as root:
        state.write_assignments(HOSTGROUP, dict(ASSIGNED))
        host.transport.expect(peers_say("n1", {"n3": "partial"}))
        first = host.watcher.round()
        assert [(v.kind, v.group, v.message) for v in first.violations] == [
            (ACTIVE_ELSEWHERE, G, "censhare is active on n1 and on n3")]
        assert first.new == first.violations
        assert health_records.read_violations(HOSTGROUP) == list(first.violations)
        assert "event concurrency censhare: censhare is active on n1 and on n3" in \
            actions_log(root)
        # still there: the same violation, not new, its first time kept
        host.transport.expect(peers_say("n1", {"n3": "partial"}))
        second = host.watcher.round()
        assert second.violations == first.violations and second.new == ()
        # gone: ended, recorded as such
        host.transport.expect(peers_say("n1", {}))
        third = host.watcher.round()
        assert third.violations == () and third.ended == first.violations
        assert "event concurrency-ended censhare" in actions_log(root)
        assert health_records.read_violations(HOSTGROUP) == []
    host.transport.verify()
    assert host.stopped == []  # on_concurrency defaults to "alarm"


def test_a_vip_answered_by_another_host_is_a_violation() -> None:
    host = Host("n1", {G: "up"}, answering=MAC)
    with local_state():
        host.transport.expect(peers_say("n1", {}))
        found = host.watcher.round().violations
    assert [(v.kind, v.message) for v in found] == [
        (VIP_ANSWERED, "192.168.77.21/24 of censhare (active on n1) is answered by another "
                       f"host too, MAC {MAC}")]


def test_an_unreachable_peer_is_no_violation() -> None:
    host = Host("n1", {G: "up"})
    with local_state():
        host.transport.expect(peers_say("n1", {"n2": "unreachable"}))
        assert host.watcher.round().violations == ()


def stopping(host: str) -> Definitions:
    defs = definitions(host)
    return dataclasses.replace(defs, hostgroup=dataclasses.replace(
        defs.hostgroup, on_concurrency="stop"))


def test_stop_option_stops_the_instance_where_it_is_not_assigned() -> None:
    rogue = Host("n3", {G: "partial"}, defs=stopping("n3"))
    with local_state() as root:
        state.write_assignments(HOSTGROUP, dict(ASSIGNED))
        rogue.transport.expect(peers_say("n3", {"n1": "up"}))
        result = rogue.watcher.round()
        assert rogue.stopped == [G]
        assert result.stopped == ("censhare: stopped its units (it runs on n1, where it is "
                                  "assigned)",)
        assert "event concurrency-stopped censhare" in actions_log(root)


def test_stop_option_never_stops_where_assigned_nor_a_frozen_group() -> None:
    assigned = Host("n1", {G: "up"}, defs=stopping("n1"))
    rogue = Host("n3", {G: "partial"}, defs=stopping("n3"))
    with local_state():
        state.write_assignments(HOSTGROUP, dict(ASSIGNED))
        assigned.transport.expect(peers_say("n1", {"n3": "partial"}))
        assert assigned.watcher.round().violations and assigned.stopped == []
        freeze.write_mark(HOSTGROUP, G, freeze.FrozenMark(NOW, "n1"))
        rogue.transport.expect(peers_say("n3", {"n1": "up"}))
        assert rogue.watcher.round().violations and rogue.stopped == []


def test_stop_option_does_nothing_when_the_assigned_host_does_not_run_it() -> None:
    """Two hosts with different ideas of the assignment must not both stop it."""
    rogue = Host("n3", {G: "partial"}, defs=stopping("n3"))
    with local_state():
        state.write_assignments(HOSTGROUP, dict(ASSIGNED))
        rogue.transport.expect(peers_say("n3", {"n2": "partial"}))
        assert rogue.watcher.round().violations and rogue.stopped == []
