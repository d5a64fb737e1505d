"""Tools tier, issue 17 items 16 and 17: how s2s-sd marks its part of the CIB, with the
real Pacemaker tools and crmsh.

- crmsh's `crm configure verify` flags no attribute of s2s-sd's (the tag replaced the
  meta attribute s2s-sd-managed it called unknown);
- an upgrade's apply takes over a CIB written by the earlier generator (fixture
  cib_meta_marks.xml: tests/golden/pacemaker/cib.xml as the generator before the tag
  wrote it) and replaces the old marks cleanly, touching nothing of the administrator's;
- `generate pacemaker` declares the installed Pacemaker's schema, as pcs does;
- the advised timeouts s2s-sd writes are the installed agents' own.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from s2s_sd.cli import main
from s2s_sd.engines.pacemaker.cib import canonical
from s2s_sd.engines.pacemaker.cib_tools import parse_cib
from s2s_sd.render.pacemaker import LEGACY_MANAGED_META
from s2s_sd.render.pacemaker_agents import FOREIGN_AGENTS
from s2s_sd.run import run
from tests.tools import test_pacemaker_apply
from tests.tools.ocf_checks import tool

pytestmark = pytest.mark.tools

pm_basedir = test_pacemaker_apply.pm_basedir  # the fixture: examples/ on the pacemaker engine
LEGACY_CIB = Path(__file__).parent / "fixtures" / "cib_meta_marks.xml"
OCF_ROOT = Path("/usr/lib/ocf")


def apply(basedir: Path, cib: Path) -> Result:
    # the fixture's parameters name /etc/s2s-sd: so does this apply, only marks differ
    return CliRunner().invoke(main, ["apply", "pacemaker", "--basedir", str(basedir),
                                     "--host", "n1", "--cib-file", str(cib),
                                     "--target-basedir", "/etc/s2s-sd"])


def crm_verify_warnings(cib: Path) -> list[str]:
    """What `crm configure verify` says about the configuration itself (not that the
    s2s OCF agents are not installed on this machine, nor that the file has no quorum)."""
    result = run([tool("crm"), "configure", "verify"], check=False, timeout=120,
                 extra_env={"CIB_file": str(cib)})
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)
    return [line for line in text.splitlines()
            if line.strip() and "resource agent" not in line and "meta-data" not in line
            and "(unpack_config)" not in line and "(cluster_status)" not in line]


def test_crm_verify_flags_no_s2s_attribute(pm_basedir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "pacemaker", "--basedir", str(pm_basedir),
                                       "--host", "n1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = crm_verify_warnings(out / "cib.xml")
    assert not [line for line in said if "unknown attribute" in line], said
    # the old marks were flagged: the same check on the old generator's CIB proves it
    old = crm_verify_warnings(LEGACY_CIB)
    assert [line for line in old if "unknown attribute 's2s-sd-managed'" in line]
    # the only remark left is about the example's own choice (stop_timeout = 30), and
    # generate says so itself
    assert [line for line in said if "advised" in line] == [
        "WARNING: censhare_data: specified timeout 30s for stop is smaller than the advised "
        "60s"]
    assert ("s2s.toml:38: groups.censhare.services.data.stop_timeout: 30 s is below the 60 s "
            "ocf:heartbeat:Filesystem advises") in result.stderr


def test_upgrade_replaces_the_old_marks(pm_basedir: Path, tmp_path: Path) -> None:
    cib = tmp_path / "cib.xml"
    shutil.copy(LEGACY_CIB, cib)
    assert LEGACY_MANAGED_META in cib.read_text()
    run([tool("pcs"), "-f", str(cib), "resource", "create", "mydummy", "ocf:pacemaker:Dummy"])
    run([tool("pcs"), "-f", str(cib), "tag", "create", "mytag", "mydummy"])
    mine = {e.get("id"): canonical(e) for e in parse_cib(cib.read_text(), "cib").iter()
            if e.get("id") in ("mydummy", "mytag")}

    result = apply(pm_basedir, cib)
    assert result.exit_code == 0, result.output
    for change in ("update resource censhare", "update resource ora", "update resource web",
                   "add tag s2s-sd-c07",
                   "remove constraint s2s-sd-location-censhare-allowed-hosts",
                   "remove constraint s2s-sd-location-ora-allowed-hosts"):
        assert change in result.output, result.output
    assert "add resource" not in result.output  # taken over, not created twice
    text = cib.read_text()
    assert LEGACY_MANAGED_META not in text
    root = parse_cib(text, "cib")
    tag = root.find("configuration/tags/tag[@id='s2s-sd-c07']")
    assert tag is not None
    assert [ref.get("id") for ref in tag] == ["censhare", "ora", "web"]
    assert {e.get("id"): canonical(e) for e in root.iter()
            if e.get("id") in ("mydummy", "mytag")} == mine
    assert all("unknown attribute" not in line for line in crm_verify_warnings(cib))

    again = apply(pm_basedir, cib)
    assert again.exit_code == 0 and "nothing to push" in again.output, again.output


def test_a_node_outside_the_host_group_brings_the_rule_back(pm_basedir: Path,
                                                            tmp_path: Path) -> None:
    cib = tmp_path / "cib.xml"
    shutil.copy(LEGACY_CIB, cib)
    assert apply(pm_basedir, cib).exit_code == 0
    run([tool("cibadmin"), "--create", "-o", "nodes", "--xml-text",
         '<node id="4" uname="n4"/>'], extra_env={"CIB_file": str(cib)})
    result = apply(pm_basedir, cib)
    assert result.exit_code == 0, result.output
    assert "add constraint s2s-sd-location-censhare-allowed-hosts" in result.output
    root = parse_cib(cib.read_text(), "cib")
    values = [e.get("value") for e in root.iterfind(
        "configuration/constraints/rsc_location[@id='s2s-sd-location-ora-allowed-hosts']"
        "/rule/expression")]
    assert values == ["n2", "n3", "n1"]


def test_generate_declares_the_installed_schema(pm_basedir: Path, tmp_path: Path) -> None:
    installed = etree.fromstring(run([tool("cibadmin"), "--empty"]).stdout.encode())
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "pacemaker", "--basedir", str(pm_basedir),
                                       "--host", "n1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = etree.fromstring((out / "cib.xml").read_bytes())
    assert written.get("validate-with") == installed.get("validate-with")
    assert installed.get("validate-with") != "pacemaker-3.0"  # a current one, as pcs writes
    check = run([tool("crm_verify"), "-x", str(out / "cib.xml")], check=False)
    assert "error" not in (check.stdout + check.stderr).lower().replace(
        "errors found", ""), check.stderr


def test_advised_timeouts_are_the_agents_own() -> None:
    for agent in FOREIGN_AGENTS:
        assert agent.provider is not None
        path = OCF_ROOT / "resource.d" / agent.provider / agent.type
        result = run([str(path), "meta-data"], extra_env={"OCF_ROOT": str(OCF_ROOT)},
                     timeout=30)
        actions = {a.get("name"): a for a in
                   etree.fromstring(result.stdout.encode()).iterfind("actions/action")}
        seconds = {name: int(str(a.get("timeout", "0")).removesuffix("s"))
                   for name, a in actions.items()}
        assert (seconds["start"], seconds["stop"]) == (agent.start, agent.stop), agent.name
        monitor = actions["monitor"]
        assert int(str(monitor.get("interval")).removesuffix("s")) == agent.interval
        assert seconds["monitor"] == agent.monitor_timeout, agent.name
