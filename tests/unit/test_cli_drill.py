"""`s2s-sd drill` refuses bad names before asking any host: exit 2, nothing printed on
stdout, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def as_n1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))
    monkeypatch.setattr("s2s_sd.cli.runtime.local_host", lambda: "n1")


@pytest.mark.parametrize(("argv", "message"), [
    (["nosuch"], "group 'nosuch' is not defined (groups: censhare, ora, web)"),
    (["--host", "n9"], "--host n9: not a host of host group c07 (n1, n2, n3)"),
    (["web", "--host", "n2"], "no group of those named may run on n2: nothing to drill"),
])
def test_bad_names_exit_2(basedir: Path, argv: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["drill", "--basedir", str(basedir), *argv])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_drill_is_listed_with_its_options(basedir: Path) -> None:
    result = CliRunner().invoke(main, ["drill", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--json", "--problems"):
        assert option in result.stdout
