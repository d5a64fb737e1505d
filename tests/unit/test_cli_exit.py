"""The program's end (cli/__init__.py exit_now): the process skips the interpreter's
teardown, and nothing the interpreter would still do at exit is lost: the exit status,
buffered output, exit handlers, weakref finalizers, threads that are not daemons. Each
case runs the real program in a process of its own (in-process, click's runner never
comes to exit_now)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def program(tmp_path: Path, before: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """`s2s-sd ARGV` as the console script runs it, after the statements BEFORE."""
    code = (f"import sys\nsys.argv[0] = 's2s-sd'\nfrom s2s_sd.cli import main\n{before}\n"
            f"main({list(argv)!r})\n")
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(REPO)})


def test_buffered_output_and_exit_handlers_survive_the_quick_exit(tmp_path: Path) -> None:
    # a megabyte more than any pipe buffer: whatever is left in the buffer must be flushed
    before = ("import atexit\natexit.register(lambda: print('exit handler ran'))\n"
              "sys.stdout.write('x' * 1_000_000 + '\\n')")
    done = program(tmp_path, before, "--version")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "x" * 1_000_000
    assert lines[1].startswith("s2s-sd, version ")
    assert lines[2] == "exit handler ran"


def test_threads_that_are_not_daemons_finish_and_finalizers_run(tmp_path: Path) -> None:
    before = (
        "import tempfile, threading, time, pathlib\n"
        "scratch = tempfile.TemporaryDirectory(dir='.')\n"  # removed by its finalizer
        "pathlib.Path('scratch.txt').write_text(scratch.name)\n"
        "def late():\n    time.sleep(0.3)\n    pathlib.Path('late.txt').write_text('done')\n"
        "threading.Thread(target=late).start()")
    done = program(tmp_path, before, "--version")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "late.txt").read_text() == "done"
    assert not Path((tmp_path / "scratch.txt").read_text()).exists()


@pytest.mark.parametrize(("argv", "status", "said"), [
    (["no-such-command"], 2, "No such command 'no-such-command'"),
    (["check", "--basedir", "missing"], 2, "nothing was changed"),
    (["status", "--basedir", "missing", "--json"], 2, '"exit_code": 2'),
])
def test_the_exit_status_and_the_message_stay(tmp_path: Path, argv: list[str], status: int,
                                              said: str) -> None:
    done = program(tmp_path, "", *argv)
    assert done.returncode == status
    assert said in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_a_status_that_is_no_number_exits_as_the_interpreter_does(tmp_path: Path) -> None:
    # not a path s2s-sd takes itself; a command's SystemExit("text") would print the text
    # and exit 1, and still does
    before = ("import click\nfrom s2s_sd import cli\n"
              "@cli.main.command('bye')\ndef bye() -> None:\n    raise SystemExit('bye bye')")
    done = program(tmp_path, before, "bye")
    assert done.returncode == 1
    assert "bye bye" in done.stderr


def test_the_teardown_is_skipped(tmp_path: Path) -> None:
    # an object freed only by the interpreter's teardown: the program ends before it
    before = ("class Freed:\n    def __del__(self) -> None:\n        print('torn down')\n"
              "kept = Freed()")
    done = program(tmp_path, before, "--version")
    assert done.returncode == 0, done.stderr
    assert "version" in done.stdout and "torn down" not in done.stdout
