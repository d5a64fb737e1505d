"""The operator's view in the CLI (issue 17): `status GROUP...` names unknown groups,
status does not check the scripts (issue 6: its latency), `--json` errors are one JSON
object on stdout, every warning is `s2s-sd: warning:` on stderr, `where` says so when it
finds nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.cli.common import warn
from s2s_sd.engines.systemd.runtime import Admin
from tests.unit.fake_transport import ScriptedTransport
from tests.unit.scenarios import definitions

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def as_n1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))
    monkeypatch.setattr("s2s_sd.cli.runtime.local_host", lambda: "n1")


def test_status_of_an_unknown_group_exits_2_naming_it(basedir: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--basedir", str(basedir), "web", "nosuch"])
    assert result.exit_code == 2, result.output
    assert "no such group: nosuch (groups: censhare, ora, web)" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


def test_status_does_not_check_the_scripts(basedir: Path) -> None:
    """status changes nothing and shows what runs even while a script is broken; `check`
    (and sync, move, start) find the broken script. bash -n and shellcheck of every
    script cost status over a second with 100 groups."""
    (basedir / "init.d" / "censhare_db").write_text("#!/bin/bash\nif then (\n")
    checked = CliRunner().invoke(main, ["check", "--basedir", str(basedir)])
    assert checked.exit_code == 2 and "censhare_db: bash -n" in checked.output
    result = CliRunner().invoke(main, ["status", "--basedir", str(basedir), "nosuch"])
    # past the definitions: only the group named is unknown
    assert result.exit_code == 2 and "bash -n" not in result.output
    assert "no such group: nosuch" in result.stderr


def test_json_errors_are_json_on_stdout(basedir: Path) -> None:
    result = CliRunner().invoke(main, ["status", "--basedir", str(basedir), "--json",
                                       "nosuch"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)
    assert error == {"schema_version": 1, "ok": False, "error": {
        "kind": "bad_input", "exit_code": 2, "problems": [],
        "message": "no such group: nosuch (groups: censhare, ora, web)"}}
    assert "s2s-sd: error: no such group" in result.stderr  # people read stderr still


def test_json_errors_carry_the_definitions_problems(basedir: Path) -> None:
    (basedir / "s2s.toml").write_text("[hostgroup]\nname = 'c07'\nhostz = 1\n")
    result = CliRunner().invoke(main, ["drill", "--json", "--basedir", str(basedir)])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "bad_input" and error["problems"]
    assert all({"file", "line", "key", "message", "warning"} == set(p)
               for p in error["problems"])


def test_without_json_stdout_stays_empty_on_errors(basedir: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["status", "--basedir", str(basedir), "--json", "nosuch"])
    # the next command in the same process: no --json, no JSON
    result = runner.invoke(main, ["status", "--basedir", str(basedir), "nosuch"])
    assert result.exit_code == 2 and result.stdout == ""


def test_one_warning_format_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    warn("n2 unreachable (n2: Host key verification failed.): checked by ARP/ND only")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("s2s-sd: warning: n2 unreachable (n2: Host key verification "
                            "failed.): checked by ARP/ND only\n")


def test_admin_warnings_go_to_the_warning_channel_not_the_progress() -> None:
    progress: list[str] = []
    warnings: list[str] = []
    admin = Admin(definitions(), Path("/nonexistent"), "n3",
                  transport=ScriptedTransport(definitions(), "n3"),
                  progress=progress.append, on_warning=warnings.append)
    admin.warn("assignment not recorded on n2 (unreachable)")
    assert warnings == ["assignment not recorded on n2 (unreachable)"] and progress == []
    assert admin.warnings == warnings


def test_where_says_when_it_finds_nothing(tmp_path: Path) -> None:
    root = tmp_path / "service"
    root.mkdir()
    runner = CliRunner(env={"S2S_SD_SERVICE_ROOT": str(root),
                            "S2S_SD_LOCAL_DISKS": str(tmp_path / "local")})
    result = runner.invoke(main, ["where", "--basedir", str(tmp_path / "none")])
    assert result.exit_code == 0, result.output
    assert "no services on " in result.stdout and f"(nothing under {root}/NN/)" in \
        result.stdout
    encoded = json.loads(runner.invoke(main, ["where", "--basedir", str(tmp_path / "none"),
                                              "--json"]).stdout)
    assert encoded["schema_version"] == 1 and encoded["services"] == []
