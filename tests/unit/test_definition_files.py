"""The definition files themselves as bad input (issue 11, items 11, 12, 13, 16, 17):
files that are not regular, too large, too deep, too long to name, unreadable
directories, line separators that are not '\\n', pathological mountpoints. Every one is
exit 2 with FILE:LINE, quickly, never a hang, a traceback or exit 1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.errors import BadInput
from s2s_sd.load_files import MAX_DEFINITION_BYTES, read_referenced
from s2s_sd.model import MountService, Origin
from s2s_sd.validate import _mount_overlaps
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

S2S_SD = str(Path(sys.executable).parent / "s2s-sd")


def run_check(basedir: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    """`s2s-sd check` in its own process: a hang fails the test instead of blocking it."""
    return subprocess.run([*prefix, S2S_SD, "check", "--basedir", str(basedir), "--host", "n1"],
                          capture_output=True, text=True, timeout=60, check=False)


def assert_bad_input(result: subprocess.CompletedProcess[str], line: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert line in result.stderr.splitlines(), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# -- item 11: only regular files are read, never blocking, with a cap ---------------------

def _symlink_to(target: str) -> object:
    def make(path: Path) -> None:
        path.unlink(missing_ok=True)
        path.symlink_to(target)
    return make


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


NOT_REGULAR = [
    pytest.param(_symlink_to("/dev/zero"), "a character device", id="symlink-to-dev-zero"),
    pytest.param(_symlink_to("/dev/urandom"), "a character device", id="symlink-to-urandom"),
    pytest.param(_fifo, "a FIFO", id="fifo"),
    pytest.param(_directory, "a directory", id="directory"),
]


@pytest.mark.parametrize(("make", "kind"), NOT_REGULAR)
@pytest.mark.parametrize("relpath", ["s2s.toml", "groups/web.toml", "groups/new.toml"])
def test_definition_file_that_is_not_regular(basedir: Path, relpath: str, make: object,
                                             kind: str) -> None:
    assert callable(make)
    make(basedir / relpath)
    started = time.monotonic()
    result = run_check(basedir)
    assert time.monotonic() - started < 30
    assert_bad_input(result, f"{relpath}:1: (file): {kind}, not a regular file")


@pytest.mark.parametrize(("make", "kind"), NOT_REGULAR[1:3])
@pytest.mark.parametrize(("relpath", "where"), [
    ("hooks/ora_pre", "groups/ora.toml:5: groups.ora.pre_move"),
    ("init.d/ora_listener", "groups/ora.toml:32: groups.ora.services.listener.script"),
    ("sysconfig/ora_listener", "groups/ora.toml:33: groups.ora.services.listener.config"),
])
def test_referenced_file_that_is_not_regular(basedir: Path, relpath: str, where: str,
                                             make: object, kind: str) -> None:
    assert callable(make)
    make(basedir / relpath)
    result = run_check(basedir)
    assert result.returncode == 2, result.stdout + result.stderr
    # the base dir rule (what can be synced) names it first: a FIFO, a link leaving the dir
    [line] = [ln for ln in result.stderr.splitlines() if ln.startswith(f"{where}: {relpath}: ")]
    assert "cannot be synced: " in line and ("FIFO" in line or "/dev/urandom" in line), line
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_oversized_definition_file_is_refused_while_reading(basedir: Path) -> None:
    main_file = basedir / "s2s.toml"
    with main_file.open("r+b") as handle:  # sparse: the cap, not the disk, stops the read
        handle.truncate(64 * MAX_DEFINITION_BYTES)
    started = time.monotonic()
    result = run_check(basedir)
    assert time.monotonic() - started < 20
    assert_bad_input(result, "s2s.toml:1: (file): larger than 16 MiB: not what s2s-sd "
                             "reads here")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "big"])
def test_read_referenced_refuses_what_is_not_a_small_regular_file(tmp_path: Path,
                                                                 target: str) -> None:
    secret = tmp_path / "sysconfig" / "secret"
    secret.parent.mkdir()
    if target == "fifo":
        os.mkfifo(secret)
    elif target == "big":
        secret.write_bytes(b"x" * (2 * 1024 * 1024))
    else:
        secret.symlink_to(target)
    with pytest.raises(BadInput, match=r"sysconfig/secret: (a character device|a FIFO|larger)"):
        read_referenced(tmp_path, "sysconfig/secret")


# -- item 12: limits of Python and Linux are bad input, not internal errors ------------------

def test_file_name_too_long_for_linux(basedir: Path) -> None:
    ora = basedir / "groups" / "ora.toml"
    ora.write_text(ora.read_text().replace('"init.d/ora_listener"', f'"init.d/{"x" * 300}"'))
    assert_bad_input(run_check(basedir), "groups/ora.toml:32: groups.ora.services.listener."
                                         "script: a path component is longer than 191 bytes")


def test_path_too_long_for_linux(basedir: Path) -> None:
    ora = basedir / "groups" / "ora.toml"
    ora.write_text(ora.read_text().replace('"hooks/ora_pre"', f'"{"d/" * 2100}ora_pre"'))
    assert_bad_input(run_check(basedir), "groups/ora.toml:5: groups.ora.pre_move: longer than "
                                         "3839 bytes: not a usable path")


def test_groups_that_is_a_file(basedir: Path) -> None:
    shutil.rmtree(basedir / "groups")
    (basedir / "groups").write_text("")
    assert_bad_input(run_check(basedir), "groups/:1: (dir): not a directory")


# -- item 13: as a non-root user, an unreadable part of the base dir is an error -----------

@pytest.fixture
def nobody_basedir() -> Iterator[Path]:
    """A copy of examples/ that user nobody can read (pytest's tmp dirs are root's only)."""
    top = Path(tempfile.mkdtemp(prefix="s2s-sd-nobody-"))
    try:
        top.chmod(0o755)
        shutil.copytree(EXAMPLES, top / "base", symlinks=True)
        yield top / "base"
    finally:
        shutil.rmtree(top)


AS_NOBODY = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--")


def test_nobody_can_check_the_readable_copy(nobody_basedir: Path) -> None:
    result = run_check(nobody_basedir, *AS_NOBODY)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("directory", "line"), [
    ("groups", "groups/:1: (dir): cannot read: Permission denied"),
    ("hooks", "groups/ora.toml:5: groups.ora.pre_move: cannot look up hooks/ora_pre.n1: "
              "Permission denied"),
    ("init.d", "groups/ora.toml:32: groups.ora.services.listener.script: cannot look up "
               "init.d/ora_listener.n1: Permission denied"),
    ("sysconfig", "groups/ora.toml:33: groups.ora.services.listener.config: cannot look up "
                  "sysconfig/ora_listener.n1: Permission denied"),
])
def test_unreadable_directory_as_nobody(nobody_basedir: Path, directory: str,
                                        line: str) -> None:
    (nobody_basedir / directory).chmod(0o700)  # root's: nobody can neither list nor enter
    result = run_check(nobody_basedir, *AS_NOBODY)
    assert_bad_input(result, line)
    assert "OK" not in result.stdout


def test_listable_but_not_searchable_groups_as_nobody(nobody_basedir: Path) -> None:
    (nobody_basedir / "groups").chmod(0o744)  # names visible, files not reachable
    result = run_check(nobody_basedir, *AS_NOBODY)
    assert_bad_input(result, "groups/ora.toml:1: (file): cannot read: Permission denied")


def test_generate_refuses_an_unreadable_groups_dir_as_nobody(nobody_basedir: Path) -> None:
    (nobody_basedir / "groups").chmod(0o700)
    out = nobody_basedir.parent / "out"
    result = subprocess.run([*AS_NOBODY, S2S_SD, "generate", "systemd", "--basedir",
                             str(nobody_basedir), "--host", "n1", "--out", str(out)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert_bad_input(result, "groups/:1: (dir): cannot read: Permission denied")
    assert not out.exists()


# -- item 16: line numbers at '\n' only; messages never span lines -------------------------

@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\u0085", "\x0c", "\x1c"])
def test_unicode_line_separators_in_comments_keep_line_numbers(basedir: Path,
                                                               separator: str) -> None:
    web = basedir / "groups" / "web.toml"
    text = web.read_text()
    # a comment full of what str.splitlines takes for line ends, then a bad value
    text = text.replace("# A small web group", f"# A small{separator}web{separator}group", 1)
    web.write_text(text.replace('alias   = "www"', 'alias   = "w w"'), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    if separator in "\x0c\x1c":  # TOML refuses these control characters even in comments
        assert result.exit_code == 2
        assert result.stderr.startswith("groups/web.toml:1: (syntax):"), result.stderr
        return
    assert result.exit_code == 2, result.output
    assert "groups/web.toml:9: groups.web.services.vip.alias: alias 'w w'" in result.stderr


def test_messages_quote_values_on_one_line(basedir: Path) -> None:
    web = basedir / "groups" / "web.toml"
    web.write_text(web.read_text() + '"evil\\nkey\\u2028x" = 1\n')
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert "groups/web.toml:16: groups.web.services.httpd.evil\\nkey\\u2028x: unknown key " \
           "'evil\\nkey\\u2028x'" in lines, result.stderr
    for line in lines:
        assert line.startswith(("groups/", "s2s.toml:", "s2s-sd: ")), line


# -- item 17: the mountpoint nesting check is not quadratic --------------------------------

def test_800_kb_mountpoint_is_checked_quickly(basedir: Path) -> None:
    ora = basedir / "groups" / "ora.toml"
    ora.write_text(ora.read_text().replace('"/disk/ora/01"', '"' + "/a" * 400_000 + '"'))
    started = time.monotonic()
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    assert time.monotonic() - started < 5
    assert result.exit_code == 2
    assert "groups/ora.toml:19: groups.ora.services.redo.mountpoint: '/a/a/a" in result.stderr


def test_nesting_of_many_deep_mountpoints_is_linear() -> None:
    origin = Origin("groups/g.toml", 1)
    deep = "/a" * 400_000  # 800 KB
    mounts = [MountService(name=f"m{i}", group=f"g{i % 2}", origin=origin,
                           device=f"/dev/d{i}", mountpoint=deep[: len(deep) - 2 * i],
                           fstype="ext4") for i in range(20)]
    started = time.monotonic()
    problems = list(_mount_overlaps(mounts))
    assert time.monotonic() - started < 2
    # every mountpoint is inside the shorter ones: each nested pair of different groups
    # is reported on the nested one, with a shortened path
    assert len(problems) == 190
    assert all(len(str(p)) < 400 for p in problems)


@pytest.mark.parametrize("line", ["a" + ".a" * 20_000 + " = 1", "[" + "a." * 20_000 + "a]",
                                  "x = " + "{a = " * 40 + "1" + "}" * 40,
                                  "x = " + "[" * 5000 + "]" * 5000])
def test_deep_nesting_is_refused_quickly_with_its_line(basedir: Path, line: str) -> None:
    web = basedir / "groups" / "web.toml"
    web.write_text(web.read_text() + "\n" + line + "\n")
    started = time.monotonic()
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    assert time.monotonic() - started < 3
    assert result.exit_code == 2
    assert result.stderr.startswith("groups/web.toml:17: (syntax): nested more than 32 levels"), \
        result.stderr
