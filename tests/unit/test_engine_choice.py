"""The Engine protocol (engines/engine.py): chosen once from the definitions' engine
setting; each engine refuses the other engine's move options, and the Pacemaker engine
refuses `recover`, with the messages of before and before any host is asked; the CLI's
runtime commands go through it (exit 2, nothing written)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.engines.choose import open_engine
from s2s_sd.engines.engine import RunOptions, require_member
from s2s_sd.engines.pacemaker.engine import PacemakerEngine
from s2s_sd.engines.systemd.engine import SystemdEngine
from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions, Engine
from tests.unit.scenarios import definitions

pytestmark = pytest.mark.unit

SYSTEMD_ONLY = "--timeout/--lifetime/--keep-constraint are Pacemaker-engine options"
PACEMAKER_ONLY = ("--force/--break-lock: the cluster decides with quorum and fencing; they "
                  "are systemd-engine options")


def _with_engine(kind: Engine) -> Definitions:
    defs = definitions()
    return dataclasses.replace(defs, hostgroup=dataclasses.replace(defs.hostgroup,
                                                                   engine=kind))


def _open(kind: Engine, host: str = "n1") -> SystemdEngine | PacemakerEngine:
    engine = open_engine(_with_engine(kind), Path("/nonexistent"), host,
                         progress=lambda _t: None, on_warning=lambda _t: None)
    assert isinstance(engine, SystemdEngine | PacemakerEngine)
    return engine


def test_the_engine_setting_chooses_the_engine() -> None:
    assert isinstance(_open(Engine.SYSTEMD), SystemdEngine)
    assert isinstance(_open(Engine.PACEMAKER), PacemakerEngine)
    assert _open(Engine.SYSTEMD).kind is Engine.SYSTEMD
    assert _open(Engine.PACEMAKER).kind is Engine.PACEMAKER


def test_the_engines_honour_disjoint_options_that_cover_all_of_them() -> None:
    every = {f.name for f in dataclasses.fields(RunOptions)}
    systemd, pacemaker = _open(Engine.SYSTEMD).options, _open(Engine.PACEMAKER).options
    assert not systemd & pacemaker and systemd | pacemaker == every


def test_given_names_only_the_options_not_at_their_default() -> None:
    assert RunOptions().given() == frozenset()
    assert RunOptions(force=True, timeout=5.0).given() == {"force", "timeout"}


@pytest.mark.parametrize("options", [RunOptions(timeout=5.0), RunOptions(lifetime="30m"),
                                     RunOptions(keep_constraint=True)])
def test_systemd_move_refuses_pacemaker_options_before_asking_a_host(options: RunOptions
                                                                     ) -> None:
    engine = _open(Engine.SYSTEMD)
    assert isinstance(engine, SystemdEngine)
    with pytest.raises(BadInput, match=SYSTEMD_ONLY):
        engine.move("web", "n2", options)
    assert engine._admin is None  # no admin, so no transport: nothing was asked


@pytest.mark.parametrize("options", [RunOptions(force=True), RunOptions(break_lock=True)])
def test_pacemaker_move_refuses_systemd_options(options: RunOptions) -> None:
    with pytest.raises(BadInput) as refused:
        _open(Engine.PACEMAKER).move("web", "n2", options)
    assert str(refused.value) == PACEMAKER_ONLY


def test_pacemaker_refuses_recover_and_points_at_cleanup() -> None:
    with pytest.raises(BadInput, match=r"the cluster recovers groups itself; see `s2s-sd "
                                       r"status`, then `s2s-sd cleanup GROUP`"):
        _open(Engine.PACEMAKER).recover("web", RunOptions())


def test_a_host_outside_the_host_group_cannot_administer_it() -> None:
    with pytest.raises(BadInput, match=r"this host \(x9\) is not in host group c07"):
        require_member(definitions(), "x9")
    with pytest.raises(BadInput, match=r"this host \(x9\) is not in host group c07"):
        _open(Engine.SYSTEMD, host="x9").status()
    with pytest.raises(BadInput, match=r"this host \(x9\) is not in host group c07"):
        _open(Engine.PACEMAKER, host="x9").status()


@pytest.mark.parametrize(("engine", "argv", "message"), [
    ("systemd", ["move", "web", "n2", "--timeout", "5"], SYSTEMD_ONLY),
    ("systemd", ["move", "web", "--to", "n2", "--keep-constraint"], SYSTEMD_ONLY),
    ("pacemaker", ["move", "web", "n2", "--force"], PACEMAKER_ONLY),
    ("pacemaker", ["recover", "web"], "recover: with the pacemaker engine"),
])
def test_cli_runtime_commands_refuse_through_the_engine(
        basedir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str,
        argv: list[str], message: str) -> None:
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))
    monkeypatch.setattr("s2s_sd.cli.runtime.local_host", lambda: "n1")
    toml = basedir / "s2s.toml"
    toml.write_text(toml.read_text().replace('engine = "systemd"', f'engine = "{engine}"'))
    result = CliRunner().invoke(main, [*argv, "--basedir", str(basedir)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "state").exists()  # nothing written
