"""Issue 17, items 9-15: check guides. Both forms of a group file, every problem of a
service and none that only follows from another, one error with a suggestion for a
mistyped key, twins and --host outside the host group, `hosts = []`, durations,
shellcheck with a relative base dir, the hint for a missing base dir (test_cli_operator)."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.load import load_definitions
from s2s_sd.load_reader import MAX_SECONDS, parse_duration
from s2s_sd.model import MountService, Origin

pytestmark = pytest.mark.unit


def check(basedir: Path, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1",
                                       *extra])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stderr.splitlines()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def problems(lines: list[str]) -> list[str]:
    """The problem lines (without the summary line)."""
    return [ln for ln in lines if not ln.startswith("s2s-sd:")]


# item 9 ---------------------------------------------------------------------------------


def as_table(text: str, name: str) -> str:
    """A group file's top-level keys moved into one [groups.NAME] table."""
    head, _, services = text.partition("[[services]]")
    return (f"[groups.{name}]\n{head}[[groups.{name}.services]]"
            + services.replace("[[services]]", f"[[groups.{name}.services]]"))


def test_group_file_may_hold_a_groups_table(basedir: Path) -> None:
    before = load_definitions(basedir, "n1")
    path = basedir / "groups" / "web.toml"
    path.write_text(as_table(path.read_text(), "web"))
    code, lines = check(basedir)
    assert code == 0, lines
    after = load_definitions(basedir, "n1")
    old, web = before.group("web"), after.group("web")
    assert old is not None and web is not None
    nowhere = Origin("", 0)
    assert [replace(s, origin=nowhere) for s in web.services] == \
        [replace(s, origin=nowhere) for s in old.services]
    assert replace(web, services=(), origin=nowhere) == replace(old, services=(),
                                                                origin=nowhere)
    assert web.origin.file == "groups/web.toml" and web.line_of("hosts") == 4


WEB_AS_TABLE = "as_table"  # `old` marker: groups/web.toml rewritten as a [groups.web] table

# (id, file, old text or None for the whole file, new text, the one problem line expected)
ONE_PROBLEM = [
    ("table-named-unlike-its-file", "groups/web.toml", WEB_AS_TABLE, "www",
     "groups/web.toml:1: groups.www: [groups.www] in groups/web.toml: the file of group "
     "'web' holds only [groups.web] (the name is the file's)"),
    ("both-forms", "groups/web.toml", WEB_AS_TABLE, "web",
     "groups/web.toml:1: groups.web.description: 'description' outside [groups.web]: give "
     "the group either as top-level keys or as one [groups.web] table, not both"),
    # items 10, 11
    ("only-service-incomplete", "groups/solo.toml", None,
     '[[services]]\nname = "data"\ntype = "mount"\ndevice = "/dev/sdz"\n'
     'mountpoint = "/srv/solo"\n',
     "groups/solo.toml:1: groups.solo.services.data: missing required key 'fstype'"),
    ("mistyped-key", "groups/ora.toml", 'mountpoint = "/disk/ora/00"',
     'mountpiont = "/disk/ora/00"',
     "groups/ora.toml:12: groups.ora.services.data.mountpiont: unknown key 'mountpiont': "
     "did you mean 'mountpoint'?"),
    ("unknown-key-unlike-any", "groups/ora.toml", 'fstype     = "ext4"',
     'fstype = "ext4"\nzzz = 1',
     "groups/ora.toml:14: groups.ora.services.data.zzz: unknown key 'zzz'"),
    ("empty-services", "groups/solo.toml", None, "services = []\n",
     "groups/solo.toml:1: groups.solo.services: group 'solo' has no services"),
    # item 12
    ("empty-hosts", "groups/web.toml", 'hosts       = ["n3", "n1"]', "hosts = []",
     "groups/web.toml:3: groups.web.hosts: must name at least one host; omit the key for "
     "all hosts"),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"),
                         [case[1:] for case in ONE_PROBLEM], ids=[c[0] for c in ONE_PROBLEM])
def test_one_problem(basedir: Path, file: str, old: str | None, new: str,
                     expected: str) -> None:
    path = basedir / file
    if old is None:
        path.write_text(new)
    elif old == WEB_AS_TABLE:
        prefix = 'description = "twice"\n' if new == "web" else ""
        path.write_text(prefix + as_table(path.read_text(), new))
    else:
        edit(path, old, new)
    code, lines = check(basedir)
    assert code == 2
    assert problems(lines) == [expected]


# items 10 and 11 ------------------------------------------------------------------------


def test_every_problem_of_a_service_and_no_noise(basedir: Path) -> None:
    path = basedir / "groups" / "ora.toml"
    edit(path, 'mountpoint = "/disk/ora/00"\nfstype     = "ext4"\n',
         'mountpoint = "disk/ora/00"\n')
    code, lines = check(basedir)
    assert code == 2
    assert problems(lines) == [
        "groups/ora.toml:8: groups.ora.services.data: missing required key 'fstype'",
        "groups/ora.toml:12: groups.ora.services.data.mountpoint: 'disk/ora/00' must be an "
        "absolute, normalised path other than /, without blanks, at most 4095 bytes",
    ]


def test_unknown_type_hides_no_keys_and_adds_none(basedir: Path) -> None:
    edit(basedir / "groups" / "ora.toml", 'type       = "mount"', 'type       = "mnt"')
    code, lines = check(basedir)
    assert code == 2
    assert [ln.split(": ", 2)[1] for ln in problems(lines)] == ["groups.ora.services.data.type"]


# item 12 ---------------------------------------------------------------------------------


def test_twin_for_a_host_outside_the_host_group_warns(basedir: Path) -> None:
    shutil.copy(basedir / "sysconfig" / "ora_listener", basedir / "sysconfig" / "ora_listener.n9")
    code, lines = check(basedir)
    assert code == 0, lines
    assert [ln for ln in lines if "n9" in ln] == [
        "groups/ora.toml:33: groups.ora.services.listener.config: warning: "
        "sysconfig/ora_listener.n9: a twin for host 'n9', which is not in hostgroup.hosts: "
        "never used"]


def test_host_outside_the_host_group_is_refused(basedir: Path, tmp_path: Path) -> None:
    code, lines = check(basedir, "--host", "n9")
    assert code == 2
    assert lines == ["s2s-sd: error: --host n9: not in host group c07 (n1, n2, n3)"]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "systemd", "--basedir", str(basedir),
                                       "--host", "n9", "--out", str(out)])
    assert result.exit_code == 2 and "--host n9: not in host group" in result.stderr
    assert not out.exists()


# item 13 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("90s", 90), ("2min", 120), ("1h 30min", 5400), ("1h30min", 5400),
    ("2 minutes", 120), ("1d", 86400), ("1w", 604800), (" 45 sec ", 45),
])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(("text", "said"), [
    ("500ms", "below a second is not supported"), ("1.5s", "is not a duration"),
    ("2 fortnights", "unknown unit 'fortnights'"), ("soon", "is not a duration"),
    ("", "must not be empty"),
])
def test_bad_durations(text: str, said: str) -> None:
    message = parse_duration(text)
    assert isinstance(message, str) and said in message


def test_duration_strings_in_definitions(basedir: Path) -> None:
    path = basedir / "groups" / "ora.toml"
    edit(path, "start_timeout = 60", 'start_timeout = "2min"')
    edit(path, "stop_timeout  = 60", 'stop_timeout  = "1h 30min"')
    code, lines = check(basedir)
    assert code == 0, lines
    db = load_definitions(basedir, "n1").group("ora")
    assert db is not None
    member = next(s for s in db.services if s.name == "db")
    assert (member.start_timeout, member.stop_timeout) == (120, 5400)


@pytest.mark.parametrize(("value", "said"), [
    ('"500ms"', "below a second is not supported"),
    ('"2d"', f"must be at most {MAX_SECONDS} seconds (one day), not 172800"),
    ("true", 'must be seconds (an integer or a duration like "90s"), not a boolean'),
    ('"0s"', "must be a positive number of seconds, not 0"),
])
def test_bad_duration_in_definitions(basedir: Path, value: str, said: str) -> None:
    edit(basedir / "groups" / "ora.toml", "start_timeout = 60", f"start_timeout = {value}")
    code, lines = check(basedir)
    assert code == 2
    assert len(problems(lines)) == 1
    assert problems(lines)[0].startswith(
        "groups/ora.toml:39: groups.ora.services.db.start_timeout: ")
    assert said in problems(lines)[0]


def test_failure_timeout_as_duration(basedir: Path) -> None:
    edit(basedir / "groups" / "web.toml", 'hosts       = ["n3", "n1"]',
         'hosts       = ["n3", "n1"]\nfailure_timeout = "10min"')
    web = load_definitions(basedir, "n1").group("web")
    assert web is not None and web.failure_timeout == 600


def test_mount_members_are_typed(basedir: Path) -> None:
    ora = load_definitions(basedir, "n1").group("ora")
    assert ora is not None
    assert all(not s.incomplete for s in ora.services)
    assert isinstance(ora.services[0], MountService)
