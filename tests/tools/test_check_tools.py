"""Issue 17, the checks that need the real tools: shellcheck run by `check` with a
relative base dir (item 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main

pytestmark = pytest.mark.tools


def test_shellcheck_findings_with_a_relative_basedir(basedir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    script = basedir / "init.d" / "ora_listener"
    script.write_text(script.read_text() + '\nunused_variable_here=1\necho $1\n')
    monkeypatch.chdir(basedir.parent)
    result = CliRunner().invoke(main, ["check", "--basedir", basedir.name, "--host", "n1"])
    assert result.exit_code == 0, result.stderr
    findings = [ln for ln in result.stderr.splitlines() if "shellcheck" in ln]
    assert any("init.d/ora_listener:" in ln and "SC2034" in ln for ln in findings), \
        result.stderr
    assert os.path.isabs(basedir.name) is False
