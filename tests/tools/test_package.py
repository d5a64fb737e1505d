"""The Debian package as built by scripts/build-deb (`make deb`): lintian reports no
error, it holds every file users expect where they expect it, depends on Debian 12's own
modules, and both manual pages render with man(1) without a warning."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from s2s_sd.run import run
from tests.conftest import REPO

pytestmark = pytest.mark.tools

EXPECTED_FILES = (
    "./usr/bin/s2s-sd",
    "./usr/lib/s2s-sd/s2s-mount",
    "./usr/lib/ocf/resource.d/s2s/script",
    "./usr/lib/ocf/resource.d/s2s/hook",
    "./usr/share/man/man8/s2s-sd.8.gz",
    "./usr/share/man/man5/s2s-sd.toml.5.gz",
    "./usr/share/bash-completion/completions/s2s-sd",
    "./usr/share/zsh/vendor-completions/_s2s-sd",
    "./usr/share/fish/vendor_completions.d/s2s-sd.fish",
    "./etc/logrotate.d/s2s-sd",
    "./usr/lib/tmpfiles.d/s2s-sd.conf",
    "./usr/lib/python3/dist-packages/s2s_sd/paths.py",
)
# every OCF agent s2s-sd ships (a new agent cannot be forgotten in debian/s2s-sd.install)
AGENTS = tuple(f"./usr/lib/ocf/resource.d/s2s/{agent.name}"
               for agent in sorted((REPO / "s2s_sd" / "ocf").iterdir()))


def test_lintian_reports_no_error(deb_package: Path) -> None:
    result = run(["lintian", "--fail-on", "error", str(deb_package)], check=False, timeout=600)
    errors = [line for line in result.stdout.splitlines() if line.startswith("E:")]
    assert result.ok and not errors, result.stdout + result.stderr


def test_package_holds_every_file_in_place(deb_package: Path) -> None:
    listing = run(["dpkg-deb", "-c", str(deb_package)]).stdout
    paths = {line.split()[-1] for line in listing.splitlines()}
    missing = [p for p in (*EXPECTED_FILES, *AGENTS) if p not in paths]
    assert not missing, listing
    executables = {line.split()[-1] for line in listing.splitlines()
                   if line.startswith("-rwxr-xr-x")}
    assert {"./usr/bin/s2s-sd", "./usr/lib/s2s-sd/s2s-mount", *AGENTS} <= executables


def test_package_depends_on_debian_12_modules(deb_package: Path) -> None:
    fields = {key: run(["dpkg-deb", "-f", str(deb_package), key]).stdout.strip()
              for key in ("Depends", "Recommends")}
    for dependency in ("python3-click", "python3-jinja2", "python3-lxml", "python3-pyroute2",
                       "python3-pystemd (>= 0.11)", "psmisc", "util-linux", "iproute2",
                       "openssh-client"):
        assert dependency in fields["Depends"], fields
    assert fields["Recommends"] == "pacemaker-cli-utils, resource-agents, shellcheck"


def test_packaged_program_starts_with_debians_python(deb_package: Path, tmp_path: Path) -> None:
    run(["dpkg-deb", "-x", str(deb_package), str(tmp_path)])
    script = (tmp_path / "usr/bin/s2s-sd").read_text()
    assert script.startswith("#!/usr/bin/python3\n"), script


@pytest.mark.parametrize("page", ["man8/s2s-sd.8.gz", "man5/s2s-sd.toml.5.gz"])
def test_packaged_manpages_render_without_warnings(deb_package: Path, tmp_path: Path,
                                                   page: str) -> None:
    run(["dpkg-deb", "-x", str(deb_package), str(tmp_path)])
    source = tmp_path / "usr/share/man" / page
    plain = tmp_path / Path(page).stem
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    assert_renders(plain)


def test_repository_manpages_render_without_warnings(tmp_path: Path) -> None:
    run([str(REPO / ".venv/bin/python"), str(REPO / "scripts/gen-docs"), str(tmp_path)])
    assert_renders(tmp_path / "s2s-sd.8")
    assert_renders(REPO / "doc/s2s-sd.toml.5")


def assert_renders(page: Path) -> None:
    result = run(["man", "--warnings", "-l", str(page)], check=False,
                 extra_env={"MANPAGER": "cat", "MANWIDTH": "100"})
    assert result.ok, result.stderr
    assert not result.stderr.strip(), result.stderr
    assert "NAME" in result.stdout and "SEE ALSO" in result.stdout
