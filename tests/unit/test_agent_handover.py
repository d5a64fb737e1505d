"""The warm agent server's two decisions (cli/agent_server.py): what a connector's
handover may ask (an agent session, well formed, nothing else), and when the server's
own code is stale (a loaded module file of s2s_sd changed or vanished)."""

from __future__ import annotations

import json
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from s2s_sd.cli.agent_server import Handover, code_changed, code_snapshot
from s2s_sd.errors import BadInput

pytestmark = pytest.mark.unit

GOOD = {"argv": ["agent", "--basedir", "/etc/s2s-sd", "--stream"],
        "env": {"PATH": "/usr/bin", "HOME": "/root"}, "cwd": "/root", "umask": 0o22}


def raw(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode() + b"\n"


def test_an_agent_session_is_handed_over() -> None:
    handover = Handover.parse(raw())
    assert handover.argv == ("agent", "--basedir", "/etc/s2s-sd", "--stream")
    assert handover.env["HOME"] == "/root" and handover.umask == 0o22


@pytest.mark.parametrize("bad", [
    b"not json\n", b"[]\n", json.dumps({"argv": ["agent"]}).encode(),
    raw(argv=["vip", "up", "10.0.0.1/24"]), raw(argv=["agent", "--serve"]), raw(argv=[]),
    raw(argv="agent"), raw(argv=["agent", 7]), raw(env={"A": 1}), raw(env=[]),
    raw(cwd=None), raw(umask=-1), raw(umask=0o1000), raw(umask="022"),
], ids=repr)
def test_anything_else_is_refused(bad: bytes) -> None:
    with pytest.raises(BadInput):
        Handover.parse(bad)


@pytest.fixture
def loaded_module(tmp_path: Path) -> Iterator[Path]:
    """A module of s2s_sd loaded from a file of ours, as the server's snapshot sees it."""
    path = tmp_path / "fake_module.py"
    path.write_text("VALUE = 1\n", encoding="utf-8")
    module = types.ModuleType("s2s_sd._snapshot_test")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module
    yield path
    del sys.modules[module.__name__]


def test_a_changed_or_vanished_module_file_is_new_code(loaded_module: Path) -> None:
    snapshot = code_snapshot()
    assert str(loaded_module) in snapshot
    assert not code_changed(snapshot)
    later = os.stat(loaded_module).st_mtime_ns + 1_000_000_000
    os.utime(loaded_module, ns=(later, later))
    assert code_changed(snapshot)
    snapshot = code_snapshot()
    loaded_module.unlink()
    assert code_changed(snapshot)
