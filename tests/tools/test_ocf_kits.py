"""Tools tier: the OCF agent ocf:s2s:kits with the real ocf-tester, xmllint (DTD), pcs's
RelaxNG check and shellcheck. The kits live in a throw-away tree (world-readable:
ocf-tester runs meta-data as nobody); the run record goes there too."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from s2s_sd.run import run
from tests.conftest import REPO
from tests.tools.ocf_checks import assert_meta_data_valid, assert_shellcheck_clean, tool

pytestmark = pytest.mark.tools

AGENT = REPO / "s2s_sd" / "ocf" / "kits"
COMMAND = REPO / ".venv" / "bin" / "s2s-sd"
KIT = """#!/bin/sh
case "${0##*/}" in
    start) touch "$KIT_DIR/../$KIT_NAME.running" ;;
    stop) rm -f "$KIT_DIR/../$KIT_NAME.running" ;;
    state) [ -e "$KIT_DIR/../$KIT_NAME.running" ] && exit 0; exit 3 ;;
esac
"""


@pytest.fixture
def disks() -> Iterator[list[Path]]:
    root = Path(tempfile.mkdtemp(prefix="s2s-ocf-kits."))
    found = [root / "00", root / "01"]
    for disk, name in zip(found, ("alpha", "beta"), strict=True):
        (disk / name / "sbin").mkdir(parents=True)
        for action in ("start", "stop", "state"):
            script = disk / name / "sbin" / action
            script.write_text(KIT)
            script.chmod(0o755)
    (root / "run").mkdir()
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055)
    try:
        yield found
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_shellcheck_clean() -> None:
    assert_shellcheck_clean(AGENT)


def test_meta_data_passes_the_dtd_and_pcs() -> None:
    params, _actions = assert_meta_data_valid(AGENT, "kits")
    assert params == ["command", "disks", "kit_timeout"]


def test_ocf_tester_passes(disks: list[Path]) -> None:
    env = {**os.environ, "S2S_SD_RUNDIR": str(disks[0].parent / "run")}
    result = run([tool("ocf-tester"), "-n", "kits_kits",
                  "-o", f"disks={disks[0]} {disks[1]}", "-o", f"command={COMMAND}",
                  "-o", "kit_timeout=10", str(AGENT)], check=False, env=env, timeout=300)
    output = result.stdout + result.stderr
    assert result.ok and "passed all tests" in output, output
    assert not list(disks[0].parent.rglob("*.running")), "ocf-tester ends with kits stopped"


def test_missing_disks_parameter() -> None:
    env = {"PATH": "/usr/bin:/bin"}
    assert run([str(AGENT), "start"], env=env, check=False).returncode == 6
    assert run([str(AGENT), "stop"], env=env, check=False).returncode == 0
    assert run([str(AGENT), "reload"], env=env, check=False).returncode == 3


def test_kits_member_units_pass_systemd_verify(tmp_path: Path) -> None:
    from s2s_sd.load import load_definitions
    from s2s_sd.naming import GUARD_TEMPLATE
    from s2s_sd.render.systemd import UnitSettings, render_units
    from tests.unit.test_kits_layout import SITE

    base = tmp_path / "base"
    base.mkdir()
    (base / "s2s.toml").write_text(SITE)
    agents = tmp_path / "ocf"
    agents.mkdir()
    for name in ("script", "kits"):
        shutil.copy(REPO / "s2s_sd" / "ocf" / name, agents / name)
    settings = UnitSettings(basedir=str(base), command=str(COMMAND),
                            libexec=str(REPO / "s2s_sd" / "units"),
                            script_agent=str(agents / "script"))
    files = render_units(load_definitions(base, "n1"), settings)
    units = tmp_path / "units"
    units.mkdir()
    for relpath, text in files.items():
        (units / relpath).write_text(text)
    (units / "s2s-guard@kits.service").symlink_to(GUARD_TEMPLATE)
    names = ["s2s-kits.target", "s2s-kits-d0.service", "s2s-kits-d1.service",
             "s2s-kits-kits.service", "s2s-guard@kits.service"]
    result = run([tool("systemd-analyze"), "verify", "--man=no",
                  *[str(units / n) for n in names]], check=False,
                 cwd=str(units), extra_env={"SYSTEMD_LOG_COLOR": "0"})
    assert result.ok and not (result.stdout + result.stderr).strip(), \
        result.stdout + result.stderr
