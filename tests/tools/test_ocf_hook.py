"""Tools tier: ocf:s2s:hook, the group member that runs the pre-/post-move hooks under
Pacemaker, with the real ocf-tester and shellcheck, in a throw-away directory tree."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from s2s_sd.run import Result, run
from tests.conftest import REPO

pytestmark = pytest.mark.tools

AGENT = REPO / "s2s_sd" / "ocf" / "hook"
HOST = os.uname().nodename


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run scripts/setup test"
    return path


class Tree:
    def __init__(self, root: Path, pre_exit: int = 0) -> None:
        self.root = root
        self.state = root / "state"
        self.logs = root / "logs"
        self.record = root / "record"
        hooks = root / "hooks"
        hooks.mkdir()
        for name, code in (("pre", pre_exit), ("post", 0)):
            hook = hooks / name
            hook.write_text("#!/bin/sh\n"
                            f'echo "{name} $GROUP $FROM -> $TO $S2S_SD_CAUSE $(pwd)" '
                            f">> {self.record}\nexit {code}\n")
            hook.chmod(0o755)
        self.pre, self.post = hooks / "pre", hooks / "post"

    def env(self, **extra: str) -> dict[str, str]:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_RESOURCE_INSTANCE": "g_hooks",
               "OCF_RESKEY_group": "g", "OCF_RESKEY_pre_move": str(self.pre),
               "OCF_RESKEY_post_move": str(self.post), "OCF_RESKEY_basedir": str(self.root),
               "S2S_SD_HOOK_STATE_DIR": str(self.state), "S2S_SD_LOG_DIR": str(self.logs),
               "TMPDIR": str(self.root)}
        env.update(extra)
        return env

    def call(self, action: str, **extra: str) -> Result:
        return run([str(AGENT), action], check=False, env=self.env(**extra), timeout=60)

    def recorded(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


def test_shellcheck_clean() -> None:
    result = run([tool("shellcheck"), str(AGENT)], check=False)
    assert result.ok, result.stdout


def test_ocf_tester_passes(tree: Tree) -> None:
    tree.root.chmod(0o755)
    result = run([tool("ocf-tester"), "-n", "g_hooks", "-o", "group=g",
                  "-o", f"pre_move={tree.pre}", "-o", f"post_move={tree.post}",
                  "-o", f"basedir={tree.root}", str(AGENT)], check=False,
                 env=tree.env(), timeout=300)
    assert result.ok and "passed all tests" in result.stdout + result.stderr, \
        result.stdout + result.stderr


def test_start_runs_post_move_stop_runs_pre_move(tree: Tree) -> None:
    assert tree.call("monitor").returncode == 7
    assert tree.call("start").returncode == 0
    assert tree.call("monitor").returncode == 0
    assert tree.call("start").returncode == 0  # idempotent: the hook ran once
    assert tree.call("stop").returncode == 0
    assert tree.call("stop").returncode == 0
    assert tree.call("monitor").returncode == 7
    assert tree.recorded() == [f"post g  -> {HOST} cluster {tree.root}",
                               f"pre g {HOST} ->  cluster {tree.root}"]
    log = (tree.logs / "actions.log").read_text()
    assert "post_move hook" in log and "pre_move hook" in log


def test_s2s_sd_moves_pass_from_and_to_once(tree: Tree) -> None:
    tree.state.mkdir()
    (tree.state / "g.intent").write_text(f"{HOST} n9 {int(time.time())}\n")
    tree.call("start")
    assert tree.recorded()[-1] == f"post g  -> {HOST} cluster {tree.root}"
    (tree.state / "g.intent").write_text(f"{HOST} n9 {int(time.time())}\n")
    tree.call("stop")
    assert tree.recorded()[-1] == f"pre g {HOST} -> n9 move {tree.root}"
    assert not (tree.state / "g.intent").exists()  # a note serves one move
    (tree.state / "g.intent").write_text(f"n9 {HOST} {int(time.time())}\n")
    tree.call("start")
    assert tree.recorded()[-1] == f"post g n9 -> {HOST} move {tree.root}"
    # a stale note is ignored
    tree.call("stop")
    (tree.state / "g.intent").write_text(f"n9 {HOST} {int(time.time()) - 3600}\n")
    tree.call("start")
    assert tree.recorded()[-1] == f"post g  -> {HOST} cluster {tree.root}"


def test_a_failing_hook_never_fails_the_action(tmp_path: Path) -> None:
    tree = Tree(tmp_path, pre_exit=3)
    assert tree.call("start").returncode == 0
    stop = tree.call("stop")
    assert stop.returncode == 0
    assert "failed with exit 3" in stop.stderr
    assert (tree.state / "g.pre_move").read_text().split()[0] == "3"
    assert (tree.state / "g.post_move").read_text().split()[0] == "0"


def test_validate_all(tree: Tree) -> None:
    assert tree.call("validate-all").returncode == 0
    assert tree.call("validate-all", OCF_RESKEY_group="").returncode == 6
    assert tree.call("validate-all", OCF_RESKEY_group="no-t an id").returncode == 6
    assert tree.call("validate-all", OCF_RESKEY_post_move="relative").returncode == 6
    assert tree.call("validate-all",
                     OCF_RESKEY_post_move=str(tree.root / "missing")).returncode == 5
    tree.post.chmod(0o644)
    assert tree.call("validate-all").returncode == 4
    # a missing pre-move hook does not block the stop
    tree.post.chmod(0o755)
    assert tree.call("start").returncode == 0
    assert tree.call("stop", OCF_RESKEY_pre_move=str(tree.root / "gone")).returncode == 0


def test_host_twin_is_used(tree: Tree) -> None:
    twin = Path(f"{tree.post}.{HOST}")
    twin.write_text(f"#!/bin/sh\necho twin >> {tree.record}\n")
    twin.chmod(0o755)
    tree.call("start")
    assert tree.recorded() == ["twin"]
