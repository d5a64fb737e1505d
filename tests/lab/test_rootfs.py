"""The node root recipe: mirror from the machine's apt sources, cache key from the list."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import LabError, rootfs

pytestmark = pytest.mark.lab


def test_mirror_comes_from_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://security.example/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"
    )
    assert rootfs.debian_mirror((tmp_path,)) == "http://mirror.example/debian"


def test_mirror_comes_from_one_line_sources(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list"
    sources.write_text("# deb http://old.example/debian bookworm main\n"
                       "deb [arch=amd64] http://mirror.example/debian bookworm main\n")
    assert rootfs.debian_mirror((sources,)) == "http://mirror.example/debian"


def test_no_mirror_for_the_suite_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.sources").write_text("Types: deb\nURIs: http://m/\nSuites: trixie\n")
    with pytest.raises(LabError, match="no apt source for Debian bookworm"):
        rootfs.debian_mirror((tmp_path,))


def test_this_machine_has_a_mirror_for_the_nodes() -> None:
    assert rootfs.debian_mirror().startswith(("http://", "https://"))


def test_cache_key_follows_the_package_list() -> None:
    key = rootfs.recipe_key()
    assert rootfs.recipe_key(tuple(reversed(rootfs.PACKAGES))) == key  # order is irrelevant
    assert rootfs.recipe_key((*rootfs.PACKAGES, "strace")) != key
    assert key in rootfs.tarball_path(key).name
