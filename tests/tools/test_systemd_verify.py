"""Tools tier: the real `systemd-analyze verify` accepts every generated unit.

The units are rendered with paths that exist on this machine (the checkout's s2s-sd, the
packaged helpers), because verify checks that every Exec*= program is there; the golden
files show the same units with the paths of an installed host.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from s2s_sd.load import load_definitions
from s2s_sd.naming import GUARD_TEMPLATE, guard_unit
from s2s_sd.render.systemd import UnitSettings, render_units
from s2s_sd.run import run
from tests.conftest import EXAMPLES, REPO
from tests.unit.test_value_sinks import write_nasty_definitions

pytestmark = pytest.mark.tools

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def local_settings(tmp_path: Path) -> UnitSettings:
    libexec = REPO / "s2s_sd" / "units"
    agent = tmp_path / "ocf-script"
    agent.write_text("#!/bin/sh\nexit 0\n") if not (REPO / "s2s_sd/ocf/script").exists() \
        else shutil.copy(REPO / "s2s_sd/ocf/script", agent)
    agent.chmod(0o755)
    return UnitSettings(basedir=str(EXAMPLES), command=str(REPO / ".venv/bin/s2s-sd"),
                        libexec=str(libexec), script_agent=str(agent))


def verify(unit_dir: Path, names: list[str]) -> tuple[int, str]:
    assert SYSTEMD_ANALYZE, "systemd-analyze is not installed: run scripts/setup test"
    result = run([SYSTEMD_ANALYZE, "verify", "--man=no", *[str(unit_dir / n) for n in names]],
                 check=False, cwd=str(unit_dir), extra_env={"SYSTEMD_LOG_COLOR": "0"})
    return result.returncode, result.stderr + result.stdout


def write_units(tmp_path: Path, engine_pacemaker: bool = False) -> tuple[Path, list[str]]:
    defs = load_definitions(EXAMPLES, "n1")
    if engine_pacemaker:
        from dataclasses import replace

        from s2s_sd.model import Engine
        defs = replace(defs, hostgroup=replace(defs.hostgroup, engine=Engine.PACEMAKER))
    files = render_units(defs, local_settings(tmp_path))
    unit_dir = tmp_path / "units"
    for relpath, text in files.items():
        path = unit_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # the "existing" unit the ora group binds in, as the lab installs it
    shutil.copy(EXAMPLES / "systemd" / "ora-db.service", unit_dir)
    names = sorted(n for n in files if "/" not in n and n != GUARD_TEMPLATE)
    if GUARD_TEMPLATE in files:
        # verify a template through its instances, one per group
        for group in defs.groups:
            instance = guard_unit(group.name)
            (unit_dir / instance).symlink_to(GUARD_TEMPLATE)
            names.append(instance)
    return unit_dir, names


def test_every_generated_unit_passes_verify(tmp_path: Path) -> None:
    unit_dir, names = write_units(tmp_path)
    assert len(names) >= 15
    code, output = verify(unit_dir, names)
    assert code == 0, output
    assert output.strip() == "", f"systemd-analyze had remarks:\n{output}"


def test_pacemaker_engine_units_pass_verify(tmp_path: Path) -> None:
    unit_dir, names = write_units(tmp_path, engine_pacemaker=True)
    assert names == ["s2s-agent.service", "s2s-censhare-app.service", "s2s-web-httpd.service"]
    code, output = verify(unit_dir, names)
    assert code == 0 and not output.strip(), output


def test_verify_rejects_a_broken_unit(tmp_path: Path) -> None:
    # the check must be able to fail: a unit with an unknown dependency type and bad Exec
    unit_dir, _ = write_units(tmp_path)
    broken = unit_dir / "s2s-broken.service"
    broken.write_text("[Unit]\nDescription=x\n[Service]\nExecStart=relative/path\n")
    code, output = verify(unit_dir, [broken.name])
    assert code != 0, output


def test_units_with_nasty_but_valid_values_pass_verify(basedir: Path, tmp_path: Path) -> None:
    # shell, specifier, quoting and XML syntax in devices, mountpoints, arguments and
    # descriptions (issue 11, item 15): escaped, systemd reads every unit without remarks
    write_nasty_definitions(basedir)
    defs = load_definitions(basedir, "n1")
    files = render_units(defs, local_settings(tmp_path))
    unit_dir = tmp_path / "units"
    for relpath, text in files.items():
        path = unit_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    shutil.copy(EXAMPLES / "systemd" / "ora-db.service", unit_dir)
    names = ["s2s-ora-redo.service", "s2s-web-httpd.service", "s2s-ora.target"]
    assert "$$(touch" in (unit_dir / names[0]).read_text()
    code, output = verify(unit_dir, names)
    assert code == 0, output
    assert output.strip() == "", f"systemd-analyze had remarks:\n{output}"


def test_units_with_readiness_and_recovery_pass_verify(tmp_path: Path) -> None:
    """tests/lab/health_site: a tcp readiness check, settle periods, a monitored script
    member, and a notify member besides (issue 13)."""
    from dataclasses import replace

    from s2s_sd.model import ExecService

    defs = load_definitions(REPO / "tests" / "lab" / "health_site", "n1")
    dies = defs.group("dies")
    assert dies is not None
    notify = replace(dies, name="notified", services=tuple(
        replace(s, group="notified", notify=True) if isinstance(s, ExecService) else s
        for s in dies.services))
    defs = replace(defs, groups=(*defs.groups, notify))
    files = render_units(defs, local_settings(tmp_path))
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for relpath, text in files.items():
        (unit_dir / relpath).write_text(text)
    names = sorted(n for n in files if n != GUARD_TEMPLATE)
    for group in defs.groups:
        (unit_dir / guard_unit(group.name)).symlink_to(GUARD_TEMPLATE)
        names.append(guard_unit(group.name))
    assert "Type=notify" in files["s2s-notified-app.service"]
    assert "member run heal daemon" in files["s2s-heal-daemon.service"]
    code, output = verify(unit_dir, names)
    assert code == 0 and not output.strip(), output
