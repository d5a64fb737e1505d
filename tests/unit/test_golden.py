"""Golden files: every artifact generated from examples/ must match tests/golden/.

Regenerate after an intended change with `make golden` (pytest --regen-golden) and
review the diff like code.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from s2s_sd.load import load_definitions
from s2s_sd.render.systemd import UnitSettings, render_units
from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.unit

GOLDEN = REPO / "tests" / "golden"
HOST_SETTINGS = UnitSettings(basedir="/etc/s2s-sd")


def systemd_artifacts() -> Mapping[str, str]:
    return render_units(load_definitions(EXAMPLES, "n1"), HOST_SETTINGS)


ARTIFACTS: dict[str, Mapping[str, str]] = {"systemd": systemd_artifacts()}
CASES = sorted((kind, name) for kind, files in ARTIFACTS.items() for name in files)


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}/{n}" for k, n in CASES])
def test_generated_matches_golden(kind: str, name: str, regen_golden: bool) -> None:
    path = GOLDEN / kind / name
    text = ARTIFACTS[kind][name]
    if regen_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden file {path}: run `make golden` and review it"
    assert text == path.read_text(encoding="utf-8"), f"{kind}/{name} differs from golden"


@pytest.mark.parametrize("kind", sorted(ARTIFACTS))
def test_no_stale_golden_files(kind: str, regen_golden: bool) -> None:
    directory = GOLDEN / kind
    on_disk = {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}
    stale = on_disk - set(ARTIFACTS[kind])
    if regen_golden:
        for name in stale:
            (directory / name).unlink()
        stale = set()
    assert not stale, f"golden files nothing generates any more: {sorted(stale)}"


def test_rendering_is_deterministic() -> None:
    assert systemd_artifacts() == systemd_artifacts()


def test_units_identical_for_every_host() -> None:
    # configuration is symmetric: twins are resolved at run time, not baked in
    renders = {h: render_units(load_definitions(EXAMPLES, h), HOST_SETTINGS)
               for h in ("n1", "n2", "n3")}
    assert renders["n1"] == renders["n2"] == renders["n3"]

