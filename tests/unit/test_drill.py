"""The fire drill's pure parts: who is asked, the judgements that need several hosts'
answers (VIP answers, clock skew), the table and its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2s_sd.drill import (
    SCHEMA_VERSION,
    DrillReport,
    Finding,
    Level,
    VipAnswer,
    age_text,
    clock_findings,
    drill_plan,
    drill_records,
    fail,
    last_drill_line,
    ok,
    render_table,
    vip_findings,
    warn,
)
from s2s_sd.errors import BadInput
from s2s_sd.hosts.drill_run import read_drill_records, record_drill
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def defs() -> Definitions:
    return load_definitions(EXAMPLES, "n1")


# -- who is asked ---------------------------------------------------------------------------

def test_plan_asks_every_allowed_host_of_every_group(defs: Definitions) -> None:
    assert drill_plan(defs, [], []) == {"n1": ["censhare", "ora", "web"],
                                        "n2": ["censhare", "ora"],
                                        "n3": ["censhare", "ora", "web"]}


def test_plan_narrowed_to_named_groups_and_hosts(defs: Definitions) -> None:
    assert drill_plan(defs, ["web"], []) == {"n1": ["web"], "n3": ["web"]}
    assert drill_plan(defs, ["ora", "web"], ["n3"]) == {"n3": ["ora", "web"]}


@pytest.mark.parametrize(("groups", "hosts", "message"), [
    (["nosuch"], [], "group 'nosuch' is not defined"),
    ([], ["n9"], "--host n9: not a host of host group c07"),
    (["web"], ["n2"], "nothing to drill"),
])
def test_plan_refuses_unknown_names(defs: Definitions, groups: list[str], hosts: list[str],
                                    message: str) -> None:
    with pytest.raises(BadInput, match=message):
        drill_plan(defs, groups, hosts)


# -- findings on the wire ----------------------------------------------------------------------

def test_finding_survives_the_wire() -> None:
    finding = fail("n2", "ora", "listener", "script.file", "init.d/ora_listener.n2: bash -n")
    assert Finding.from_dict(json.loads(json.dumps(finding.as_dict()))) == finding
    whole = ok("n1", "web", None, "host.version", "s2s-sd 0.1.0")
    assert Finding.from_dict(whole.as_dict()) == whole


@pytest.mark.parametrize("raw", [
    None, [], {}, {"host": "n1", "group": "g", "member": None, "level": "BAD", "check": "c",
                   "reason": "r"},
    {"host": 1, "group": "g", "member": None, "level": "OK", "check": "c", "reason": "r"},
    {"host": "n1", "group": "g", "member": 5, "level": "OK", "check": "c", "reason": "r"},
])
def test_malformed_findings_are_bad_input(raw: object) -> None:
    with pytest.raises(BadInput, match="drill answer"):
        Finding.from_dict(raw)


def test_malformed_vip_answer_is_bad_input() -> None:
    with pytest.raises(BadInput, match="VIP answer"):
        VipAnswer.from_dict({"host": "n1", "group": "web", "member": "vip", "address": 3})


# -- who answers for a VIP ---------------------------------------------------------------------

MACS = {"n1": ["52:54:00:00:00:01"], "n2": ["52:54:00:00:00:02"],
        "n3": ["52:54:00:00:00:03"]}


def _answer(host: str, mac: str | None) -> VipAnswer:
    return VipAnswer(host, "censhare", "vip", "192.168.77.21/24", mac)


def test_silence_is_ok() -> None:
    [finding] = vip_findings([_answer("n2", None)], MACS, {})
    assert (finding.level, finding.check) == (Level.OK, "ip.answered")


def test_an_answer_of_the_host_running_the_group_is_ok() -> None:
    [finding] = vip_findings([_answer("n2", "52:54:00:00:00:01")], MACS,
                             {"censhare": ["n1"]})
    assert finding.level is Level.OK and "n1, which runs the group" in finding.reason


def test_an_answer_of_a_host_not_running_the_group_fails() -> None:
    [finding] = vip_findings([_answer("n2", "52:54:00:00:00:03")], MACS,
                             {"censhare": ["n1"]})
    assert finding.level is Level.FAIL
    assert "n3 (which does not run censhare)" in finding.reason


def test_an_answer_from_outside_the_host_group_fails() -> None:
    [finding] = vip_findings([_answer("n2", "AA:BB:CC:00:00:09")], MACS, {"censhare": ["n1"]})
    assert finding.level is Level.FAIL and "outside the host group" in finding.reason


# -- clocks -------------------------------------------------------------------------------------

def test_a_certain_skew_above_the_threshold_warns() -> None:
    [finding] = clock_findings("n2", ["web"], sent=100.0, received=100.5, host_time=110.0)
    assert finding.level is Level.WARN and "ahead of" in finding.reason
    [finding] = clock_findings("n2", ["web"], sent=100.0, received=100.5, host_time=90.0)
    assert finding.level is Level.WARN and "behind" in finding.reason


def test_a_slow_round_trip_proves_no_skew() -> None:
    # the host may have read its clock at any time between sending and receiving
    [finding] = clock_findings("n2", ["web"], sent=100.0, received=110.0, host_time=109.0)
    assert finding.level is Level.OK


def test_host_wide_findings_land_in_every_group_cell() -> None:
    found = clock_findings("n2", ["censhare", "ora"], 1.0, 1.0, 1.0)
    assert [(f.group, f.member) for f in found] == [("censhare", None), ("ora", None)]


# -- the report ---------------------------------------------------------------------------------

def _report() -> DrillReport:
    findings = (
        ok("n1", "censhare", "data", "mount.device", "visible"),
        warn("n1", "censhare", "db", "script.file.shellcheck", "SC2164"),
        fail("n2", "censhare", "data", "mount.fstab", "mounted at boot by /etc/fstab:3"),
        ok("n2", "ora", None, "host.version", "s2s-sd 0.1.0"),
        ok("n1", "application-server", None, "host.version", "s2s-sd 0.1.0"),
    )
    plan = {"n1": ["censhare", "application-server"], "n2": ["censhare", "ora"]}
    return DrillReport("c07", "n1", plan, findings, 0.42)


def test_cells_show_the_worst_level_and_dashes_where_a_group_may_not_run() -> None:
    report = _report()
    assert report.cell("n1", "censhare") == "WARN"
    assert report.cell("n2", "censhare") == "FAIL"
    assert report.cell("n2", "application-server") == "-"
    assert report.cell("n1", "ora") == "-"
    assert report.failed


def test_table_columns_are_sized_to_the_data() -> None:
    text = render_table(_report())
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("HOST  censhare"))
    assert header == "HOST  censhare  application-server  ora"
    assert "n2    FAIL      -                   OK" in lines
    # the findings: every column starts where its header does, as wide as its widest cell
    rows = lines[lines.index(next(ln for ln in lines if ln.startswith("HOST  GROUP"))):-2]
    level = rows[0].index("LEVEL")
    assert rows[0].index("MEMBER") == len("HOST  application-server  ")
    assert all(row[level:].split()[0] in ("OK", "WARN", "FAIL") for row in rows[1:])
    assert ("n2    censhare            data    FAIL   mount.fstab             mounted at boot "
            "by /etc/fstab:3") in rows
    assert lines[-1] == "1 failure(s), 1 warning(s)"


def test_table_without_ok_findings_lists_only_problems() -> None:
    text = render_table(_report(), show_ok=False)
    assert "mount.fstab" in text and "SC2164" in text and "host.version" not in text


def test_json_carries_the_schema_version_and_every_finding() -> None:
    data = json.loads(json.dumps(_report().as_dict()))
    assert data["schema_version"] == SCHEMA_VERSION == 1
    assert data["cells"]["n2"] == {"censhare": "FAIL", "application-server": "-", "ora": "OK"}
    assert data["failed"] is True
    assert len(data["findings"]) == 5
    assert set(data["findings"][0]) == {"host", "group", "member", "level", "check", "reason"}
    assert set(data) == {"schema_version", "hostgroup", "admin", "seconds", "hosts", "groups",
                         "cells", "failed", "findings"}


# -- the record of the last drill --------------------------------------------------------------

def test_records_keep_each_groups_worst_cell_and_hosts() -> None:
    records = drill_records(_report(), when=1000.0)
    assert records == {
        "censhare": {"time": 1000.0, "result": "FAIL", "hosts": ["n1", "n2"]},
        "application-server": {"time": 1000.0, "result": "OK", "hosts": ["n1"]},
        "ora": {"time": 1000.0, "result": "OK", "hosts": ["n2"]},
    }


def test_status_line_shows_the_age_of_the_last_drill() -> None:
    records = {**drill_records(_report(), when=1000.0), "broken": {"time": "x"}}
    line = last_drill_line(records, ["censhare", "ora", "web", "broken"], now=1000.0 + 7300)
    assert line == ("last drill: censhare FAIL 2 h ago, ora OK 2 h ago, web never, "
                    "broken never")
    assert age_text(59) == "59 s" and age_text(61) == "1 min" and age_text(200000) == "2 d"


def test_drill_is_recorded_in_the_admins_state_dir(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path))
    assert read_drill_records("c07") == {}
    record_drill(_report(), when=5.0)
    assert read_drill_records("c07")["censhare"]["result"] == "FAIL"
    (tmp_path / "c07" / "drill.json").write_text("not json")
    assert read_drill_records("c07") == {}  # unreadable: as if never drilled
