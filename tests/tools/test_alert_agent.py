"""Tools tier: s2s_sd/ocf/alert, the Pacemaker alert agent behind the notify hook, run as
Pacemaker runs it (CRM_alert_* and the alert's instance attributes in the environment,
as pacemaker's alert_file.sh.sample reads them) with a real notify hook that records its
arguments, in a throw-away tree; and the CIB with the alert through the real crm_verify."""

from __future__ import annotations

import shutil
import time
from dataclasses import replace
from pathlib import Path

import pytest

from s2s_sd.hosts.events import Event
from s2s_sd.load import load_definitions
from s2s_sd.render.pacemaker import CIB_FILE, PacemakerSettings, render_pacemaker
from s2s_sd.run import Result, run
from tests.conftest import EXAMPLES, REPO
from tests.tools.ocf_checks import assert_shellcheck_clean

pytestmark = pytest.mark.tools

AGENT = REPO / "s2s_sd" / "ocf" / "alert"
NODE = "n1"
HOOK_WAIT = 10.0  # the agent runs the hook detached: how long a test waits for it


class Cluster:
    """A base dir with a recording notify hook, a log dir and the agent's state dir."""

    def __init__(self, root: Path, hook_exit: int = 0) -> None:
        self.root = root
        self.record = root / "record"
        self.logs = root / "logs"
        (root / "hooks").mkdir()
        hook = root / "hooks" / "notify"
        hook.write_text("#!/bin/sh\n"
                        f'printf "%s|" "$@" "$S2S_EVENT" "$S2S_SD_BASEDIR" "$(pwd)" '
                        f">> {self.record}\necho >> {self.record}\n"
                        f"echo broken pager >&2\nexit {hook_exit}\n")
        hook.chmod(0o755)

    def alert(self, **crm: str) -> Result:
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
               "S2S_SD_LOGDIR": str(self.logs),
               "S2S_SD_ALERT_STATEDIR": str(self.root / "state"),
               "s2s_sd_hostgroup": "c07", "s2s_sd_basedir": str(self.root),
               "s2s_sd_notify": "hooks/notify",
               "s2s_sd_groups": "web:2:0:vip,httpd my_db:3:0:data,server,hooks",
               "CRM_alert_version": "2.1.5", "CRM_alert_recipient": "",
               "CRM_alert_node_sequence": "7", "CRM_alert_timestamp": "21:40:00.123456",
               "CRM_alert_timestamp_epoch": "1796074800", "CRM_alert_node": NODE}
        env.update({f"CRM_alert_{key}": value for key, value in crm.items()})
        started = time.monotonic()
        result = run([str(AGENT)], check=False, env=env, timeout=30)
        assert time.monotonic() - started < 2.0, "the agent must not wait for the hook"
        assert result.returncode == 0, result.stderr
        return result

    def op(self, rsc: str, task: str, rc: int = 0, target_rc: int = 0,
           desc: str = "ok", status: int = 0, interval: str = "0") -> Result:
        return self.alert(kind="resource", rsc=rsc, task=task, rc=str(rc),
                          target_rc=str(target_rc), desc=desc, status=str(status),
                          interval=interval)

    def calls(self, count: int) -> list[list[str]]:
        """The hook's calls once there are `count` of them: EVENT GROUP MEMBER HOST REASON,
        then S2S_EVENT, S2S_SD_BASEDIR and its working directory."""
        deadline = time.monotonic() + HOOK_WAIT
        while True:
            lines = self.record.read_text().splitlines() if self.record.exists() else []
            if len(lines) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.2)  # one more would be a defect: give it the chance to show
        lines = self.record.read_text().splitlines() if self.record.exists() else []
        assert len(lines) == count, lines
        return [line.rstrip("|").split("|") for line in lines]

    def log(self) -> list[str]:
        path = self.logs / "actions.log"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path)


def test_a_failure_reaches_the_hook_with_the_events_arguments(cluster: Cluster) -> None:
    cluster.op("my_db_server", "monitor", rc=7, desc="not running", interval="10000")
    [call] = cluster.calls(1)
    assert call[:5] == ["failure", "my_db", "server", NODE,
                        "monitor failed: not running (rc 7, expected 0)"]
    assert call[5:] == ["failure", str(cluster.root), str(cluster.root)]
    [line] = cluster.log()
    # the same line as the systemd engine's events.emit writes (after its time stamp)
    event = Event("failure", "my_db", "server", NODE,
                  "monitor failed: not running (rc 7, expected 0)")
    assert line.split(" ", 1)[1] == f"{NODE} [c07] {event.line()}"


def test_restart_then_give_up_after_migration_threshold(cluster: Cluster) -> None:
    cluster.op("web_httpd", "monitor", rc=7, desc="not running")
    cluster.op("web_httpd", "stop")
    cluster.op("web_httpd", "start")  # recovered in place: a restart, not a move
    cluster.op("web_httpd", "monitor", rc=1, desc="error")
    cluster.op("web_httpd", "stop")
    cluster.op("web_vip", "stop")  # the group leaves this node
    events = [call[:3] for call in cluster.calls(4)]
    assert sorted(events) == sorted([
        ["failure", "web", "httpd"], ["restart", "web", "httpd"],
        ["failure", "web", "httpd"], ["give-up", "web", "httpd"]])
    assert [line.split(" event ")[1].split(":")[0] for line in cluster.log()] == [
        "failure web/httpd", "restart web/httpd", "failure web/httpd", "give-up web/httpd"]


def test_a_cancelled_monitor_is_no_failure(cluster: Cluster) -> None:
    """What Pacemaker 2.1 sends (seen in the lab) when it stops a member whose monitor
    failed: the cancel of that recurring monitor, rc 1 with status 1 (cancelled)."""
    cluster.op("web_httpd", "monitor", rc=1, desc="error", interval="10000")
    cluster.op("web_httpd", "monitor", rc=1, desc="Cancelled", status=1, interval="10000")
    cluster.op("web_httpd", "stop")
    cluster.op("web_httpd", "start")
    assert sorted(call[:3] for call in cluster.calls(2)) == [
        ["failure", "web", "httpd"], ["restart", "web", "httpd"]]
    # one failure counted towards migration_threshold, not two
    assert (cluster.root / "state" / "web_httpd.failed").read_text().count("\n") == 1


def test_the_last_members_start_is_a_move(cluster: Cluster) -> None:
    for member in ("data", "server", "hooks"):
        cluster.op(f"my_db_{member}", "start")
    [call] = cluster.calls(1)
    assert call[:5] == ["moved", "my_db", "", NODE, f"started on {NODE} by the cluster"]


def test_fencing_and_node_events(cluster: Cluster) -> None:
    cluster.alert(kind="fencing", node="n2", task="reboot", rc="0",
                  desc="Operation reboot of n2 by n1 for pacemaker-controld.1234: OK")
    cluster.alert(kind="node", node="n3", desc="lost")
    cluster.alert(kind="node", node="n3", desc="member")
    events = sorted(call[:4] for call in cluster.calls(3))
    assert events == [["fenced", "c07", "", "n2"], ["node-joined", "c07", "", "n3"],
                      ["node-lost", "c07", "", "n3"]]


def test_resources_not_s2s_sds_are_ignored(cluster: Cluster) -> None:
    cluster.op("mydummy", "monitor", rc=1, desc="error")
    cluster.op("web", "start")  # the group itself is no member
    cluster.op("web_vipx", "start")
    cluster.alert(kind="attribute", attribute_name="fail-count-web_httpd",
                  attribute_value="1")
    assert cluster.calls(0) == [] and cluster.log() == []


def test_a_failing_hook_is_only_logged(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, hook_exit=3)
    cluster.op("web_vip", "start", rc=1, desc="error")
    assert cluster.calls(1)[0][0] == "failure"
    deadline = time.monotonic() + HOOK_WAIT
    while len(cluster.log()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert cluster.log()[1].endswith(
        "[c07] notify hook failed for failure of web (exit 3): broken pager")


def test_without_a_log_dir_or_state_the_line_goes_to_the_cluster_log(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    cluster.logs.write_text("a file where the log dir should be")
    result = cluster.op("web_vip", "monitor", rc=7, desc="not running")
    assert "event failure web/vip" in result.stderr
    assert cluster.calls(1)[0][:3] == ["failure", "web", "vip"]


def test_the_agent_is_shellcheck_clean() -> None:
    assert_shellcheck_clean(AGENT)


def test_crm_verify_accepts_the_cib_with_the_alert(tmp_path: Path) -> None:
    defs = load_definitions(EXAMPLES, "n1")
    defs = replace(defs, hostgroup=replace(defs.hostgroup, notify="hooks/notify"))
    cib = tmp_path / CIB_FILE
    cib.write_text(render_pacemaker(defs, PacemakerSettings())[CIB_FILE])
    assert "<alert " in cib.read_text()
    crm_verify = shutil.which("crm_verify")
    assert crm_verify, "crm_verify is not installed: run scripts/setup test"
    result = run([crm_verify, "-V", "-x", str(cib)], check=False)
    assert result.ok, result.stderr + result.stdout
    assert "error" not in (result.stderr + result.stdout).lower()
