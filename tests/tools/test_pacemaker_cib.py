"""Tools tier: the generated CIB through the real crm_verify, crm_simulate, crm_resource,
pcs and crmsh, offline (files only, no cluster).

crm_simulate runs the scheduler on the file: a group must start its members in order on
its first preferred host, move as a whole (stop in reverse, start in order), fail over
to its next host when the holder fails, stay put when the preferred host returns
(stickiness) and never be placed outside its host list.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from s2s_sd.cli import main
from s2s_sd.load import load_definitions
from s2s_sd.model import Engine
from s2s_sd.render.pacemaker import AGENT_FILE, CIB_FILE, PacemakerSettings, render_pacemaker
from s2s_sd.run import run
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.tools

ORDER = {
    "censhare": ["censhare_data", "censhare_vip", "censhare_db", "censhare_app",
                 "censhare_hooks"],
    "ora": ["ora_data", "ora_redo", "ora_vip", "ora_listener", "ora_db", "ora_hooks"],
    "web": ["web_vip", "web_httpd"],
}
HOSTS = {"censhare": ["n1", "n2", "n3"], "ora": ["n2", "n3", "n1"], "web": ["n3", "n1"]}


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run scripts/setup test"
    return path


def generated(tmp_path: Path, engine: Engine = Engine.SYSTEMD) -> Path:
    """cib.xml of examples/ through the real command; optionally as pacemaker engine."""
    out = tmp_path / "out"
    if engine is Engine.SYSTEMD:
        result = CliRunner().invoke(main, ["generate", "pacemaker", "--basedir", str(EXAMPLES),
                                           "--out", str(out), "--host", "n1"])
        assert result.exit_code == 0, result.output
        assert "stonith-enabled=false" in result.output  # the loud lab warning
        assert (out / AGENT_FILE).stat().st_mode & 0o111
        return out / CIB_FILE
    defs = load_definitions(EXAMPLES, "n1")
    defs = replace(defs, hostgroup=replace(defs.hostgroup, engine=engine))
    out.mkdir(parents=True)
    path = out / CIB_FILE
    path.write_text(render_pacemaker(defs, PacemakerSettings())[CIB_FILE])
    return path


def test_crm_verify_accepts_the_generated_cib(tmp_path: Path) -> None:
    for engine in (Engine.SYSTEMD, Engine.PACEMAKER):
        cib = generated(tmp_path / engine.value, engine)
        result = run([tool("crm_verify"), "-V", "-x", str(cib)], check=False)
        assert result.ok, result.stderr + result.stdout
        assert "error" not in (result.stderr + result.stdout).lower()


def test_crm_verify_check_can_fail(tmp_path: Path) -> None:
    cib = generated(tmp_path)
    broken = cib.read_text().replace('name="stonith-enabled" value="false"',
                                     'name="stonith-enabled" value="true"')
    cib.write_text(broken)
    assert run([tool("crm_verify"), "-x", str(cib)], check=False).returncode != 0


# -- crm_simulate ------------------------------------------------------------------------

@dataclass
class Simulation:
    actions: list[tuple[str, str, str]]  # (resource, action, node) in transition order
    placement: dict[str, str | None]  # primitive -> node it runs on
    cib: Path  # the state after the transition


ACTION = re.compile(r"^\s*\* Resource action:\s+(\S+)\s+(\S+) on (\S+)")
STATE = re.compile(r"^\s*\* (\S+)\s+\(([^)]*)\):\s+(Started|Stopped)\s*(\S*)")


def simulate(cib: Path, out: Path, *args: str) -> Simulation:
    result = run([tool("crm_simulate"), "-x", str(cib), "-S", "-O", str(out), *args],
                 check=False)
    assert result.ok, result.stderr
    text = result.stdout
    executing = text.split("Executing Cluster Transition:", 1)[1].split("Revised Cluster", 1)
    actions = [(m[1], m[2], m[3]) for line in executing[0].splitlines()
               if (m := ACTION.match(line)) and m[2] in ("start", "stop")]
    placement: dict[str, str | None] = {}
    for line in executing[1].splitlines():
        match = STATE.match(line)
        if match:
            placement[match[1]] = match[4] if match[3] == "Started" else None
    return Simulation(actions, placement, out)


@pytest.fixture
def running(tmp_path: Path) -> Simulation:
    """All three nodes up, with quorum, every group started."""
    return simulate(quorate_cib(tmp_path), tmp_path / "up.xml", *ALL_UP)


def quorate_cib(tmp_path: Path) -> Path:
    cib = generated(tmp_path)
    quorate = tmp_path / "quorate.xml"
    quorate.write_text(cib.read_text().replace("<cib ", '<cib have-quorum="1" ', 1))
    return quorate


ALL_UP = ("--node-up", "n1", "--node-up", "n2", "--node-up", "n3")


def group_node(sim: Simulation, group: str) -> str | None:
    nodes = {sim.placement[member] for member in ORDER[group]}
    assert len(nodes) == 1, f"{group} split over {nodes}"
    return nodes.pop()


def test_groups_start_in_order_on_first_preferred_host(running: Simulation) -> None:
    for group, members in ORDER.items():
        starts = [(rsc, node) for rsc, action, node in running.actions
                  if action == "start" and rsc in members]
        assert starts == [(m, HOSTS[group][0]) for m in members]
        assert group_node(running, group) == HOSTS[group][0]


def test_move_stops_in_reverse_and_starts_in_order(running: Simulation,
                                                   tmp_path: Path) -> None:
    moved = tmp_path / "moved.xml"
    shutil.copy(running.cib, moved)
    result = run([tool("crm_resource"), "--move", "-r", "ora", "-N", "n1"], check=False,
                 extra_env={"CIB_file": str(moved)})
    assert result.ok, result.stderr
    sim = simulate(moved, tmp_path / "after-move.xml")
    members = ORDER["ora"]
    assert sim.actions == ([(m, "stop", "n2") for m in reversed(members)]
                           + [(m, "start", "n1") for m in members])
    assert group_node(sim, "ora") == "n1"
    assert group_node(sim, "censhare") == "n1" and group_node(sim, "web") == "n3"
    # clearing the move constraint leaves the group where it is (stickiness)
    run([tool("crm_resource"), "--clear", "-r", "ora"], extra_env={"CIB_file": str(moved)})
    assert simulate(sim.cib, tmp_path / "cleared.xml").actions == []


def test_node_failure_fails_over_to_next_host(running: Simulation, tmp_path: Path) -> None:
    sim = simulate(running.cib, tmp_path / "n1-failed.xml", "--node-fail", "n1")
    assert [a for a in sim.actions if a[0].startswith("censhare")] == [
        (m, "start", "n2") for m in ORDER["censhare"]]
    assert group_node(sim, "censhare") == "n2"
    assert group_node(sim, "ora") == "n2" and group_node(sim, "web") == "n3"
    # n1 reboots and rejoins (its old resource history is gone): nothing bounces back
    rebooted = tmp_path / "n1-rebooted.xml"
    tree = etree.parse(str(sim.cib))
    for state in tree.getroot().findall("status/node_state[@uname='n1']"):
        tree.getroot().find("status").remove(state)  # type: ignore[union-attr]
    tree.write(str(rebooted))
    back = simulate(rebooted, tmp_path / "n1-back.xml", "--node-up", "n1")
    assert [a for a in back.actions if a[1] in ("start", "stop")] == []
    assert group_node(back, "censhare") == "n2"


def test_never_placed_outside_its_host_list(running: Simulation, tmp_path: Path) -> None:
    # web may run on n3 and n1 only: with both gone it stays down rather than use n2
    sim = simulate(running.cib, tmp_path / "two-failed.xml", "--node-fail", "n3",
                   "--node-fail", "n1")
    assert group_node(sim, "web") is None
    assert all(node == "n2" for node in sim.placement.values() if node is not None)
    # not even a move constraint puts it there
    moved = tmp_path / "web-to-n2.xml"
    shutil.copy(running.cib, moved)
    run([tool("crm_resource"), "--move", "-r", "web", "-N", "n2"], check=False,
        extra_env={"CIB_file": str(moved)})
    sim = simulate(moved, tmp_path / "web-moved.xml")
    assert group_node(sim, "web") != "n2"
    assert not any(node == "n2" for rsc, _action, node in sim.actions if rsc.startswith("web"))


# -- pcs and crmsh show it like a hand-made configuration ---------------------------------

def test_pcs_shows_the_groups(tmp_path: Path) -> None:
    cib = generated(tmp_path)
    result = run([tool("pcs"), "-f", str(cib), "resource", "config"], check=False)
    assert result.ok, result.stderr
    for group, members in ORDER.items():
        assert f"Group: {group}" in result.stdout
        for member in members:
            assert f"Resource: {member} " in result.stdout
    assert "(class=ocf provider=s2s type=script)" in result.stdout
    assert "(class=ocf provider=s2s type=hook)" in result.stdout
    constraints = run([tool("pcs"), "-f", str(cib), "constraint", "location", "config"])
    assert "Node: n2 (score:30)" in constraints.stdout
    assert "Expression: #uname ne n3" in constraints.stdout


def test_crm_configure_show(tmp_path: Path) -> None:
    cib = generated(tmp_path)
    result = run([tool("crm"), "configure", "show"], check=False,
                 extra_env={"CIB_file": str(cib), "HOME": str(tmp_path)})
    assert result.ok, result.stderr
    text = result.stdout
    assert ("group censhare censhare_data censhare_vip censhare_db censhare_app "
            "censhare_hooks") in text
    assert "group ora ora_data ora_redo ora_vip ora_listener ora_db ora_hooks" in text
    assert "primitive censhare_db ocf:s2s:script" in text
    assert "location s2s-sd-location-web-n3 web 20: n3" in text
    assert "stonith-enabled=false" in text


# -- exec and systemd members: ocf:s2s:unit ----------------------------------------------

def test_unit_members_use_the_blocking_agent(running: Simulation) -> None:
    cib = etree.parse(str(running.cib)).getroot()
    for rsc in ("censhare_app", "ora_db", "web_httpd"):
        prim = cib.find(f".//primitive[@id='{rsc}']")
        assert prim is not None
        assert (prim.get("class"), prim.get("provider"), prim.get("type")) == \
            ("ocf", "s2s", "unit")
    assert not cib.findall(".//primitive[@class='systemd']")


def test_unit_start_failure_sends_the_group_to_its_next_host(tmp_path: Path) -> None:
    # the agent fails a start when the unit dies right after it: web_httpd on n3
    first = simulate(quorate_cib(tmp_path), tmp_path / "failed.xml", *ALL_UP,
                     "--op-fail", "web_httpd_start_0@n3=1")
    assert first.actions[-1] == ("web_httpd", "start", "n3")
    # what the controller does with a failed start (start-failure-is-fatal, the
    # default; crm_simulate only counts up)
    run([tool("crm_attribute"), "--type", "status", "--node", "n3",
         "--name", "fail-count-web_httpd#start_0", "--update", "INFINITY"],
        extra_env={"CIB_file": str(first.cib)})
    recovered = simulate(first.cib, tmp_path / "recovered.xml")
    assert recovered.actions == [("web_httpd", "stop", "n3"), ("web_vip", "stop", "n3"),
                                 ("web_vip", "start", "n1"), ("web_httpd", "start", "n1")]
    assert group_node(recovered, "web") == "n1"


def test_unit_monitor_failure_recovers_in_place(running: Simulation, tmp_path: Path) -> None:
    # the recurring monitor (30 s) finds the unit dead: stop (idempotent), start again
    sim = simulate(running.cib, tmp_path / "died.xml",
                   "--op-inject", "web_httpd_monitor_30000@n3=7")
    assert sim.actions == [("web_httpd", "stop", "n3"), ("web_httpd", "start", "n3")]
    assert group_node(sim, "web") == "n3"


def test_probe_adopts_a_running_unit_where_it_runs(tmp_path: Path) -> None:
    # migrate --to pacemaker: the probes find web running on n1, not on its first host
    # n3; the cluster keeps it there and never starts or stops a member of it
    found_running = ("--op-fail", "web_vip_monitor_0@n1=0",
                     "--op-fail", "web_httpd_monitor_0@n1=0")
    sim = simulate(quorate_cib(tmp_path), tmp_path / "adopted-0.xml", *ALL_UP,
                   *found_running)
    web_actions = [a for a in sim.actions if a[0].startswith("web")]
    for step in range(1, 4):  # each unexpected probe result ends a transition
        sim = simulate(sim.cib, tmp_path / f"adopted-{step}.xml", *found_running)
        web_actions += [a for a in sim.actions if a[0].startswith("web")]
    assert web_actions == []
    assert group_node(sim, "web") == "n1"


def test_stopped_monitors_run_where_a_member_should_be_stopped(tmp_path: Path) -> None:
    """Every member's role=Stopped monitor is scheduled on the nodes where it does not
    run; the cluster's own monitor where it runs."""
    result = run([tool("crm_simulate"), "-x", str(quorate_cib(tmp_path)), "-S", *ALL_UP],
                 check=False)
    assert result.ok, result.stderr
    text = result.stdout
    assert re.search(r"web_vip\s+monitor=11000 on n1", text), text
    assert re.search(r"web_vip\s+monitor=10000 on n3", text), text
    assert not re.search(r"web_vip\s+monitor=11000 on n3", text), text


def test_an_instance_found_where_it_should_be_stopped_is_stopped(running: Simulation,
                                                                 tmp_path: Path) -> None:
    """web runs on n3; the role=Stopped monitor (11 s) finds web_vip running on n1 too (an
    address added by hand): the cluster stops it there and web keeps one home."""
    sim = simulate(running.cib, tmp_path / "rogue.xml",
                   "--op-inject", "web_vip_monitor_11000@n1=0")
    assert ("web_vip", "stop", "n1") in sim.actions, sim.actions
    assert group_node(sim, "web") in ("n1", "n3")
    settled = simulate(sim.cib, tmp_path / "settled.xml")
    assert group_node(settled, "web") is not None
