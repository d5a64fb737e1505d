"""Events: one actions.log line each, and the notify hook run with the event as arguments
and environment; a failing or missing hook is logged, never raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2s_sd.hosts import freeze
from s2s_sd.hosts.events import Event, emit

pytestmark = pytest.mark.unit

EVENT = Event("restart", "ora", "db", "n1", "status exit 7")


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("S2S_SD_LOGDIR", str(tmp_path / "log"))
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir(mode=0o700)
    return tmp_path


def _hook(directory: Path, body: str) -> Path:
    hook = directory / "notify"
    hook.write_text(f"#!/bin/sh\n{body}\n")
    hook.chmod(0o755)
    return hook


def test_event_is_logged_and_the_hook_gets_it(dirs: Path) -> None:
    hook = _hook(dirs, 'printf "%s|" "$@" "$S2S_EVENT" "$S2S_MEMBER" > "$S2S_SD_BASEDIR/got"')
    emit("hg", EVENT, hook, dirs)
    assert (dirs / "got").read_text() == "restart|ora|db|n1|status exit 7|restart|db|"
    log = (dirs / "log" / "actions.log").read_text()
    assert "n1 [hg] event restart ora/db: status exit 7" in log


def test_a_failing_hook_is_logged_not_raised(dirs: Path) -> None:
    emit("hg", EVENT, _hook(dirs, "echo pager down >&2; exit 4"), dirs)
    log = (dirs / "log" / "actions.log").read_text()
    assert "notify hook failed for restart of ora (exit 4): pager down" in log


def test_a_hook_that_is_not_executable_is_logged_not_raised(dirs: Path) -> None:
    hook = _hook(dirs, "true")
    hook.chmod(0o644)
    emit("hg", Event("give-up", "ora", None, "n1", "3 failures"), hook, dirs)
    log = (dirs / "log" / "actions.log").read_text()
    assert "event give-up ora: 3 failures" in log
    assert "notify hook failed for give-up of ora" in log


def test_frozen_is_a_mark_in_the_state_dir(dirs: Path) -> None:
    assert not freeze.is_frozen("hg", "ora")
    (dirs / "state" / "hg").mkdir(mode=0o700)
    (dirs / "state" / "hg" / "frozen-ora").write_text("")
    assert freeze.is_frozen("hg", "ora")
    assert not freeze.is_frozen("hg", "web")
