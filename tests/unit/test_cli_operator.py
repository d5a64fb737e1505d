"""Issue 17, the command line as pcs/crm users type it: `move GROUP HOST`, --basedir
before the subcommand, suggestions for mistyped commands, a grouped --help with an
example per command, the hint for a missing base dir, a crash named by its signal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import click
import pytest
from click.testing import CliRunner

from s2s_sd.cli import EXAMPLES, HIDDEN_COMMANDS, SECTIONS, main
from s2s_sd.errors import CommandFailed, exit_status

pytestmark = pytest.mark.unit


def invoke(*argv: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(argv))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


class RecordingAdmin:
    """Stands in for the host group's engine: only the arguments the CLI hands over
    matter."""

    moves: ClassVar[list[tuple[str, str]]] = []

    def move(self, group: str, to: str, *_: Any, **__: Any) -> list[str]:
        self.moves.append((group, to))
        return []

    def __enter__(self) -> RecordingAdmin:
        return self

    def __exit__(self, *_exc: object) -> None:
        pass


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> type[RecordingAdmin]:
    from s2s_sd.cli import runtime

    RecordingAdmin.moves = []
    monkeypatch.setattr(runtime, "_engine", lambda *_: RecordingAdmin())
    return RecordingAdmin


@pytest.mark.parametrize("argv", [["ora", "n2"], ["ora", "--to", "n2"],
                                  ["ora", "n2", "--to", "n2"]])
def test_move_takes_the_host_as_argument_or_option(basedir: Path, admin: type[RecordingAdmin],
                                                   argv: list[str]) -> None:
    code, _, err = invoke("move", "--basedir", str(basedir), *argv)
    assert code == 0, err
    assert admin.moves == [("ora", "n2")]


def test_move_with_two_different_hosts_is_bad_input(basedir: Path,
                                                    admin: type[RecordingAdmin]) -> None:
    code, _, err = invoke("move", "--basedir", str(basedir), "ora", "n2", "--to", "n3")
    assert code == 2
    assert "two target hosts: 'n2' and --to 'n3'" in err
    assert admin.moves == []


def test_move_without_a_host_is_bad_input(basedir: Path, admin: type[RecordingAdmin]) -> None:
    code, _, err = invoke("move", "--basedir", str(basedir), "ora")
    assert code == 2 and "name the target host" in err
    assert admin.moves == []


def test_basedir_before_the_subcommand(basedir: Path, tmp_path: Path) -> None:
    code, out, err = invoke("--basedir", str(basedir), "check", "--host", "n1")
    assert code == 0, err
    assert str(basedir) in out
    # the subcommand's own --basedir wins over the leading one
    code, out, err = invoke("--basedir", str(tmp_path / "absent"), "check",
                            "--basedir", str(basedir), "--host", "n1")
    assert code == 0, err


def test_leading_basedir_wins_over_the_environment(basedir: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_BASEDIR", str(tmp_path / "absent"))
    code, out, err = invoke("--basedir", str(basedir), "check", "--host", "n1")
    assert code == 0, err
    assert str(basedir) in out


def test_mistyped_command_gets_a_suggestion() -> None:
    code, _, err = invoke("statsu")
    assert code == 2
    assert "No such command 'statsu'" in err and "Did you mean 'status'" in err


def test_hidden_commands_are_never_suggested() -> None:
    code, _, err = invoke("gaurd")
    assert code == 2 and "guard" not in err.replace("'gaurd'", "")


def test_missing_basedir_says_how_to_get_one(tmp_path: Path) -> None:
    absent = tmp_path / "absent"
    code, _, err = invoke("check", "--basedir", str(absent))
    assert code == 2
    assert f"s2s.toml:1: (file): no such file in {absent}" in err
    assert f"s2s-sd init --basedir {absent}" in err and "S2S_SD_BASEDIR" in err


# --help -------------------------------------------------------------------------------


def all_commands(ctx: click.Context) -> Iterator[click.Context]:
    command = ctx.command
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None
            if sub.hidden or name in HIDDEN_COMMANDS:
                continue
            child = click.Context(sub, info_name=name, parent=ctx)
            yield child
            yield from all_commands(child)


def test_top_level_help_is_grouped_and_complete() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    headings = re.findall(r"^(\S[^:\n]*):$", out, flags=re.MULTILINE)
    assert headings == ["Options", *SECTIONS]
    listed = re.findall(r"^  ([a-z]+)  ", out.split("Definitions:")[1], flags=re.MULTILINE)
    for hidden in HIDDEN_COMMANDS:
        assert hidden not in listed
    ctx = click.Context(main, info_name="s2s-sd")
    assert set(listed) == set(main.list_commands(ctx)) - HIDDEN_COMMANDS
    assert listed[:2] == ["init", "check"]  # the topics' own order, not alphabetical


def test_no_summary_is_cut() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    assert "Turn PATH (e.g. /var/nsr) into a symlink to /service/NN/NAME/PATH" in \
        " ".join(out.split())
    assert "..." not in out.split("\n", 1)[1]  # past the usage line


def test_every_command_has_an_example() -> None:
    root = click.Context(main, info_name="s2s-sd")
    paths = []
    for ctx in all_commands(root):
        path = ctx.command_path.removeprefix("s2s-sd ")
        paths.append(path)
        code, out, err = invoke(*path.split(), "--help")
        assert code == 0, err
        assert re.search(r"Example:\n +s2s-sd ", out), path
        assert "..." not in out.split("\n", 1)[1], path
    assert "vip up" in paths and "generate pacemaker" in paths
    assert set(EXAMPLES) <= set(paths) | {"drill"}  # no example left for a gone command


def test_hidden_commands_still_run() -> None:
    code, out, _ = invoke("guard", "--help")
    assert code == 0 and "guard [OPTIONS] GROUP" in out


# a tool ended by a signal -----------------------------------------------------------


@pytest.mark.parametrize(("returncode", "said"), [
    (0, "exited with 0"), (2, "exited with 2"),
    (-11, "killed by signal 11 (SIGSEGV)"), (-9, "killed by signal 9 (SIGKILL)"),
    (-200, "killed by signal 200"),
])
def test_exit_status_names_the_signal(returncode: int, said: str) -> None:
    assert exit_status(returncode) == said


def test_command_failed_names_the_signal() -> None:
    error = CommandFailed(["crm_verify", "-L"], -11, "", "")
    assert str(error) == "crm_verify killed by signal 11 (SIGSEGV)"
