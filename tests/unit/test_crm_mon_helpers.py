"""The Pacemaker engine's pure helpers: move constraints (as crm_resource writes them),
Pacemaker dates, and the engine switch in s2s.toml (lifetimes: test_durations.py)."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest
from lxml import etree

from s2s_sd.engines.pacemaker.crm_mon import cli_constraints, format_crm_date, parse_crm_date
from s2s_sd.engines.pacemaker.crm_tools import prefer_constraint
from s2s_sd.engines.pacemaker.migrate import set_engine_text
from s2s_sd.errors import BadInput
from s2s_sd.model import Engine
from s2s_sd.naming import prefer_id
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit


def test_pacemaker_dates_round_trip() -> None:
    when = dt.datetime(2026, 1, 31, 11, 0, 5, tzinfo=dt.UTC)
    assert format_crm_date(when) == "2026-01-31 11:00:05 +00:00"
    assert parse_crm_date("2026-01-31 11:00:05 +00:00") == when
    assert parse_crm_date("2026-01-31 12:00:05 +01:00") == when
    assert parse_crm_date("2026-01-31T11:00:05Z") == when
    assert parse_crm_date("2026-01-31") == dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
    assert parse_crm_date("yesterday") is None


def test_move_constraint_is_what_crm_resource_writes() -> None:
    element = etree.fromstring(prefer_constraint("web", "n1"))
    assert element.attrib == {"id": "cli-prefer-web", "rsc": "web", "role": "Started",
                              "node": "n1", "score": "INFINITY"}
    assert prefer_id("web") == "cli-prefer-web"
    (found,) = cli_constraints(f"<constraints>{prefer_constraint('web', 'n1')}</constraints>")
    assert (found.kind, found.rsc, found.node, found.expires) == ("prefer", "web", "n1", None)


def test_move_constraint_with_a_lifetime_expires() -> None:
    end = dt.datetime(2026, 1, 31, 11, 0, tzinfo=dt.UTC)
    xml = prefer_constraint("ora", "n3", end)
    element = etree.fromstring(xml)
    assert element.find("rule/expression").get("value") == "n3"
    assert element.find("rule/date_expression").get("end") == "2026-01-31 11:00:00 +00:00"
    (found,) = cli_constraints(f"<cib><configuration><constraints>{xml}</constraints>"
                               "</configuration></cib>")
    assert found.node == "n3" and found.expires == end
    assert not found.expired(end - dt.timedelta(seconds=1))
    assert found.expired(end)
    assert "until 2026-01-31T11:00:00+00:00" in found.describe(end - dt.timedelta(hours=1))
    assert "(expired)" in found.describe(end)


def test_only_cli_constraints_are_reported() -> None:
    xml = ("<constraints>"
           '<rsc_location id="s2s-sd-location-web-n3" rsc="web" node="n3" score="20"/>'
           '<rsc_location id="cli-ban-web-on-n1" rsc="web" node="n1" score="-INFINITY"/>'
           '<rsc_location id="mine" rsc="web" node="n1" score="5"/>'
           "</constraints>")
    (found,) = cli_constraints(xml)
    assert (found.id, found.kind, found.node) == ("cli-ban-web-on-n1", "ban", "n1")
    assert found.describe() == "cli-ban-web-on-n1 (bans it from n1)"


def test_engine_switch_changes_one_line() -> None:
    text = (EXAMPLES / "s2s.toml").read_text()
    switched = set_engine_text(text, Engine.PACEMAKER)
    assert tomllib.loads(switched)["hostgroup"]["engine"] == "pacemaker"
    changed = [(a, b) for a, b in zip(text.splitlines(), switched.splitlines(), strict=True)
               if a != b]
    assert len(changed) == 1
    assert changed[0][0].startswith('engine = "systemd"')
    assert changed[0][1] == changed[0][0].replace('"systemd"', '"pacemaker"')
    assert set_engine_text(switched, Engine.SYSTEMD) == text


def test_engine_switch_adds_the_line_when_missing() -> None:
    text = '# site\n[hostgroup]\nname = "c07"\nhosts = ["a", "b"]\n\n[groups.x]\n'
    switched = set_engine_text(text, Engine.PACEMAKER)
    assert switched == ('# site\n[hostgroup]\nengine = "pacemaker"\nname = "c07"\n'
                        'hosts = ["a", "b"]\n\n[groups.x]\n')
    # an engine key of another table is not the host group's
    other = '[hostgroup]\nname = "c07"\n[groups.x]\nengine = "x"\n'
    assert tomllib.loads(set_engine_text(other, Engine.SYSTEMD))["hostgroup"]["engine"] == \
        "systemd"
    with pytest.raises(BadInput):
        set_engine_text("[groups.x]\n", Engine.SYSTEMD)
