"""Pacemaker rendering and merging, without any cluster tool.

Golden files: every artifact `generate pacemaker` makes from examples/ must match
tests/golden/pacemaker/ (regenerate with `pytest --regen-golden` and review the diff).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from s2s_sd.engines.pacemaker.cib import (
    canonical,
    managed_view,
    mask_secrets,
    merge,
)
from s2s_sd.engines.pacemaker.cib_tools import parse_cib
from s2s_sd.engines.pacemaker.secrets import scrub
from s2s_sd.errors import InvalidDefinitions, Refused
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions, Engine
from s2s_sd.render.pacemaker import (
    AGENT_FILE,
    CIB_FILE,
    HOOK_AGENT_FILE,
    SECRET_MASK,
    PacemakerSettings,
    build_cib,
    render_pacemaker,
    secret_refs,
    to_text,
    warnings,
)
from s2s_sd.render.pacemaker_agents import agent_text
from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.unit

GOLDEN = REPO / "tests" / "golden" / "pacemaker"
HOST_SETTINGS = PacemakerSettings(basedir="/etc/s2s-sd")


def examples(host: str = "n1") -> Definitions:
    return load_definitions(EXAMPLES, host)


NOTIFY_CIB = "cib-notify.xml"  # examples/ with a notify hook: the CIB gets the alert


def with_notify(defs: Definitions, notify: str | None = "hooks/notify") -> Definitions:
    return replace(defs, hostgroup=replace(defs.hostgroup, notify=notify))


def artifacts() -> Mapping[str, str]:
    return {**render_pacemaker(examples(), HOST_SETTINGS),
            NOTIFY_CIB: to_text(build_cib(with_notify(examples()), HOST_SETTINGS))}


ARTIFACTS = artifacts()


@pytest.mark.parametrize("name", sorted(ARTIFACTS))
def test_generated_matches_golden(name: str, regen_golden: bool) -> None:
    path = GOLDEN / name
    text = ARTIFACTS[name]
    if regen_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}: run pytest --regen-golden and review it"
    assert text == path.read_text(encoding="utf-8"), f"pacemaker/{name} differs from golden"


def test_no_stale_golden_files(regen_golden: bool) -> None:
    on_disk = {str(p.relative_to(GOLDEN)) for p in GOLDEN.rglob("*") if p.is_file()}
    stale = on_disk - set(ARTIFACTS)
    if regen_golden:
        for name in stale:
            (GOLDEN / name).unlink()
        stale = set()
    assert not stale, f"golden files nothing generates any more: {sorted(stale)}"


def test_rendering_is_deterministic_and_host_independent() -> None:
    renders = [render_pacemaker(examples(h), HOST_SETTINGS) for h in ("n1", "n2", "n3", "n1")]
    assert all(r == renders[0] for r in renders)
    assert "epoch=\"1\"" in renders[0][CIB_FILE]


def test_agent_is_the_package_file() -> None:
    assert ARTIFACTS[AGENT_FILE] == (REPO / "s2s_sd" / "ocf" / "script").read_text()
    assert agent_text().startswith("#!/bin/sh\n")


def cib() -> etree._Element:
    return build_cib(examples(), HOST_SETTINGS)


def test_ids_and_agents_follow_the_convention() -> None:
    root = cib()
    groups = root.findall("configuration/resources/group")
    assert [g.get("id") for g in groups] == ["censhare", "ora", "web"]
    members = {g.get("id"): [(p.get("id"), p.get("class"), p.get("provider"), p.get("type"))
                             for p in g.findall("primitive")] for g in groups}
    assert members["censhare"] == [
        ("censhare_data", "ocf", "heartbeat", "Filesystem"),
        ("censhare_vip", "ocf", "heartbeat", "IPaddr2"),
        ("censhare_db", "ocf", "s2s", "script"),
        ("censhare_app", "ocf", "s2s", "unit"),
        ("censhare_hooks", "ocf", "s2s", "hook"),
    ]
    assert [m[0] for m in members["ora"]] == [
        "ora_data", "ora_redo", "ora_vip", "ora_listener", "ora_db", "ora_hooks"]
    assert members["ora"][-2][1:] == ("ocf", "s2s", "unit")
    # exec and systemd members: s2s-sd's blocking unit agent, not the polling systemd class
    assert params(root, "censhare_app") == {"unit": "s2s-censhare-app.service"}
    assert params(root, "ora_db") == {"unit": "ora-db.service"}
    assert not root.findall(".//primitive[@class='systemd']")
    # no hooks, no hook member
    assert [m[0] for m in members["web"]] == ["web_vip", "web_httpd"]


def test_hook_member_is_last_and_names_the_hooks() -> None:
    root = cib()
    assert params(root, "censhare_hooks") == {
        "group": "censhare", "pre_move": "/etc/s2s-sd/hooks/censhare_pre",
        "post_move": "/etc/s2s-sd/hooks/censhare_post", "basedir": "/etc/s2s-sd"}
    assert ops(root, "censhare_hooks")["stop"] == ("0s", "320s")
    assert ARTIFACTS[HOOK_AGENT_FILE] == (REPO / "s2s_sd" / "ocf" / "hook").read_text()


def params(root: etree._Element, rsc: str) -> dict[str, str]:
    return {nv.get("name", ""): nv.get("value", "") for nv in
            root.iterfind(f".//primitive[@id='{rsc}']/instance_attributes/nvpair")}


def ops(root: etree._Element, rsc: str) -> dict[str, tuple[str, str]]:
    """name (name:ROLE for an op of one role) -> (interval, timeout)."""
    return {op.get("name", "") + (f":{op.get('role')}" if op.get("role") else ""):
            (op.get("interval", ""), op.get("timeout", ""))
            for op in root.iterfind(f".//primitive[@id='{rsc}']/operations/op")}


def test_members_are_probed_where_they_should_be_stopped() -> None:
    """Every member has a role=Stopped monitor one second after its own (Pacemaker tells
    monitors apart by interval), so the cluster sees an instance started by hand on a
    node where the group should be stopped; the hook member and fence devices have none."""
    root = cib()
    for group in examples().groups:
        for service in group.services:
            found = ops(root, f"{group.name}_{service.name}")
            interval = int(found["monitor"][0].rstrip("s"))
            assert found["monitor:Stopped"] == (f"{interval + 1}s", found["monitor"][1])
    assert "monitor:Stopped" not in ops(root, "censhare_hooks")


def test_parameters_and_timeouts() -> None:
    root = cib()
    assert params(root, "censhare_data") == {
        "device": "/dev/mapper/censhare_data", "directory": "/disk/censhare/00",
        "fstype": "ext4", "options": "noatime", "force_unmount": "safe"}
    assert params(root, "censhare_vip") == {"ip": "192.168.77.21", "cidr_netmask": "24"}
    assert params(root, "censhare_db") == {"script": "/etc/s2s-sd/init.d/censhare_db",
                                           "config": "/etc/s2s-sd/sysconfig/censhare_db"}
    # declared paths, not the n2 twin: the agent picks the twin on each host
    assert params(build_cib(examples("n2"), HOST_SETTINGS), "ora_listener")["config"] == \
        "/etc/s2s-sd/sysconfig/ora_listener"
    assert ops(root, "censhare_db") == {"monitor": ("20s", "30s"), "start": ("0s", "30s"),
                                        "monitor:Stopped": ("21s", "30s"),
                                        "stop": ("0s", "30s")}
    assert ops(root, "censhare_data")["stop"] == ("0s", "30s")
    assert ops(root, "ora_db") == {"monitor": ("30s", "30s"), "start": ("0s", "60s"),
                                   "monitor:Stopped": ("31s", "30s"), "stop": ("0s", "60s")}


def test_ipv6_and_interface() -> None:
    defs = examples()
    web = defs.group("web")
    assert web is not None
    vip = replace(web.services[0], address="fd00::5/64", interface="eth1")  # type: ignore[call-arg]
    defs = replace(defs, groups=tuple(replace(g, services=(vip, *g.services[1:]))
                                      if g.name == "web" else g for g in defs.groups))
    assert params(build_cib(defs), "web_vip") == {"ip": "fd00::5", "cidr_netmask": "64",
                                                  "nic": "eth1"}


def meta(root: etree._Element, rsc: str) -> dict[str, str]:
    return {nv.get("name", ""): nv.get("value", "") for nv in
            root.iterfind(f".//*[@id='{rsc}']/meta_attributes/nvpair")}


def test_group_meta_defaults_and_overrides() -> None:
    assert meta(cib(), "web") == {"resource-stickiness": "100", "migration-threshold": "3"}
    defs = examples()
    defs = replace(defs, groups=tuple(
        replace(g, stickiness=0, migration_threshold=1, failure_timeout=300)
        if g.name == "web" else g for g in defs.groups))
    assert meta(build_cib(defs), "web") == {
        "resource-stickiness": "0", "migration-threshold": "1",
        "failure-timeout": "300s"}


def test_locations_prefer_in_order_and_ban_everything_else() -> None:
    root = cib()
    prefs = [(c.get("node"), int(c.get("score", "0"))) for c in
             root.iterfind("configuration/constraints/rsc_location[@rsc='ora'][@node]")]
    assert prefs == [("n2", 30), ("n3", 20), ("n1", 10)]
    rule = root.find("configuration/constraints/rsc_location[@rsc='web']/rule")
    assert rule is not None
    assert (rule.get("score"), rule.get("boolean-op")) == ("-INFINITY", "and")
    assert [(e.get("attribute"), e.get("operation"), e.get("value")) for e in rule] == [
        ("#uname", "ne", "n3"), ("#uname", "ne", "n1")]
    assert all(c.get("id", "").startswith("s2s-sd-")
               for c in root.iterfind("configuration/constraints/*"))


def test_fencing_disabled_is_explicit_and_reported() -> None:
    root = cib()
    value = root.find("configuration/crm_config/cluster_property_set/"
                      "nvpair[@name='stonith-enabled']")
    assert value is not None and value.get("value") == "false"
    assert any("fencing is disabled" in w for w in warnings(examples()))


FENCING = """[fencing]
enabled = true
  [[fencing.devices]]
  name   = "ipmi_n1"
  agent  = "fence_ipmilan"
  hosts  = ["n1"]
  params = { ip = "10.0.0.101", username = "admin" }
  secret_params = { password = "sysconfig/ipmi_n1.secret" }
  [[fencing.devices]]
  name   = "pdu"
  agent  = "fence_apc"
  hosts  = ["n1", "n2", "n3"]
  params = { ip = "10.0.0.200" }
"""


def fenced(basedir: Path) -> Definitions:
    main = basedir / "s2s.toml"
    main.write_text(main.read_text().replace("[fencing]\nenabled = false\n", FENCING))
    (basedir / "sysconfig" / "ipmi_n1.secret").write_text("s3cr3t-pw\n")
    return load_definitions(basedir, "n1")


def test_fence_devices(basedir: Path) -> None:
    defs = fenced(basedir)
    root = build_cib(defs)
    devices = root.findall("configuration/resources/primitive[@class='stonith']")
    assert [(d.get("id"), d.get("type")) for d in devices] == [
        ("ipmi_n1", "fence_ipmilan"), ("pdu", "fence_apc")]
    assert params(root, "ipmi_n1") == {"ip": "10.0.0.101", "username": "admin",
                                       "pcmk_host_list": "n1"}  # no secret without apply
    assert "s3cr3t" not in to_text(root)
    assert meta(root, "ipmi_n1") == {}
    bans = [(c.get("rsc"), c.get("node"), c.get("score")) for c in
            root.iterfind("configuration/constraints/rsc_location[@score='-INFINITY']")]
    assert bans == [("ipmi_n1", "n1", "-INFINITY")]  # the pdu fences all: not banned anywhere
    assert any("pdu fences every host" in w for w in warnings(defs))
    assert secret_refs(defs) == [("ipmi_n1", "password", "sysconfig/ipmi_n1.secret")]
    value = root.find("configuration/crm_config/cluster_property_set/"
                      "nvpair[@name='stonith-enabled']")
    assert value is not None and value.get("value") == "true"


def test_secrets_only_when_given_and_masked(basedir: Path) -> None:
    defs = fenced(basedir)
    root = build_cib(defs, secrets={("ipmi_n1", "password"): "s3cr3t-pw"})
    assert params(root, "ipmi_n1")["password"] == "s3cr3t-pw"
    device = root.find(".//primitive[@id='ipmi_n1']")
    assert device is not None
    shown = to_text(mask_secrets(device))
    assert "s3cr3t" not in shown and SECRET_MASK in shown
    # every parameter of a stonith resource, whatever its name
    assert "10.0.0.101" not in shown and 'name="ip"' in shown
    assert scrub("error near s3cr3t-pw!", ["s3cr3t-pw"]) == f"error near {SECRET_MASK}!"


def test_colliding_ids_are_reported_where_declared() -> None:
    defs = examples()
    censhare = defs.group("censhare")
    assert censhare is not None
    # group "censhare_db" with service "x" would not collide, but a group named like a
    # member id does: "censhare_db" is a primitive of group censhare
    clash = replace(censhare, name="censhare_db", services=tuple(
        replace(s, group="censhare_db") for s in censhare.services[:1]))
    defs = replace(defs, groups=(*defs.groups, clash))
    with pytest.raises(InvalidDefinitions) as info:
        build_cib(defs)
    text = str(info.value)
    assert "s2s.toml:" in text and "'censhare_db'" in text


# -- merge (the pure part of apply) ------------------------------------------------------

FOREIGN = """<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="7"
     num_updates="3" admin_epoch="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="cib-bootstrap-options">
        <nvpair id="cib-bootstrap-options-cluster-name" name="cluster-name" value="c07"/>
      </cluster_property_set>
    </crm_config>
    <nodes><node id="1" uname="n1"/><node id="2" uname="n2"/><node id="3" uname="n3"/></nodes>
    <resources>
      <!-- the administrator's own -->
      <primitive id="mydummy" class="ocf" provider="pacemaker" type="Dummy"/>
    </resources>
    <constraints>
      <rsc_location id="location-mydummy-n2-50" rsc="mydummy" node="n2" score="50"/>
      <rsc_location id="cli-prefer-web" rsc="web" node="n1" score="INFINITY"/>
    </constraints>
  </configuration>
  <status/>
</cib>
"""


def live() -> etree._Element:
    return parse_cib(FOREIGN, "test")


def foreign_part(root: etree._Element) -> list[bytes]:
    return [canonical(e) for e in root.iterfind("configuration/*/*")
            if e.get("id") in ("mydummy", "location-mydummy-n2-50", "cli-prefer-web",
                               "cib-bootstrap-options-cluster-name")]


def test_merge_adds_then_is_a_no_op() -> None:
    defs = examples()
    first = merge(live(), defs)
    assert "add resource censhare" in first.changes
    assert "set property stonith-enabled=false" in first.changes
    assert first.cib.get("epoch") == "8"
    assert foreign_part(first.cib) == foreign_part(live())
    second = merge(first.cib, defs)
    assert second.changes == [] and second.diff == ""
    assert managed_view(first.cib, defs) == managed_view(build_cib(defs), defs)


def test_merge_updates_and_removes_only_its_own() -> None:
    defs = examples()
    applied = merge(live(), defs).cib
    smaller = replace(defs, groups=tuple(
        replace(g, stickiness=5) if g.name == "ora" else g
        for g in defs.groups if g.name != "web"))
    result = merge(applied, smaller)
    assert sorted(result.changes) == sorted([
        "update resource ora", "remove resource web",
        "remove constraint s2s-sd-location-web-n3", "remove constraint s2s-sd-location-web-n1",
        "remove constraint s2s-sd-location-web-allowed-hosts", "update tag s2s-sd-c07"])
    assert foreign_part(result.cib) == foreign_part(live())  # cli-prefer-web stays too
    assert ('-    <nvpair id="ora-meta_attributes-resource-stickiness" '
            'name="resource-stickiness" value="100"/>') in result.diff.splitlines()
    assert ('+    <nvpair id="ora-meta_attributes-resource-stickiness" '
            'name="resource-stickiness" value="5"/>') in result.diff.splitlines()
    assert "+<group id=\"web\"" not in result.diff and "-<group id=\"web\"" in result.diff


def test_merge_keeps_operator_switches() -> None:
    defs = examples()
    applied = merge(live(), defs).cib
    group_meta = applied.find(".//group[@id='web']/meta_attributes")
    assert group_meta is not None
    etree.SubElement(group_meta, "nvpair", id="web-meta_attributes-target-role",
                     name="target-role", value="Stopped")
    member = applied.find(".//primitive[@id='censhare_db']")
    assert member is not None
    block = etree.SubElement(member, "meta_attributes", id="censhare_db-meta_attributes")
    etree.SubElement(block, "nvpair", id="censhare_db-meta_attributes-is-managed",
                     name="is-managed", value="false")
    result = merge(applied, defs)
    assert result.changes == []
    assert result.cib.find(".//nvpair[@name='target-role']") is not None


def test_merge_refuses_foreign_ids_and_hand_added_members() -> None:
    taken = FOREIGN.replace('id="mydummy"', 'id="web"')
    with pytest.raises(Refused, match="web"):
        merge(parse_cib(taken, "test"), examples())
    applied = merge(live(), examples()).cib
    group = applied.find(".//group[@id='web']")
    assert group is not None
    etree.SubElement(group, "primitive", {"id": "extra", "class": "ocf",
                                          "provider": "pacemaker", "type": "Dummy"})
    with pytest.raises(Refused, match="extra"):
        merge(applied, examples())


def test_merge_leaves_other_host_groups_and_stonith_alone(basedir: Path) -> None:
    defs = examples()
    other = replace(defs, hostgroup=replace(defs.hostgroup, name="c08", engine=Engine.PACEMAKER),
                    groups=tuple(replace(g, name=f"{g.name}8", services=tuple(
                        replace(s, group=f"{g.name}8") for s in g.services))
                        for g in defs.groups), fencing=None)
    theirs = merge(live(), other).cib
    assert not any("stonith-enabled" in c for c in merge(live(), other).changes)
    ours = merge(theirs, defs)
    assert not any("8" in c.split()[-1] for c in ours.changes if c.startswith("remove"))
    assert ours.cib.find(".//group[@id='web8']") is not None


def test_merge_never_disables_fencing_by_itself(basedir: Path) -> None:
    defs = fenced(basedir)
    disabled = FOREIGN.replace(
        '<nvpair id="cib-bootstrap-options-cluster-name"',
        '<nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" '
        'value="false"/><nvpair id="cib-bootstrap-options-cluster-name"')
    result = merge(parse_cib(disabled, "test"), defs, secrets={("ipmi_n1", "password"): "pw1"})
    assert "set property stonith-enabled=true (was false)" in result.changes
    assert "pw1" not in result.diff and SECRET_MASK in result.diff


# -- the notify hook's alert ------------------------------------------------------------

def alert_of(root: etree._Element) -> etree._Element:
    alerts = root.findall("configuration/alerts/alert")
    assert len(alerts) == 1, alerts
    return alerts[0]


def test_notify_is_an_alert_running_the_alert_agent() -> None:
    assert cib().find("configuration/alerts") is None  # no notify key, no alert
    alert = alert_of(build_cib(with_notify(examples()), HOST_SETTINGS))
    assert alert.get("id") == "s2s-sd-c07-notify"
    assert alert.get("path") == "/usr/lib/ocf/resource.d/s2s/alert"
    assert [e.tag for e in alert.iterfind("select/*")] == [
        "select_nodes", "select_fencing", "select_resources"]
    attrs = {n.get("name"): n.get("value")
             for n in alert.iterfind("instance_attributes/nvpair")}
    assert attrs == {
        "s2s_sd_hostgroup": "c07", "s2s_sd_basedir": "/etc/s2s-sd",
        "s2s_sd_notify": "hooks/notify",
        "s2s_sd_groups": "censhare:3:0:data,vip,db,app,hooks "
                         "ora:3:0:data,redo,vip,listener,db,hooks web:3:0:vip,httpd"}


def test_merge_owns_its_alert_and_keeps_hand_made_ones() -> None:
    hand_made = FOREIGN.replace(
        "</configuration>",
        '<alerts><alert id="pager" path="/usr/local/bin/pager"/></alerts></configuration>')
    added = merge(parse_cib(hand_made, "test"), with_notify(examples()))
    assert "add alert s2s-sd-c07-notify" in added.changes
    assert [a.get("id") for a in added.cib.iterfind("configuration/alerts/alert")] == [
        "pager", "s2s-sd-c07-notify"]
    assert "s2s-sd-c07-notify" in added.diff
    assert merge(added.cib, with_notify(examples())).changes == []
    removed = merge(added.cib, examples())
    assert removed.changes == ["remove alert s2s-sd-c07-notify"]
    assert [a.get("id") for a in removed.cib.iterfind("configuration/alerts/alert")] == [
        "pager"]
    # without a hand-made alert the section goes with ours
    alone = merge(merge(live(), with_notify(examples())).cib, examples()).cib
    assert alone.find("configuration/alerts") is None


def test_merge_refuses_an_alert_id_that_is_someone_elses() -> None:
    taken = FOREIGN.replace('id="mydummy"', 'id="s2s-sd-c07-notify"')
    with pytest.raises(Refused, match="s2s-sd-c07-notify"):
        merge(parse_cib(taken, "test"), with_notify(examples()))
