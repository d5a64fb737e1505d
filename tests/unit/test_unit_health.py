"""observation.parse_systemctl_show: a member's restart count and last failure from
`systemctl show -p Id,NRestarts,Result,ExecMainCode,ExecMainStatus` (systemd 252's
output, one block per unit); observe.member_health: which units systemd is asked about."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from s2s_sd.hosts.observe import member_health
from s2s_sd.observation import UnitHealth, parse_systemctl_show

pytestmark = pytest.mark.unit

SHOWN = """Id=s2s-web-httpd.service
NRestarts=2
Result=signal
ExecMainCode=2
ExecMainStatus=9

Id=s2s-web-vip.service
NRestarts=0
Result=success
ExecMainCode=1
ExecMainStatus=0

Id=s2s-web-app.service
NRestarts=[not set]
Result=exit-code
ExecMainCode=1
ExecMainStatus=3

Id=s2s-web-mount.service
NRestarts=0
Result=timeout
ExecMainCode=0
ExecMainStatus=0
"""


def test_restarts_and_the_reason_of_the_last_failure() -> None:
    assert parse_systemctl_show(SHOWN) == {
        "s2s-web-httpd.service": UnitHealth(2, "signal (killed, signal 9)"),
        "s2s-web-vip.service": UnitHealth(0, None),
        "s2s-web-app.service": UnitHealth(0, "exit-code (exited, status 3)"),
        "s2s-web-mount.service": UnitHealth(0, "timeout"),
    }


def test_nothing_shown_is_nothing_known() -> None:
    assert parse_systemctl_show("") == {}
    assert parse_systemctl_show("NRestarts=1\n") == {}


def test_it_travels_as_a_dict() -> None:
    health = UnitHealth(4, "exit-code (exited, status 1)")
    assert UnitHealth.from_dict(health.as_dict()) == health


def test_systemd_is_asked_only_about_the_units_it_has_loaded() -> None:
    asked: list[list[str]] = []

    def show(units: Sequence[str]) -> dict[str, UnitHealth]:
        asked.append(list(units))
        return {"s2s-web-httpd.service": UnitHealth(2, "signal (killed, signal 9)")}

    health = member_health(["s2s-web-httpd.service", "s2s-idle-app.service"],
                           {"s2s-web-httpd.service": "active", "s2s-web.target": "active"},
                           show)
    # a unit systemd has not loaded has neither restarts nor a failure: asking would make
    # systemd load it from disk and answer just that
    assert asked == [["s2s-web-httpd.service"]]
    assert health == {"s2s-web-httpd.service": UnitHealth(2, "signal (killed, signal 9)"),
                      "s2s-idle-app.service": UnitHealth()}


def test_when_systemd_cannot_say_nothing_is_known() -> None:
    assert member_health(["s2s-web-httpd.service"], {"s2s-web-httpd.service": "failed"},
                         lambda units: {}) == {}
    # nothing loaded: nothing to ask, and nothing ran
    assert member_health(["s2s-idle-app.service"], {}, lambda units: {}) == {
        "s2s-idle-app.service": UnitHealth()}
