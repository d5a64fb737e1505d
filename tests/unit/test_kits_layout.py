"""The service-kit layout rules (kits/layout.py) and how kits members are rendered."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from s2s_sd.kits.layout import (
    Disk,
    Layout,
    disk_of,
    group_disks,
    is_kit_name,
    is_old_copy_of,
    kits_disks,
    local_disk_of,
    locate,
    old_copy_name,
    plan_relocation,
    relocation_disks,
    service_link,
)
from s2s_sd.load import load_definitions
from s2s_sd.model import Definitions, KitsService
from s2s_sd.render.pacemaker import KITS_AGENT_FILE, build_cib, render_pacemaker
from s2s_sd.render.systemd import UnitSettings, render_units
from s2s_sd.validate import validate

pytestmark = pytest.mark.unit

SITE = """
[hostgroup]
name  = "k07"
hosts = ["n1", "n2"]

[groups.kits]
hosts = ["n1", "n2"]
  [[groups.kits.services]]
  name = "d0"
  type = "mount"
  device = "/dev/mapper/a"
  mountpoint = "/disk/kits/00"
  fstype = "ext4"
  [[groups.kits.services]]
  name = "d1"
  type = "mount"
  device = "/dev/mapper/b"
  mountpoint = "/disk/kits/01"
  fstype = "ext4"
  [[groups.kits.services]]
  name = "kits"
  type = "kits"
  kit_timeout = 30
  start_timeout = 300

[groups.plain]
hosts = ["n2"]
  [[groups.plain.services]]
  name = "data"
  type = "mount"
  device = "/dev/mapper/c"
  mountpoint = "/srv/data"
  fstype = "xfs"
  [[groups.plain.services]]
  name = "logs"
  type = "mount"
  device = "/dev/mapper/d"
  mountpoint = "/srv/logs"
  fstype = "xfs"
"""


def site(tmp_path: Path, text: str = SITE) -> Definitions:
    (tmp_path / "s2s.toml").write_text(text)
    return load_definitions(tmp_path, "n1")


def kits_member(defs: Definitions, group: str = "kits") -> KitsService:
    found = defs.group(group)
    assert found is not None
    return next(s for s in found.services if isinstance(s, KitsService))


def test_disks_are_numbered_by_mountpoint_or_position(tmp_path: Path) -> None:
    defs = site(tmp_path)
    kits, plain = defs.group("kits"), defs.group("plain")
    assert kits is not None and plain is not None
    assert [(d.nn, d.mountpoint, d.service) for d in group_disks(kits)] == [
        ("00", "/disk/kits/00", "d0"), ("01", "/disk/kits/01", "d1")]
    # not /NN: the position among the mount members
    assert [(d.number, d.mountpoint) for d in group_disks(plain)] == [
        (0, "/srv/data"), (1, "/srv/logs")]
    assert validate(defs) == []


def test_kits_member_scans_the_disks_before_it(tmp_path: Path) -> None:
    defs = site(tmp_path)
    group = defs.group("kits")
    assert group is not None
    member = kits_member(defs)
    assert [d.mountpoint for d in kits_disks(group, member)] == ["/disk/kits/00",
                                                                 "/disk/kits/01"]
    listed = site(tmp_path, SITE.replace('kit_timeout = 30', 'disks = ["/disk/kits/01"]'))
    group = listed.group("kits")
    assert group is not None
    assert [d.nn for d in kits_disks(group, kits_member(listed))] == ["01"]
    # relocation into the group uses the kits member's disks
    assert [d.nn for d in relocation_disks(group)] == ["01"]
    plain = listed.group("plain")
    assert plain is not None
    assert len(relocation_disks(plain)) == 2  # no kits member: every disk


@pytest.mark.parametrize(("change", "message"), [
    ('  mountpoint = "/disk/kits/01"', '  mountpoint = "/disk/kits2/00"'),
    ('  name = "kits"\n  type = "kits"', '  name = "kits"\n  type = "kits"\n'
                                         '  disks = ["/disk/kits/00", "/disk/kits/00"]'),
])
def test_kits_problems(tmp_path: Path, change: str, message: str) -> None:
    defs = site(tmp_path, SITE.replace(change, message))
    found = [p for p in validate(defs) if "kits" in p.key]
    assert found, validate(defs)
    assert any("number 00" in p.message or "listed twice" in p.message for p in found), found


def test_two_kits_members_on_one_disk(tmp_path: Path) -> None:
    text = SITE.replace('  start_timeout = 300\n', '  start_timeout = 300\n'
                        '  [[groups.kits.services]]\n  name = "more"\n  type = "kits"\n')
    problems = validate(site(tmp_path, text))
    assert any("would start twice" in p.message and p.key == "groups.kits.services.more"
               for p in problems), problems


def test_kits_before_its_disks(tmp_path: Path) -> None:
    text = SITE.replace('  kit_timeout = 30\n', '  kit_timeout = 30\n  disks = ["/disk/kits/02"]\n'
                        ).replace('  start_timeout = 300\n', '  start_timeout = 300\n'
                                  '  [[groups.kits.services]]\n  name = "d2"\n  type = "mount"\n'
                                  '  device = "/dev/x"\n  mountpoint = "/disk/kits/02"\n'
                                  '  fstype = "ext4"\n')
    problems = validate(site(tmp_path, text))
    assert any("mounted after this member" in p.message for p in problems), problems


def test_where_a_path_lies(tmp_path: Path) -> None:
    defs = site(tmp_path)
    layout = Layout(service_root="/service", local_disks="/disk/local")
    assert service_link(layout, 1, "ora1") == "/service/01/ora1"
    disk = locate("/disk/kits/01/ora1", layout, defs)
    assert disk is not None and (disk.group, disk.nn) == ("kits", "01")
    local = locate("/disk/local/00/nsr", layout, defs)
    assert local is not None and local.group is None and local.nn == "00"
    assert locate("/opt/nsr", layout, defs) is None
    assert local_disk_of("/disk/local/xx/nsr", layout) is None
    # the longest mountpoint wins; a sibling with a common prefix does not count
    disks = [Disk(0, "/disk"), Disk(1, "/disk/kits/01", "kits")]
    found = disk_of("/disk/kits/01/a/b", disks)
    assert found is not None and found.number == 1
    assert disk_of("/disk/kits/010/a", [Disk(1, "/disk/kits/01", "kits")]) is None


def test_relocation_plan(tmp_path: Path) -> None:
    defs = site(tmp_path)
    layout = Layout()
    group = defs.group("kits")
    assert group is not None
    links = {0: "/disk/local/00/ora1", 1: "/disk/local/01/ora1"}
    transfers = plan_relocation("ora1", links, layout, defs, relocation_disks(group))
    assert [(t.link, t.source, t.target) for t in transfers] == [
        ("/service/00/ora1", "/disk/local/00/ora1", "/disk/kits/00/ora1"),
        ("/service/01/ora1", "/disk/local/01/ora1", "/disk/kits/01/ora1")]
    assert transfers[0].source_disk == Disk(0, "/disk/local/00")
    with pytest.raises(ValueError, match="needs a disk 02"):
        plan_relocation("x", {2: "/disk/local/02/x"}, layout, defs, relocation_disks(group))
    with pytest.raises(ValueError, match="already on"):
        plan_relocation("x", {0: "/disk/kits/00/x"}, layout, defs, relocation_disks(group))
    with pytest.raises(ValueError, match="no /service/NN/x"):
        plan_relocation("x", {}, layout, defs, relocation_disks(group))


def test_names() -> None:
    assert is_kit_name("nsr") and is_kit_name("ora_1.2")
    assert not is_kit_name(".hidden") and not is_kit_name("lost+found")
    assert not is_kit_name(old_copy_name("nsr", "20240101T000000"))
    assert is_old_copy_of(old_copy_name("nsr", "20240101T000000"), "nsr")
    assert not is_old_copy_of(old_copy_name("nsr2", "20240101T000000"), "nsr")


def test_systemd_unit_of_a_kits_member(tmp_path: Path) -> None:
    units = render_units(site(tmp_path), UnitSettings())
    text = units["s2s-kits-kits.service"]
    assert "ExecStart=/usr/lib/ocf/resource.d/s2s/kits start" in text
    assert "ExecStop=/usr/lib/ocf/resource.d/s2s/kits stop" in text
    assert 'Environment="OCF_RESKEY_disks=/disk/kits/00 /disk/kits/01"' in text
    assert "Environment=OCF_RESKEY_kit_timeout=30" in text
    assert "Environment=OCF_RESOURCE_INSTANCE=kits_kits" in text
    assert "TimeoutStartSec=300" in text
    assert "BindsTo=s2s-kits-d1.service" in text  # after its last disk, bound to it


def test_pacemaker_primitive_of_a_kits_member(tmp_path: Path) -> None:
    defs = site(tmp_path)
    cib = build_cib(defs)
    prim = cib.find(".//primitive[@id='kits_kits']")
    assert prim is not None, etree.tostring(cib)
    assert (prim.get("class"), prim.get("provider"), prim.get("type")) == ("ocf", "s2s", "kits")
    params = {nv.get("name"): nv.get("value") for nv in prim.iterfind(
        "instance_attributes/nvpair")}
    assert params == {"disks": "/disk/kits/00 /disk/kits/01", "kit_timeout": "30"}
    start = prim.find("operations/op[@name='start']")
    assert start is not None and start.get("timeout") == "300s"
    files = render_pacemaker(defs)
    assert files[KITS_AGENT_FILE].startswith("#!/bin/sh\n")
