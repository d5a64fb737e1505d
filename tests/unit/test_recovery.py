"""The systemd engine's local recovery decision (recovery.py), one case per branch, and
how the definitions' readiness keys reach the units (render/systemd.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from s2s_sd.load import load_definitions
from s2s_sd.load_services import parse_host_port
from s2s_sd.model import Engine, ExecService, Group, Origin, ReadyCheck
from s2s_sd.recovery import Action, Situation, decide, in_window, thresholds
from s2s_sd.render.systemd import render_units

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEALTHY = Situation(was_ready=True, frozen=False, group_active=True, assigned_here=True,
                    failures=(1000.0,), now=1000.0)


@pytest.mark.parametrize(("change", "action", "reason"), [
    ({}, Action.RESTART, "failure 1 of 3: restarting it and the members after it"),
    ({"failures": (900.0, 950.0, 1000.0)}, Action.GIVE_UP,
     "3 failures within 600 s reach migration_threshold 3"),
    # a failure older than failure_timeout no longer counts
    ({"failures": (300.0, 950.0, 1000.0)}, Action.RESTART, "failure 2 of 3"),
    ({"frozen": True}, Action.HOLD, "frozen"),
    ({"frozen": True, "was_ready": False}, Action.HOLD, "frozen"),
    ({"was_ready": False}, Action.GIVE_UP, "it failed to start"),
    ({"group_active": False}, Action.HOLD, "not up here"),
    ({"assigned_here": False}, Action.GIVE_UP, "not assigned to this host"),
])
def test_decision(change: dict[str, object], action: Action, reason: str) -> None:
    decision = decide(replace(HEALTHY, **change), threshold=3, window=600)  # type: ignore[arg-type]
    assert decision.action is action
    assert reason in decision.reason


def test_threshold_zero_never_gives_up_and_window_zero_never_forgets() -> None:
    many = replace(HEALTHY, failures=tuple(float(t) for t in range(1000)), now=1000.0)
    assert decide(many, threshold=0, window=600).action is Action.RESTART
    assert decide(many, threshold=5, window=0).action is Action.GIVE_UP
    assert in_window((1.0, 2.0), 10**9, 0) == (1.0, 2.0)


def test_a_threshold_of_one_gives_up_at_the_first_failure() -> None:
    assert decide(HEALTHY, threshold=1, window=600).action is Action.GIVE_UP


def test_defaults_of_the_systemd_engine() -> None:
    group = Group(name="g", origin=Origin("s2s.toml", 1))
    assert thresholds(group) == (3, 3600)
    assert thresholds(replace(group, migration_threshold=0, failure_timeout=0)) == (0, 0)


@pytest.mark.parametrize(("text", "parsed"), [
    ("127.0.0.1:5432", ("127.0.0.1", 5432)),
    ("[::1]:80", ("::1", 80)),
    ("db.example:1", ("db.example", 1)),
    ("127.0.0.1:0", "port 0 must be 1..65535"),
    ("[zz]:80", "must be HOST:PORT"),
    ("[fe80::x]:80", "must be HOST:PORT"),
    ("[1::2::3]:80", "is not an IPv6 address"),
    ("::1:80", "must be HOST:PORT"),
])
def test_host_port(text: str, parsed: tuple[str, int] | str) -> None:
    result = parse_host_port(text)
    if isinstance(parsed, tuple):
        assert result == parsed
    else:
        assert isinstance(result, str) and parsed in result


def _web_app(**settings: object) -> str:
    """The unit of the examples' exec member web/httpd with other settings."""
    defs = load_definitions(EXAMPLES, "n1")
    group = defs.group("web")
    assert group is not None
    services = tuple(replace(s, **settings) if isinstance(s, ExecService) else s  # type: ignore[arg-type]
                     for s in group.services)
    groups = tuple(replace(g, services=services) if g.name == "web" else g for g in defs.groups)
    return render_units(replace(defs, groups=groups))["s2s-web-httpd.service"]


def test_exec_readiness_in_the_unit() -> None:
    plain = _web_app()
    assert "Type=exec\n" in plain
    assert "ExecStartPost=+/usr/bin/s2s-sd --basedir /etc/s2s-sd member ready web httpd\n" in plain
    notify = _web_app(notify=True)
    assert "Type=notify\n" in notify and "ExecStartPost=" not in notify
    checked = _web_app(ready=ReadyCheck(tcp=("127.0.0.1", 8081), origin=Origin("x", 1)))
    assert "member ready web httpd" in checked
    # every exec member of the systemd engine recovers locally, after a failure only
    assert "Restart=on-failure\n" in plain
    stop_post = next(ln for ln in plain.splitlines() if ln.startswith("ExecStopPost="))
    assert '$$SERVICE_RESULT\\" = success' in stop_post and stop_post.endswith(
        "member failed web httpd")


def test_pacemaker_units_are_ready_checked_but_never_restarted_by_systemd() -> None:
    defs = load_definitions(EXAMPLES, "n1")
    pacemaker = replace(defs, hostgroup=replace(defs.hostgroup, engine=Engine.PACEMAKER))
    unit = render_units(pacemaker)["s2s-web-httpd.service"]
    assert "Restart=no\n" in unit and "ExecStopPost" not in unit
    # no declared readiness: the agent's own settle, no extra wait
    assert "ExecStartPost" not in unit
    groups = tuple(replace(g, services=tuple(
        replace(s, ready=ReadyCheck(tcp=("127.0.0.1", 80), origin=Origin("x", 1)))
        if isinstance(s, ExecService) else s for s in g.services)) for g in pacemaker.groups)
    unit = render_units(replace(pacemaker, groups=groups))["s2s-web-httpd.service"]
    assert "member ready web httpd" in unit and "Watchdog" not in unit


def test_a_failed_vip_down_does_not_skip_the_failure_handling() -> None:
    """systemd runs a unit's ExecStopPost= lines in turn and stops at the first that fails
    unless it is `-`-prefixed: an ip member's `vip down` after an unclean stop comes first
    (the VIP goes before the decision to restart or give up), and its failure must not
    keep `member failed` (the notify hook, migration_threshold) from running."""
    unit = render_units(load_definitions(EXAMPLES, "n1"))["s2s-web-vip.service"]
    stop_posts = [ln for ln in unit.splitlines() if ln.startswith("ExecStopPost=")]
    assert len(stop_posts) == 2
    assert stop_posts[0].startswith("ExecStopPost=-/bin/sh ")
    assert stop_posts[0].endswith("vip down web vip")
    assert stop_posts[1].endswith("member failed web vip")
