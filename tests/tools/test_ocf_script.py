"""Tools tier: the OCF agent ocf:s2s:script, with the real ocf-tester, xmllint, pcs's
RelaxNG check and shellcheck.

Everything runs in a throw-away directory tree: the example s2s script keeps its pid file
and data there (through its config file), so nothing of the machine is touched. The tree
is world-readable because ocf-tester runs `meta-data` as the user nobody.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from s2s_sd.run import Result, run
from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.tools

AGENT = REPO / "s2s_sd" / "ocf" / "script"
DTD = Path("/usr/share/resource-agents/ra-api-1.dtd")
PCS_PYTHON = "/usr/bin/python3"  # pcs is a Python package of the system interpreter
HOST = os.uname().nodename

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_ARGS, OCF_ERR_UNIMPLEMENTED = 0, 1, 2, 3
OCF_ERR_PERM, OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 4, 5, 6, 7


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run scripts/setup test"
    return path


@dataclass
class Tree:
    root: Path
    agent: Path
    script: Path
    config: Path
    pid_file: Path

    def env(self, **extra: str) -> dict[str, str]:
        # a bare environment: no OCF_ROOT, no ocf-shellfuncs, as under systemd
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "OCF_RESOURCE_INSTANCE": "censhare_db",
               "OCF_RESKEY_script": str(self.script), "OCF_RESKEY_config": str(self.config),
               "TMPDIR": str(self.root)}
        env.update(extra)
        return env

    def call(self, action: str, **extra: str) -> Result:
        return run([str(self.agent), action], check=False, env=self.env(**extra), timeout=60)


def _kill_leftover(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def tree() -> Iterator[Tree]:
    root = Path(tempfile.mkdtemp(prefix="s2s-ocf-test."))
    root.chmod(0o755)
    (root / "init.d").mkdir()
    (root / "sysconfig").mkdir()
    (root / "data").mkdir()
    (root / "run").mkdir()
    agent = root / "script"
    shutil.copy(AGENT, agent)
    agent.chmod(0o755)
    script = root / "init.d" / "censhare_db"
    shutil.copy(EXAMPLES / "init.d" / "censhare_db", script)
    script.chmod(0o755)
    pid_file = root / "run" / "censhare_db.pid"
    config = root / "sysconfig" / "censhare_db"
    config.write_text(f"DATA_DIR={root}/data\nPID_FILE={pid_file}\nHEARTBEAT_INTERVAL=1\n")
    for path in root.rglob("*"):
        path.chmod(path.stat().st_mode | 0o055)
    try:
        yield Tree(root, agent, script, config, pid_file)
    finally:
        _kill_leftover(pid_file)
        for twin in root.rglob("*.pid*"):
            _kill_leftover(twin)
        shutil.rmtree(root, ignore_errors=True)


def meta_data() -> str:
    result = run([str(AGENT), "meta-data"], env={"PATH": "/usr/bin:/bin"})
    return result.stdout


# -- static checks -----------------------------------------------------------------------

def test_shellcheck_clean() -> None:
    result = run([tool("shellcheck"), "--severity=style", str(AGENT)], check=False)
    assert result.ok, result.stdout + result.stderr


def test_meta_data_carries_the_doctype_and_passes_the_dtd() -> None:
    text = meta_data()
    assert '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">' in text
    assert DTD.is_file(), "resource-agents is not installed"
    result = run([tool("xmllint"), "--noout", "--dtdvalid", str(DTD), "-"], input=text,
                 check=False)
    assert result.ok, result.stderr


def test_meta_data_passes_pcs_relaxng_check() -> None:
    text = meta_data()
    # pcs's own code path: parse, pick the schema by <version>, assertValid, then parse
    # the agent as `pcs resource describe` would
    check = (
        "import sys\n"
        "from pcs.lib.resource_agent.xml import _metadata_xml_to_dom, parse_metadata\n"
        "from pcs.lib.resource_agent.types import ResourceAgentName\n"
        "dom = _metadata_xml_to_dom(sys.stdin.read())\n"
        "agent = parse_metadata(ResourceAgentName('ocf', 's2s', 'script'), dom)\n"
        "print(sorted(p.name for p in agent.parameters), sorted(a.name for a in agent.actions))\n"
    )
    assert shutil.which("pcs"), "pcs is not installed: run scripts/setup test"
    result = run([PCS_PYTHON, "-c", check], input=text, check=False)
    assert result.ok, result.stderr
    assert result.stdout.strip() == ("['config', 'script'] ['meta-data', 'monitor', 'start', "
                                     "'stop', 'validate-all']")
    # and the same schema file through xmllint, as a second, independent reader
    rng = Path("/usr/share/pcs/data/ocf-1.0.rng")
    assert rng.is_file()
    result = run([tool("xmllint"), "--noout", "--relaxng", str(rng), "-"], input=text,
                 check=False)
    assert result.ok, result.stderr


# -- ocf-tester on the real example script ----------------------------------------------

def test_ocf_tester_passes_driving_the_example_script(tree: Tree) -> None:
    result = run([tool("ocf-tester"), "-n", "censhare_db", "-o", f"script={tree.script}",
                  "-o", f"config={tree.config}", str(tree.agent)], check=False, timeout=300)
    output = result.stdout + result.stderr
    assert result.ok and "passed all tests" in output, output
    assert not tree.pid_file.exists(), "ocf-tester ends with the resource stopped"
    assert (tree.root / "data" / "db" / "heartbeat").is_file(), "the script ran in the tree"


# -- OCF semantics -----------------------------------------------------------------------

def test_start_stop_monitor_idempotent(tree: Tree) -> None:
    assert tree.call("monitor").returncode == OCF_NOT_RUNNING
    assert tree.call("stop").returncode == OCF_SUCCESS  # stop of stopped
    assert tree.call("start").returncode == OCF_SUCCESS
    pid = tree.pid_file.read_text().strip()
    assert tree.call("start").returncode == OCF_SUCCESS  # start of started
    assert tree.pid_file.read_text().strip() == pid, "a second start must not start again"
    assert tree.call("monitor", OCF_RESKEY_CRM_meta_interval="20000").returncode == OCF_SUCCESS
    assert tree.call("stop").returncode == OCF_SUCCESS
    assert tree.call("stop").returncode == OCF_SUCCESS
    assert tree.call("monitor").returncode == OCF_NOT_RUNNING
    assert not Path(f"/proc/{pid}").exists()


def test_config_file_is_exported(tree: Tree) -> None:
    assert tree.call("start").returncode == OCF_SUCCESS
    assert tree.pid_file.is_file(), "the script read PID_FILE from CONFIG_FILE"
    assert tree.call("stop").returncode == OCF_SUCCESS


def lsb_tree(tree: Tree, status: int) -> Tree:
    """A script whose status exits with `status`, start/stop succeed."""
    fake = tree.root / "init.d" / "fake"
    fake.write_text("#!/bin/bash\ncase \"$1\" in\n  status) exit "
                    f"$(cat {tree.root}/status_rc) ;;\n  *) exit 0 ;;\nesac\n")
    fake.chmod(0o755)
    (tree.root / "status_rc").write_text(f"{status}\n")
    return Tree(tree.root, tree.agent, fake, tree.config, tree.pid_file)


@pytest.mark.parametrize(("lsb", "probe", "recurring"), [
    (0, OCF_SUCCESS, OCF_SUCCESS),
    (3, OCF_NOT_RUNNING, OCF_NOT_RUNNING),
    (1, OCF_NOT_RUNNING, OCF_ERR_GENERIC),  # dead, pid file left
    (2, OCF_NOT_RUNNING, OCF_ERR_GENERIC),  # dead, lock file left
    (4, OCF_ERR_GENERIC, OCF_ERR_GENERIC),  # unknown
    (150, OCF_ERR_GENERIC, OCF_ERR_GENERIC),
])
def test_lsb_status_maps_to_ocf(tree: Tree, lsb: int, probe: int, recurring: int) -> None:
    fake = lsb_tree(tree, lsb)
    assert fake.call("monitor", OCF_RESKEY_CRM_meta_interval="0").returncode == probe
    assert fake.call("monitor").returncode == probe  # no interval (systemd): a probe
    assert fake.call("monitor",
                     OCF_RESKEY_CRM_meta_interval="30000").returncode == recurring
    # the role=Stopped monitor looks where it should not run: dead is stopped, as a probe
    assert fake.call("monitor", OCF_RESKEY_CRM_meta_interval="31000",
                     OCF_RESKEY_CRM_meta_role="Stopped").returncode == probe


@pytest.mark.parametrize("lsb", [1, 2, 3])
def test_stop_of_dead_or_stopped_succeeds(tree: Tree, lsb: int) -> None:
    assert lsb_tree(tree, lsb).call("stop").returncode == OCF_SUCCESS


def test_stop_that_leaves_it_running_fails(tree: Tree) -> None:
    fake = lsb_tree(tree, 0)
    result = fake.call("stop", OCF_RESKEY_CRM_meta_timeout="7000")
    assert result.returncode == OCF_ERR_GENERIC, result.stderr
    assert "still running" in result.stderr


def test_start_that_never_runs_fails(tree: Tree) -> None:
    fake = lsb_tree(tree, 3)
    result = fake.call("start", OCF_RESKEY_CRM_meta_timeout="7000")
    assert result.returncode == OCF_ERR_GENERIC, result.stderr


def test_validate_all(tree: Tree) -> None:
    assert tree.call("validate-all").returncode == OCF_SUCCESS
    assert tree.call("validate-all", OCF_RESKEY_script="").returncode == OCF_ERR_CONFIGURED
    assert tree.call("validate-all",
                     OCF_RESKEY_script="init.d/censhare_db").returncode == OCF_ERR_CONFIGURED
    missing = str(tree.root / "init.d" / "nothing")
    assert tree.call("validate-all", OCF_RESKEY_script=missing).returncode == OCF_ERR_INSTALLED
    assert tree.call("validate-all", OCF_RESKEY_config=str(tree.root / "nope")
                     ).returncode == OCF_ERR_INSTALLED
    tree.script.chmod(0o644)
    assert tree.call("validate-all").returncode == OCF_ERR_PERM
    assert tree.call("start").returncode == OCF_ERR_PERM
    tree.script.chmod(0o755)
    tree.script.write_text(tree.script.read_text() + "\nif then fi (\n")
    result = tree.call("validate-all")
    assert result.returncode == OCF_ERR_CONFIGURED and "syntax" in result.stderr
    assert tree.call("start").returncode == OCF_ERR_CONFIGURED


def test_missing_script_probe_and_stop(tree: Tree) -> None:
    missing = str(tree.root / "init.d" / "nothing")
    assert tree.call("monitor", OCF_RESKEY_script=missing).returncode == OCF_NOT_RUNNING
    assert tree.call("stop", OCF_RESKEY_script=missing).returncode == OCF_SUCCESS
    assert tree.call("monitor", OCF_RESKEY_script=missing,
                     OCF_RESKEY_CRM_meta_interval="30000").returncode == OCF_ERR_INSTALLED
    assert tree.call("monitor", OCF_RESKEY_script=missing, OCF_RESKEY_CRM_meta_role="Stopped",
                     OCF_RESKEY_CRM_meta_interval="31000").returncode == OCF_NOT_RUNNING
    assert tree.call("start", OCF_RESKEY_script=missing).returncode == OCF_ERR_INSTALLED


def test_host_twins_are_used(tree: Tree) -> None:
    # this host's twin of the config moves the pid file; a twin of the script logs a mark
    twin_pid = tree.root / "run" / "twin.pid"
    Path(f"{tree.config}.{HOST}").write_text(
        f"DATA_DIR={tree.root}/data\nPID_FILE={twin_pid}\nHEARTBEAT_INTERVAL=1\n")
    assert tree.call("start").returncode == OCF_SUCCESS
    assert twin_pid.is_file() and not tree.pid_file.exists()
    assert tree.call("stop").returncode == OCF_SUCCESS
    script_twin = Path(f"{tree.script}.{HOST}")
    script_twin.write_text(tree.script.read_text().replace(
        'echo "censhare_db: started', 'echo "twin script: started'))
    script_twin.chmod(0o755)
    result = tree.call("start")
    assert result.returncode == OCF_SUCCESS
    assert "twin script: started" in result.stderr
    assert tree.call("stop").returncode == OCF_SUCCESS
    # a syntax error only in this host's twin breaks this host only
    script_twin.write_text(script_twin.read_text() + "\nif then fi (\n")
    assert tree.call("validate-all").returncode == OCF_ERR_INSTALLED


def test_unsupported_actions_and_usage(tree: Tree) -> None:
    for action in ("notify", "promote", "demote", "migrate_to", "reload"):
        assert tree.call(action).returncode == OCF_ERR_UNIMPLEMENTED, action
    assert tree.call("").returncode == OCF_ERR_ARGS


def test_a_daemon_holding_stdout_cannot_hang_start(tree: Tree) -> None:
    sloppy = tree.root / "init.d" / "sloppy"
    marker = tree.root / "run" / "sloppy.pid"
    sloppy.write_text(
        "#!/bin/bash\n"
        f"case \"$1\" in\n"
        f"  start) sleep 300 & echo $! > {marker}; echo started ;;\n"
        f"  stop) kill \"$(cat {marker})\"; rm -f {marker} ;;\n"
        f"  status) [ -s {marker} ] && kill -0 \"$(cat {marker})\" 2>/dev/null && exit 0;"
        " exit 3 ;;\n"
        "esac\n")
    sloppy.chmod(0o755)
    env = tree.env(OCF_RESKEY_script=str(sloppy))
    del env["OCF_RESKEY_config"]
    # output captured through a pipe, as ocf-tester and pacemaker-execd do
    result = run([str(tree.agent), "start"], check=False, env=env, timeout=30)
    try:
        assert result.returncode == OCF_SUCCESS, result.stderr
    finally:
        _kill_leftover(marker)
