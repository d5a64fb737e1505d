"""Issue 17 items 16 and 17 without the cluster tools: s2s-sd's part of the CIB is named
by a Pacemaker tag (no meta attribute crmsh calls unknown), CIBs marked the old way are
taken over, the allowed-hosts rule only where it says something, the schema as a
setting, timeouts below an agent's advice reported."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from s2s_sd.cli import main
from s2s_sd.engines.pacemaker.cib import managed_ids, merge
from s2s_sd.engines.pacemaker.cib_tools import parse_cib
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions
from s2s_sd.naming import managed_tag_id
from s2s_sd.render.pacemaker import (
    LEGACY_MANAGED_META,
    PacemakerSettings,
    build_cib,
    to_text,
    warnings,
)
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

LEGACY_CIB = Path(__file__).parent.parent / "tools" / "fixtures" / "cib_meta_marks.xml"


def examples() -> Definitions:
    return load_definitions(EXAMPLES, "n1")


def rules(root: etree._Element) -> list[str]:
    return [str(c.get("rsc")) for c in root.iterfind("configuration/constraints/rsc_location")
            if c.find("rule") is not None]


def test_tag_names_every_top_level_resource_and_nothing_else_marks() -> None:
    root = build_cib(examples())
    assert managed_tag_id("c07") == "s2s-sd-c07"
    tag = root.find("configuration/tags/tag[@id='s2s-sd-c07']")
    assert tag is not None
    assert [r.get("id") for r in tag] == [r.get("id") for r in
                                          root.iterfind("configuration/resources/*")]
    assert LEGACY_MANAGED_META not in to_text(root)
    assert managed_ids(root.find("configuration"), "c07") == {"censhare", "ora", "web"}
    assert managed_ids(root.find("configuration"), "c08") == set()


def test_no_tag_without_resources() -> None:
    defs = replace(examples(), groups=())
    assert build_cib(defs).find("configuration/tags") is None


def test_legacy_marks_are_recognised_and_replaced() -> None:
    legacy = parse_cib(LEGACY_CIB.read_text(), "fixture")
    assert managed_ids(legacy.find("configuration"), "c07") == {"censhare", "ora", "web"}
    result = merge(legacy, examples(), PacemakerSettings(basedir="/etc/s2s-sd"))
    assert sorted(c for c in result.changes if not c.startswith("remove constraint")) == [
        "add tag s2s-sd-c07", "update resource censhare", "update resource ora",
        "update resource web"]
    merged = etree.tostring(result.cib, encoding="unicode")
    assert LEGACY_MANAGED_META not in merged
    again = merge(result.cib, examples(), PacemakerSettings(basedir="/etc/s2s-sd"))
    assert not again.changed


def test_legacy_marks_of_another_host_group_are_not_ours() -> None:
    legacy = parse_cib(LEGACY_CIB.read_text().replace('value="c07"', 'value="c08"'),
                       "fixture")
    assert managed_ids(legacy.find("configuration"), "c07") == set()


def test_allowed_hosts_rule_only_where_it_keeps_a_group_off_a_node() -> None:
    defs = examples()
    assert rules(build_cib(defs)) == ["web"]  # web: n3, n1 of n1..n3
    wider = PacemakerSettings(other_nodes=("quorum1",))
    assert rules(build_cib(defs, wider)) == ["censhare", "ora", "web"]


def test_schema_is_a_setting() -> None:
    root = build_cib(examples(), PacemakerSettings(validate_with="pacemaker-3.9"))
    assert root.get("validate-with") == "pacemaker-3.9"
    assert build_cib(examples()).get("validate-with") == "pacemaker-3.0"  # golden output


def test_bad_schema_is_bad_input(basedir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "pacemaker", "--basedir", str(basedir),
                                       "--host", "n1", "--out", str(out),
                                       "--validate-with", "3.9"])
    assert result.exit_code == 2
    assert "--validate-with '3.9': not a Pacemaker schema name" in result.stderr
    assert not out.exists()
    result = CliRunner().invoke(main, ["generate", "pacemaker", "--basedir", str(basedir),
                                       "--host", "n1", "--out", str(out),
                                       "--validate-with", "pacemaker-3.7"])
    assert result.exit_code == 0, result.output
    assert 'validate-with="pacemaker-3.7"' in (out / "cib.xml").read_text()


def test_timeouts_below_the_agents_advice_are_reported() -> None:
    said = [w for w in warnings(examples()) if "advises" in w]
    assert said == ["s2s.toml:38: groups.censhare.services.data.stop_timeout: 30 s is below "
                    "the 60 s ocf:heartbeat:Filesystem advises"]
