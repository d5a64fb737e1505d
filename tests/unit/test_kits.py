"""Service kits on tmp trees (no root): the runner (start order, reverse stop, broken
kits, failures, timeouts), `where`, `relocate` and `link`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.errors import BadInput, Refused
from s2s_sd.hosts.transport import Answer, HostUnreachable
from s2s_sd.kits.copy import tree_manifest
from s2s_sd.kits.layout import Layout
from s2s_sd.kits.relocate import Changes, plan_across
from s2s_sd.kits.runner import (
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
    KitRunner,
    check_members,
    find_kits,
)
from s2s_sd.kits.tree import (
    execute,
    link_path,
    local_where,
    plan,
    purge_old_copies,
    unlink_path,
)
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions

pytestmark = pytest.mark.unit

KIT = """#!/bin/sh
# a test kit: records what it did in $LOG, runs while its run file exists
LOG={log}
RUN={run}
case "$KIT_ACTION" in
    start) echo "start $KIT_NAME" >> "$LOG"; echo "starting $KIT_NAME"; {start} ;;
    stop) echo "stop $KIT_NAME" >> "$LOG"; rm -f "$RUN" ;;
    state) [ -e "$RUN" ] && exit 0; exit 3 ;;
esac
"""


class Tree:
    """A host's view in a tmp dir: group disks, local disks, /service, a run dir."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "kits.log"
        self.runs = root / "run-files"
        self.runs.mkdir()
        self.layout = Layout(service_root=str(root / "service"),
                             local_disks=str(root / "disk" / "local"))
        for disk in ("disk/kits/00", "disk/kits/01", "disk/local/00", "disk/local/01"):
            (root / disk).mkdir(parents=True)
        (root / "base").mkdir()
        (root / "base" / "s2s.toml").write_text(f"""
[hostgroup]
name = "k07"
hosts = ["n1", "n2"]
[groups.kits]
  [[groups.kits.services]]
  name = "d0"
  type = "mount"
  device = "/dev/mapper/a"
  mountpoint = "{root}/disk/kits/00"
  fstype = "ext4"
  [[groups.kits.services]]
  name = "d1"
  type = "mount"
  device = "/dev/mapper/b"
  mountpoint = "{root}/disk/kits/01"
  fstype = "ext4"
  [[groups.kits.services]]
  name = "kits"
  type = "kits"
""")

    @property
    def disks(self) -> list[str]:
        return [str(self.root / "disk/kits/00"), str(self.root / "disk/kits/01")]

    def defs(self) -> Definitions:
        return load_definitions(self.root / "base", "n1")

    def kit(self, disk: str, name: str, start: str = "touch \"$RUN\"") -> Path:
        path = self.root / disk / name
        (path / "sbin").mkdir(parents=True)
        text = KIT.format(log=self.log, run=self.runs / name, start=start)
        for action in ("start", "stop", "state"):
            script = path / "sbin" / action
            script.write_text(text)
            script.chmod(0o755)
        return path

    def service(self, name: str, *targets: Path) -> None:
        for number, target in enumerate(targets):
            link = Path(self.layout.service_root) / f"{number:02d}" / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)

    def events(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def running(self, name: str) -> bool:
        return (self.runs / name).exists()


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tree]:
    monkeypatch.setenv("S2S_SD_RUNDIR", str(tmp_path / "rundir"))
    yield Tree(tmp_path)


def runner(tree: Tree, timeout: float = 10) -> tuple[KitRunner, list[str]]:
    lines: list[str] = []
    return KitRunner(tree.disks, "kits_kits", timeout, log=lines.append, poll=0.05), lines


def test_start_in_path_order_stop_in_reverse(tree: Tree) -> None:
    tree.kit("disk/kits/01", "alpha")
    tree.kit("disk/kits/00", "nsr")
    tree.kit("disk/kits/00", "backup")
    (tree.root / "disk/kits/00/data_only").mkdir()  # no sbin/start: not a kit
    (tree.root / "disk/kits/00/.s2s-sd-old.x.1/sbin").mkdir(parents=True)  # hidden
    run, lines = runner(tree)
    assert [k.name for k in find_kits(tree.disks)] == ["backup", "nsr", "alpha"]
    assert run.start() == OCF_SUCCESS
    assert tree.events() == ["start backup", "start nsr", "start alpha"]
    assert "nsr start: starting nsr" in lines  # the kit's output is logged
    assert run.monitor() == OCF_SUCCESS
    assert {s.kit.name: s.label for s in run.states()} == {
        "backup": "running", "nsr": "running", "alpha": "running"}
    assert run.start() == OCF_SUCCESS  # idempotent: nothing started twice
    assert tree.events().count("start nsr") == 1
    assert run.stop() == OCF_SUCCESS
    assert tree.events()[3:] == ["stop alpha", "stop nsr", "stop backup"]
    assert run.monitor() == OCF_NOT_RUNNING
    assert run.stop() == OCF_SUCCESS  # stop of a stopped member succeeds


def test_kit_added_while_running_is_started_next_time(tree: Tree) -> None:
    tree.kit("disk/kits/00", "nsr")
    run, _ = runner(tree)
    assert run.start() == OCF_SUCCESS
    tree.kit("disk/kits/01", "late")
    # not started by this start: the monitor does not hold it against the member
    assert run.monitor() == OCF_SUCCESS
    assert not tree.running("late")
    assert run.stop() == OCF_SUCCESS
    assert run.start() == OCF_SUCCESS
    assert tree.running("late") and tree.running("nsr")
    run.stop()


def test_broken_kit_starts_nothing_and_is_named(tree: Tree) -> None:
    tree.kit("disk/kits/00", "good")
    broken = tree.kit("disk/kits/01", "broken")
    (broken / "sbin" / "stop").write_text("#!/bin/bash\nif then\n")
    run, lines = runner(tree)
    assert run.start() == OCF_ERR_CONFIGURED
    assert tree.events() == []
    assert any("kit broken" in ln and "sbin/stop: bash -n" in ln for ln in lines), lines
    assert run.check() == OCF_ERR_CONFIGURED
    problems = check_members(tree.defs())
    assert [p.key for p in problems] == ["groups.kits.services.kits"]
    assert "kit broken" in problems[0].message and "bash -n" in problems[0].message
    assert not problems[0].warning


def test_check_command_names_the_kit(tree: Tree) -> None:
    broken = tree.kit("disk/kits/00", "nsr")
    (broken / "sbin" / "start").chmod(0o644)
    result = CliRunner().invoke(main, ["check", "--basedir", str(tree.root / "base"),
                                       "--host", "n1"])
    assert result.exit_code == 2, result.output
    assert "groups.kits.services.kits: kit nsr" in result.stderr
    assert "sbin/start: not executable" in result.stderr


def test_failed_kit_stops_the_ones_before(tree: Tree) -> None:
    tree.kit("disk/kits/00", "a")
    tree.kit("disk/kits/00", "b", start="exit 4")
    tree.kit("disk/kits/01", "c")
    run, lines = runner(tree)
    assert run.start() == OCF_ERR_GENERIC
    assert tree.events() == ["start a", "start b", "stop a"]
    assert not tree.running("a")
    assert any("b: sbin/start failed (exit 4)" in ln for ln in lines), lines
    assert run.started() is None  # no record: not started


def test_timeout_kills_the_kit_and_what_it_started(tree: Tree) -> None:
    tree.kit("disk/kits/00", "slow", start="sleep 30 & sleep 30")
    run, lines = runner(tree, timeout=1)
    began = time.monotonic()
    assert run.start() == OCF_ERR_GENERIC
    assert time.monotonic() - began < 10
    assert any("killed after 1 s" in ln for ln in lines), lines


def test_daemon_keeping_the_output_open_does_not_block(tree: Tree) -> None:
    pidfile = tree.root / "daemon.pid"
    tree.kit("disk/kits/00", "daemon",
             start=f'sleep 60 & echo $! > {pidfile}; touch "$RUN"')
    run, _ = runner(tree, timeout=20)
    began = time.monotonic()
    try:
        assert run.start() == OCF_SUCCESS
        assert time.monotonic() - began < 5
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), 15)
    run.stop()


def test_recorded_kit_that_died_fails_the_monitor(tree: Tree) -> None:
    tree.kit("disk/kits/00", "nsr")
    run, lines = runner(tree)
    assert run.start() == OCF_SUCCESS
    (tree.runs / "nsr").unlink()
    assert run.monitor(probe=True) == OCF_NOT_RUNNING  # a probe: nothing runs here
    assert run.monitor(probe=False) == OCF_ERR_GENERIC  # recurring: it died
    assert any("no longer run" in ln for ln in lines)


def test_ocf_agent_drives_the_same_runner(tree: Tree) -> None:
    from s2s_sd.run import run as run_command
    from tests.conftest import REPO

    tree.kit("disk/kits/00", "nsr")
    env = {**os.environ, "OCF_RESKEY_disks": " ".join(tree.disks),
           "OCF_RESKEY_command": str(REPO / ".venv" / "bin" / "s2s-sd"),
           "OCF_RESOURCE_INSTANCE": "kits_kits", "OCF_RESKEY_kit_timeout": "10"}
    agent = str(REPO / "s2s_sd" / "ocf" / "kits")
    assert run_command([agent, "monitor"], env=env, check=False).returncode == 7
    assert run_command([agent, "start"], env=env, check=False).returncode == 0
    assert tree.running("nsr")
    assert run_command([agent, "monitor"], env=env, check=False).returncode == 0
    assert run_command([agent, "stop"], env=env, check=False).returncode == 0
    assert run_command([agent, "stop"], env=env, check=False).returncode == 0
    assert "<resource-agent name=\"kits\"" in run_command([agent, "meta-data"]).stdout


# -- where ----------------------------------------------------------------------------------

def test_where_configured_available_running(tree: Tree) -> None:
    nsr = tree.kit("disk/kits/00", "nsr")
    tree.service("nsr", nsr)
    ora = tree.kit("disk/local/00", "ora1")
    (tree.root / "disk/local/01/ora1").mkdir()
    tree.service("ora1", ora, tree.root / "disk/local/01/ora1")
    tree.service("gone", tree.root / "disk/kits/01/gone")  # its disk is not mounted here
    (tree.runs / "nsr").touch()
    entries = {e["name"]: e for e in local_where(tree.layout, tree.defs())}
    assert entries["nsr"]["configured"] and entries["nsr"]["available"]
    assert entries["nsr"]["running"] is True and entries["nsr"]["groups"] == ["kits"]
    assert entries["ora1"]["local"] and entries["ora1"]["running"] is False
    assert [link["nn"] for link in entries["ora1"]["links"]] == ["00", "01"]
    assert entries["gone"]["configured"] and not entries["gone"]["available"]
    assert entries["gone"]["running"] is None


def test_where_command_standalone(tree: Tree) -> None:
    ora = tree.kit("disk/local/00", "ora1")
    tree.service("ora1", ora)
    env = {"S2S_SD_SERVICE_ROOT": tree.layout.service_root,
           "S2S_SD_LOCAL_DISKS": tree.layout.local_disks}
    cli = CliRunner(env=env)
    result = cli.invoke(main, ["where", "--basedir", str(tree.root / "none"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["services"][0]["name"] == "ora1"
    assert report["services"][0]["local"] is True
    text = cli.invoke(main, ["where", "ora1", "--basedir", str(tree.root / "none")])
    assert "configured here: yes, available here: yes, running: no" in text.stdout
    missing = cli.invoke(main, ["where", "nothing", "--basedir", str(tree.root / "none")])
    assert missing.exit_code == 2


# -- relocate ---------------------------------------------------------------------------

def fill(path: Path) -> None:
    """Data with everything a copy could lose: modes, links, hard links, xattrs, owners."""
    (path / "data").mkdir()
    (path / "data" / "table.dbf").write_bytes(os.urandom(300_000))
    secret = path / "data" / "secret"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    os.link(secret, path / "data" / "secret.hardlink")
    (path / "data" / "current").symlink_to("table.dbf")
    os.setxattr(path / "data" / "table.dbf", "user.s2s", b"kept")
    os.utime(path / "data" / "table.dbf", (1_000_000_000, 1_000_000_000))
    if os.geteuid() == 0:
        os.chown(path / "data" / "table.dbf", 65534, 65534)


def test_relocate_local_into_group_and_back(tree: Tree) -> None:
    ora = tree.kit("disk/local/00", "ora1")
    fill(ora)
    redo = tree.root / "disk/local/01/ora1"
    redo.mkdir()
    (redo / "redo.log").write_bytes(os.urandom(10_000))
    tree.service("ora1", ora, redo)
    before = [tree_manifest(str(ora)), tree_manifest(str(redo))]
    defs = tree.defs()

    relocation = plan(tree.layout, defs, "ora1", "kits", mounted=lambda _p: True)
    assert [t.target for t in relocation.transfers] == [
        f"{tree.root}/disk/kits/00/ora1", f"{tree.root}/disk/kits/01/ora1"]
    execute(relocation)
    links = {e["name"]: e for e in local_where(tree.layout, defs)}["ora1"]["links"]
    assert [link["target"] for link in links] == [t.target for t in relocation.transfers]
    assert [tree_manifest(t.target) for t in relocation.transfers] == before
    # the old copy is kept, hidden: never started as a kit
    assert not ora.exists() and len(relocation.old_copies) == 2
    assert [k.name for k in find_kits([str(tree.root / "disk/local/00")])] == []
    assert [k.name for k in find_kits(tree.disks)] == ["ora1"]

    time.sleep(1.1)  # a second relocation's old copies get another stamp
    back = plan(tree.layout, defs, "ora1", "local", mounted=lambda _p: True)
    execute(back)
    assert [tree_manifest(str(ora)), tree_manifest(str(redo))] == before
    removed = purge_old_copies(tree.layout, defs, "ora1", mounted=lambda _p: True)
    assert len(removed) == 4
    assert sorted(os.listdir(tree.root / "disk/kits/00")) == []


def test_relocate_refusals(tree: Tree) -> None:
    ora = tree.kit("disk/local/00", "ora1")
    tree.service("ora1", ora)
    defs = tree.defs()
    (tree.runs / "ora1").touch()
    with pytest.raises(Refused, match="running"):
        plan(tree.layout, defs, "ora1", "kits", mounted=lambda _p: True)
    (tree.runs / "ora1").unlink()
    with pytest.raises(Refused, match="not mounted on this host"):
        plan(tree.layout, defs, "ora1", "kits", mounted=lambda _p: False)
    with pytest.raises(BadInput, match="no such group"):
        plan(tree.layout, defs, "ora1", "nogroup")
    with pytest.raises(BadInput, match="already on"):
        plan(tree.layout, defs, "ora1", "local")
    (tree.root / "disk/kits/00/ora1").mkdir()
    with pytest.raises(BadInput, match="exists already"):
        plan(tree.layout, defs, "ora1", "kits", mounted=lambda _p: True)
    with pytest.raises(BadInput, match="no service 'nsr'"):
        plan(tree.layout, defs, "nsr", "kits", mounted=lambda _p: True)
    assert ora.is_dir()  # nothing changed


def test_relocate_command_from_elsewhere_to_local(tree: Tree) -> None:
    opt = tree.root / "opt"
    opt.mkdir()
    nsr = tree.kit("opt", "nsr")
    tree.service("nsr", nsr)
    env = {"S2S_SD_SERVICE_ROOT": tree.layout.service_root,
           "S2S_SD_LOCAL_DISKS": tree.layout.local_disks}
    cli = CliRunner(env=env)
    base = ["--basedir", str(tree.root / "none")]
    dry = cli.invoke(main, ["relocate", "nsr", "--to", "local", "--dry-run", *base])
    assert dry.exit_code == 0, dry.output
    assert "plan (nothing changed)" in dry.stdout and nsr.is_dir()
    (tree.runs / "nsr").touch()
    refused = cli.invoke(main, ["relocate", "nsr", "--to", "local", *base])
    assert refused.exit_code == 3, refused.output
    (tree.runs / "nsr").unlink()
    done = cli.invoke(main, ["relocate", "nsr", "--to", "local", "--purge", *base])
    assert done.exit_code == 0, done.output
    assert not nsr.exists()
    assert os.readlink(Path(tree.layout.service_root) / "00" / "nsr") == \
        f"{tree.root}/disk/local/00/nsr"


# -- link --------------------------------------------------------------------------------

def test_link_and_undo(tree: Tree) -> None:
    nsr = tree.kit("disk/kits/00", "nsr")
    tree.service("nsr", nsr)
    system = tree.root / "var" / "nsr"
    (system / "res").mkdir(parents=True)
    (system / "res" / "nsrdb").write_bytes(os.urandom(5000))
    before = tree_manifest(str(system))
    defs = tree.defs()
    stable = link_path(tree.layout, defs, str(system), "nsr")
    assert stable == f"{tree.layout.service_root}/00/nsr{system}"
    assert system.is_symlink() and os.readlink(system) == stable
    assert tree_manifest(str(nsr) + str(system)) == before
    with pytest.raises(BadInput, match="symlink already"):
        link_path(tree.layout, defs, str(system), "nsr")
    (tree.runs / "nsr").touch()
    with pytest.raises(Refused):
        unlink_path(tree.layout, defs, str(system))
    (tree.runs / "nsr").unlink()
    unlink_path(tree.layout, defs, str(system))
    assert not system.is_symlink() and tree_manifest(str(system)) == before
    assert sorted(os.listdir(nsr)) == ["sbin"]  # the copy and its parents are gone


def test_link_refusals(tree: Tree) -> None:
    nsr = tree.kit("disk/kits/00", "nsr")
    tree.service("nsr", nsr)
    system = tree.root / "etc" / "nsr.conf"
    system.parent.mkdir()
    system.write_text("x\n")
    (tree.runs / "nsr").touch()
    with pytest.raises(Refused, match="running"):
        link_path(tree.layout, tree.defs(), str(system), "nsr")
    with pytest.raises(BadInput, match=r"no .*/01/nsr"):
        link_path(tree.layout, tree.defs(), str(system), "nsr", number=1)
    with pytest.raises(BadInput, match="inside the service tree"):
        link_path(tree.layout, tree.defs(), str(nsr / "sbin"), "nsr")
    assert system.read_text() == "x\n"


def test_symlink_on_the_other_hosts(tree: Tree) -> None:
    from s2s_sd.kits.tree import place_symlink, remove_symlink

    stable = f"{tree.layout.service_root}/00/nsr/var/nsr"
    absent = tree.root / "n2" / "var" / "nsr"
    assert place_symlink(str(absent), stable).endswith(stable)
    assert os.readlink(absent) == stable
    assert "already" in place_symlink(str(absent), stable)
    empty = tree.root / "n3" / "var" / "nsr"
    empty.mkdir(parents=True)
    place_symlink(str(empty), stable)
    assert empty.is_symlink()
    full = tree.root / "n4" / "var" / "nsr"
    full.mkdir(parents=True)
    (full / "own").write_text("data of n4\n")
    with pytest.raises(Refused, match="data of its own"):
        place_symlink(str(full), stable)
    assert (full / "own").read_text() == "data of n4\n"
    assert remove_symlink(str(absent), stable) == f"removed {absent}"
    assert not absent.exists() and not absent.is_symlink()
    assert "left alone" in remove_symlink(str(full), stable)


def test_a_relocation_sets_the_links_on_the_target_groups_hosts_and_removes_them_on_leaving(
        tree: Tree) -> None:
    ora = tree.kit("disk/local/00", "ora1")
    tree.service("ora1", ora)
    into = plan_across(tree.layout, tree.defs(), "n1", "ora1", "kits", mounted=lambda _p: True)
    assert (into.hosts_set, into.hosts_removed) == (["n2"], [])
    execute(into)
    back = plan_across(tree.layout, tree.defs(), "n1", "ora1", "local", mounted=lambda _p: True)
    assert (back.hosts_set, back.hosts_removed) == ([], ["n2"])


def test_the_other_hosts_changes_and_failures_are_told_apart() -> None:
    changes = Changes.of({"n2": Answer("n2", {"changed": ["/service/00/ora1 -> x"]}),
                          "n3": Answer("n3", error=HostUnreachable("n3", "ssh: timeout"))})
    assert changes.done == {"n2": ["/service/00/ora1 -> x"]}
    assert changes.failed == {"n3": "n3: unreachable: ssh: timeout"}
