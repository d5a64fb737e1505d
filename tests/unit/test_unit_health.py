"""observation.parse_systemctl_show: a member's restart count and last failure from
`systemctl show -p Id,NRestarts,Result,ExecMainCode,ExecMainStatus` (systemd 252's
output, one block per unit)."""

from __future__ import annotations

import pytest

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
