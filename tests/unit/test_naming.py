"""Every generated name comes from naming.py: what the renderers write is what the runtime
asks for, and no other module builds such a name itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree

from s2s_sd import naming
from s2s_sd.load import load_definitions
from s2s_sd.model import ExecService, SystemdService
from s2s_sd.render.pacemaker import render_pacemaker
from s2s_sd.render.systemd import render_units
from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.unit


def test_the_units_written_are_the_names_naming_gives() -> None:
    defs = load_definitions(EXAMPLES, "n1")
    files = render_units(defs)
    assert naming.GUARD_TEMPLATE in files
    for group in defs.groups:
        assert naming.target_name(group.name) in files
        for service in group.services:
            if isinstance(service, SystemdService):
                assert naming.dropin_path(service) in files
            elif not isinstance(service, ExecService):  # exec units come from the generator
                assert naming.member_unit(group.name, service.name) in files


def test_the_cib_ids_are_the_names_naming_gives() -> None:
    defs = load_definitions(EXAMPLES, "n1")
    cib = etree.fromstring(render_pacemaker(defs)["cib.xml"].encode())
    ids = set(cib.xpath("//@id"))
    assert naming.managed_tag_id(defs.hostgroup.name) in ids
    for group in defs.groups:
        for service in group.services:
            assert naming.primitive_id(group.name, service.name) in ids
        if group.pre_move or group.post_move:
            assert naming.hooks_id(group.name) in ids
    locations = cib.xpath("//rsc_location")
    assert locations
    for location in locations:
        assert location.get("id").startswith(naming.location_id(location.get("rsc"), ""))


def test_the_names_follow_the_documented_schemes() -> None:
    assert naming.target_name("ora") == "s2s-ora.target"
    assert naming.member_unit("ora", "db") == "s2s-ora-db.service"
    assert naming.guard_unit("ora") == "s2s-guard@ora.service"
    assert naming.primitive_id("ora", "db") == "ora_db"
    assert naming.prefer_id("ora") == "cli-prefer-ora"
    assert naming.alias_hostname("oracle", "c07") == "oracle_c07"
    assert naming.vip_label_suffix("ora", "vip", 1) == "ora"
    assert naming.vip_label_suffix("ora", "vip", 2) == "ora_vip"


# a name built by hand: an f-string or literal with one of naming.py's schemes
HAND_BUILT = re.compile(r"""f["']s2s-\{|["']s2s-guard@|["']cli-prefer-|["']s2s-sd-location""")


def test_no_module_but_naming_builds_a_generated_name() -> None:
    package = REPO / "s2s_sd"
    found = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
             for path in sorted(package.rglob("*.py")) if path != package / "naming.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if HAND_BUILT.search(line)]
    assert not found, "build these names with s2s_sd/naming.py:\n" + "\n".join(found)


def test_the_hand_built_name_check_can_fail(tmp_path: Path) -> None:
    assert HAND_BUILT.search('unit = f"s2s-{group}.target"')
    assert not HAND_BUILT.search('click.echo(f"s2s-sd: warning: {text}")')


def test_a_groups_units_start_with_its_target_and_end_with_its_guard() -> None:
    defs = load_definitions(EXAMPLES, "n1")
    for group in defs.groups:
        units = naming.group_units(group)
        assert units[0] == naming.target_name(group.name)
        assert units[-1] == naming.guard_unit(group.name)
        for service in group.services:
            assert naming.member_unit(group.name, service.name) in units
            if isinstance(service, SystemdService):
                assert service.unit in units
