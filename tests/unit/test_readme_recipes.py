"""Issue 17 item 20: the README's recipes for systemd users name the units s2s-sd really
generates, so `journalctl -u 's2s-G-*'` and `systemctl list-dependencies s2s-G.target`
show a group's every unit and nothing of another group's."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from s2s_sd.load import IDENTIFIER, load_definitions
from s2s_sd.naming import guard_unit, member_unit, target_name
from s2s_sd.render.systemd import render_units
from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.unit

README = (REPO / "README.md").read_text()
RECIPES = ("systemctl list-dependencies s2s-G.target", "journalctl -u 's2s-G-*' -u s2s-guard@G",
           "systemctl status 's2s-G-*' s2s-guard@G", "systemctl is-enabled s2s-G.target")


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_is_in_the_readme(recipe: str) -> None:
    assert recipe in README


def test_patterns_cover_each_group_and_only_it() -> None:
    defs = load_definitions(EXAMPLES, "n1")
    units = [name for name in render_units(defs) if "/" not in name]
    for group in defs.groups:
        pattern = f"s2s-{group.name}-*"
        mine = {member_unit(group.name, s.name) for s in group.services}
        assert {u for u in units if fnmatch(u, pattern)} == mine
        assert target_name(group.name) in units
        assert guard_unit(group.name) == f"s2s-guard@{group.name}.service"
    # group names have no "-" (identifiers), so s2s-G-* ends exactly at G's name
    assert all(IDENTIFIER.match(g.name) for g in defs.groups)
