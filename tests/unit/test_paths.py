"""paths.py: which program the units and the other hosts run, per kind of install, and
the host-side refusal to install units calling a program that is not there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from s2s_sd import paths
from s2s_sd.engines.systemd.units import helper_files, install_units, require_program
from s2s_sd.errors import Refused
from s2s_sd.render.pacemaker_agents import ALERT_AGENT_PATH
from s2s_sd.render.systemd import UnitSettings

pytestmark = pytest.mark.unit

SYSTEM = paths.Interpreter("/usr/bin/python3", "/usr", "/usr")
VENV = paths.Interpreter("/opt/s2s-sd/venv/bin/python", "/opt/s2s-sd/venv", "/usr")


def test_package_layout_from_debians_python() -> None:
    assert paths.program({}, SYSTEM) == "/usr/bin/s2s-sd"
    assert paths.helper_dir({}, SYSTEM) == "/usr/lib/s2s-sd"
    assert paths.remote_command({}, SYSTEM) == "/usr/bin/s2s-sd"


def test_venv_uses_its_own_console_script() -> None:
    assert paths.program({}, VENV) == "/opt/s2s-sd/venv/bin/s2s-sd"
    assert paths.helper_dir({}, VENV) == "/usr/local/lib/s2s-sd"
    # the other hosts run the same venv at the same path (symmetric installs)
    assert paths.remote_command({}, VENV) == "/opt/s2s-sd/venv/bin/s2s-sd"


def test_environment_overrides_every_location() -> None:
    environ = {loc.env: f"/elsewhere/{loc.env.lower()}" for loc in paths.LOCATIONS}
    assert paths.program(environ, VENV) == "/elsewhere/s2s_sd_program"
    assert paths.helper_dir(environ, SYSTEM) == "/elsewhere/s2s_sd_helper_dir"
    assert paths.remote_command(environ, SYSTEM) == "/elsewhere/s2s_sd_remote_command"
    assert paths.ocf_agent("kits", environ) == "/elsewhere/s2s_sd_ocf_dir/kits"
    for location in paths.LOCATIONS:
        assert location.path(environ) == environ[location.env]
        assert location.path({}) == location.default


def test_program_setting_moves_remote_command_and_helpers() -> None:
    environ = {"S2S_SD_PROGRAM": "/opt/site/bin/s2s-sd"}
    assert paths.remote_command(environ, SYSTEM) == "/opt/site/bin/s2s-sd"
    assert paths.helper_dir(environ, SYSTEM) == "/usr/local/lib/s2s-sd"


def test_installed_unit_settings_follow_this_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_PROGRAM", "/opt/site/bin/s2s-sd")
    monkeypatch.setenv("S2S_SD_OCF_DIR", "/opt/site/ocf")
    settings = UnitSettings.installed("/etc/s2s-sd")
    assert settings.command == "/opt/site/bin/s2s-sd"
    assert settings.libexec == "/usr/local/lib/s2s-sd"
    assert settings.script_agent == "/opt/site/ocf/script"
    # Pacemaker passes ocf:s2s:kits no command: its default is this install's program
    kits = helper_files(settings)["/opt/site/ocf/kits"]
    assert "COMMAND=${OCF_RESKEY_command:-/opt/site/bin/s2s-sd}" in kits
    assert "/usr/bin/s2s-sd" not in kits


def test_package_settings_leave_the_packaged_agents_as_shipped() -> None:
    settings = UnitSettings()
    assert settings.command == "/usr/bin/s2s-sd"
    kits = helper_files(settings)["/usr/lib/ocf/resource.d/s2s/kits"]
    assert "COMMAND=${OCF_RESKEY_command:-/usr/bin/s2s-sd}" in kits
    # the path the CIB's notify alert names, for a venv install too
    assert helper_files(settings)[ALERT_AGENT_PATH].startswith("#!/bin/sh\n")


def test_missing_program_is_refused_naming_host_and_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "bin/s2s-sd")
    with pytest.raises(Refused) as refused:
        require_program(missing, "n2")
    assert str(refused.value).startswith(f"{missing} is not installed on n2")
    not_executable = tmp_path / "s2s-sd"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(Refused):
        require_program(str(not_executable), "n2")
    not_executable.chmod(0o755)
    require_program(str(not_executable), "n2")


def test_install_on_this_host_checks_the_program_before_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unit_dir = tmp_path / "units"
    monkeypatch.setenv("S2S_SD_UNIT_DIR", str(unit_dir))
    settings = UnitSettings(command=str(tmp_path / "absent/s2s-sd"),
                            libexec=str(tmp_path / "lib"), script_agent=str(tmp_path / "ocf/x"))
    with pytest.raises(Refused) as refused:
        install_units(Path("/"), {"s2s-g.target": "[Unit]\n"}, settings, (), ["g"])
    assert os.uname().nodename in str(refused.value)
    assert not unit_dir.exists() and not (tmp_path / "lib").exists()
