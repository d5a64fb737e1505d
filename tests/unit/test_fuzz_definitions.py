"""Mutated definitions (issue 11, "Prove it"): starting from examples/, hypothesis changes
values, keys and lines of the definition files, then drives the CLI in-process.

Every outcome is exit 0 or 2, never 1 and never a traceback; on 2 every problem line
names FILE:LINE and nothing is written; whatever `check` accepts, `generate systemd` and
`generate pacemaker` render (exit 0). Each example runs under the profile's deadline
(tests/conftest.py), so a mutation that makes s2s-sd slow fails too. `make fuzz` runs many
more examples than `make test`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import example, given
from hypothesis import strategies as st

from s2s_sd.cli import main
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

FILES = ("s2s.toml", "groups/ora.toml", "groups/web.toml")
PROBLEM_LINE = re.compile(r"(s2s\.toml|groups/[^:]*):[1-9][0-9]*: \S")
SUMMARY = re.compile(r"s2s-sd: [0-9]+ error\(s\) in the definitions; nothing was changed\Z")
KEYS = ("name", "type", "hosts", "address", "alias", "interface", "device", "mountpoint",
        "fstype", "options", "script", "config", "unit", "command", "user", "description",
        "pre_move", "post_move", "stickiness", "migration_threshold", "failure_timeout",
        "start_timeout", "stop_timeout", "monitor_interval", "disks", "kit_timeout", "engine",
        "enabled", "agent", "params", "secret_params")

# characters every sink has its own trouble with: line ends of all kinds, quotes,
# specifiers, variables, escapes, separators, XML, shell
NASTY = "\n\r\t\x00\x01\x07\x1b\x7f\x85\u2028\u2029\ufeff\ufffe\"'\\%$;&<>`|#=[]{}/. -_:@*?"
nasty_text = st.text(alphabet=st.sampled_from(NASTY) | st.characters(), max_size=40)
words = st.sampled_from(["n1", "n2", "n3", "hooks", "allowed-hosts", "ora", "web", "vip", "data",
                         "web_vip", "ora_hooks", "censhare", "s2s-x.service", "ora-db.service",
                         "192.168.77.12/24", "::ffff:192.168.77.30/120", "fd00::5/64",
                         "192.168.77.11", "/disk/ora/00", "/disk/ora/00/x", "/dev/sdb1",
                         "hooks/ora_pre", "init.d/ora_listener", "../x", "/etc/passwd",
                         "x" * 300, "d/" * 2100, "/a" * 3000, "pacemaker", "systemd", "mount",
                         "ip", "script", "exec", "kits", "fence_ipmilan", ""])
numbers = st.one_of(st.integers(min_value=-3, max_value=100_001),
                    st.sampled_from([86400, 86401, 1_000_000, 1_000_001, 10**20, 2**63, -2**63]),
                    st.integers())


def toml_string(text: str) -> str:
    """text as a TOML basic string: control characters as \\u escapes (TOML's rule)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


scalar = st.one_of(
    (words | nasty_text).map(toml_string),
    numbers.map(str),
    st.integers(min_value=0, max_value=16**300).map(hex),
    st.sampled_from(["true", "false", "1.5", "inf", "nan", "1979-05-27", "9" * 4400]),
)
toml_value = st.one_of(
    scalar,
    st.lists(scalar, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
    st.lists(st.tuples(st.sampled_from(KEYS), scalar), max_size=3).map(
        lambda pairs: "{" + ", ".join(f"{k} = {v}" for k, v in dict(pairs).items()) + "}"),
    st.integers(min_value=1, max_value=1200).map(lambda n: "[" * n + "]" * n),
)
extra_line = st.one_of(
    st.tuples(st.sampled_from(KEYS), toml_value).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    st.sampled_from(["[[services]]", "[[groups.censhare.services]]", "[groups.extra]",
                     "[hosts.n9]", "[hosts.n1]", "[fencing]", "[[fencing.devices]]",
                     'name = "hooks"', 'type = "mount"', "# comment \u2028 \u2029 \x85 end",
                     '"quoted\\nkey" = 1', "[hostgroup]", "a.b.c.d.e.f = 1", "=", "[", ""]),
    nasty_text,
)

Mutation = Callable[[list[str]], list[str]]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[str, Mutation]:
    kind = draw(st.sampled_from(["value", "value", "value", "key", "insert", "delete",
                                 "duplicate", "text"]))
    position = draw(st.integers(min_value=0, max_value=200))
    if kind == "value":
        value = draw(toml_value)

        def change_value(lines: list[str]) -> list[str]:
            assignments = [i for i, ln in enumerate(lines) if "=" in ln
                           and not ln.lstrip().startswith("#")]
            if assignments:
                i = assignments[position % len(assignments)]
                lines[i] = lines[i].split("=", 1)[0] + "= " + value
            return lines
        return f"value {value[:60]!r}", change_value
    if kind == "key":
        key = draw(st.sampled_from(KEYS) | st.from_regex(r"[a-z_]{1,12}", fullmatch=True))

        def change_key(lines: list[str]) -> list[str]:
            assignments = [i for i, ln in enumerate(lines) if "=" in ln
                           and not ln.lstrip().startswith("#")]
            if assignments:
                i = assignments[position % len(assignments)]
                lines[i] = key + " =" + lines[i].split("=", 1)[1]
            return lines
        return f"key {key}", change_key
    if kind == "insert":
        line = draw(extra_line)
        return f"insert {line[:60]!r}", lambda lines: [
            *lines[: position % (len(lines) + 1)], line, *lines[position % (len(lines) + 1):]]
    if kind == "delete":
        return "delete", lambda lines: [ln for i, ln in enumerate(lines)
                                        if not lines or i != position % len(lines)]
    if kind == "duplicate":
        return "duplicate", lambda lines: (
            lines[: position % len(lines) + 1] + lines[position % len(lines):] if lines else lines)
    text = draw(nasty_text)

    def insert_text(lines: list[str]) -> list[str]:
        joined = "\n".join(lines)
        cut = position * 7 % (len(joined) + 1)
        return (joined[:cut] + text + joined[cut:]).split("\n")
    return f"text {text!r}", insert_text


def replace_line(prefix: str, new: str) -> tuple[str, Mutation]:
    """A fixed mutation: the first line starting with prefix becomes new."""
    def change(lines: list[str]) -> list[str]:
        index = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith(prefix))
        return [*lines[:index], new, *lines[index + 1:]]
    return f"{prefix} -> {new[:60]!r}", change


# the reproductions of issue 11 (items 12, 14, 15, 16), run on every `make test` whatever
# the random draw: the classes the fuzzing must keep covering
ISSUE_EXAMPLES = [
    ("groups/web.toml", "systemd", [replace_line(
        "command", 'command = ["/bin/sleep", "1000\\nExecStartPre=/bin/touch /tmp/pwned"]')]),
    ("groups/ora.toml", "systemd", [replace_line("mountpoint = \"/disk/ora/01",
                                                 'mountpoint = "/disk/ora/01\\nX=y"')]),
    ("groups/web.toml", "pacemaker", [replace_line("hosts", 'hosts = ["n3", "n1"]\nstickiness = 0x'
                                                   + "f" * 4000)]),
    ("groups/ora.toml", "pacemaker", [replace_line("start_timeout",
                                                   "start_timeout = 0x" + "f" * 3000)]),
    ("groups/ora.toml", "systemd", [replace_line("stop_timeout", "stop_timeout = 1" + "0" * 20)]),
    ("groups/ora.toml", "systemd", [replace_line("stop_timeout", "stop_timeout = " + "9" * 5000)]),
    ("groups/web.toml", "systemd", [replace_line("alias", "x = " + "[" * 1000 + "]" * 1000)]),
    ("groups/ora.toml", "pacemaker", [replace_line('name    = "vip"', 'name = "hooks"')]),
    ("s2s.toml", "pacemaker", [
        replace_line("hosts  =", 'hosts = ["n1", "n2", "n3", "allowed-hosts"]'),
        replace_line("hosts       =", 'hosts = ["n1", "allowed-hosts"]')]),
    ("s2s.toml", "fenced", [replace_line("name = \"ipmi_n1\"", 'name = "ora_hooks"')]),
    ("s2s.toml", "fenced", [replace_line("hosts = [\"n2\"]", 'hosts = ["n2", "n2"]')]),
    ("s2s.toml", "fenced", [replace_line("params", 'params = { ip = "10.0.0.1\\u0001" }')]),
    ("groups/web.toml", "pacemaker", [replace_line("description",
                                                   'description = "web\\u0007 server"')]),
    ("groups/web.toml", "systemd", [replace_line("# A small", "# a\u2028b\u2029c\x85d"),
                                    replace_line("alias", 'alias = "w w"')]),
    ("groups/web.toml", "systemd", [replace_line("address", 'address = "192.168.77.12/24"')]),
]

PACEMAKER = ('engine = "systemd"', 'engine = "pacemaker"')
FENCING = ("[fencing]\nenabled = false",
           '[fencing]\nenabled = true\n[[fencing.devices]]\nname = "ipmi_n1"\n'
           'agent = "fence_ipmilan"\nhosts = ["n2"]\nparams = { ip = "10.0.0.1" }\n'
           'secret_params = { password = "sysconfig/censhare_db" }')


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file() and not p.is_symlink()}


def assert_clean(result: Result, argv: list[str]) -> None:
    output = result.output + result.stderr
    assert "Traceback" not in output and "internal error" not in output, (argv, output)
    assert result.exit_code in (0, 2), (argv, result.exit_code, output)
    if result.exit_code == 2:
        lines = result.stderr.splitlines()
        problems = [ln for ln in lines if not ln.startswith("s2s-sd: ")]
        assert problems, (argv, result.stderr)
        for line in problems:
            assert PROBLEM_LINE.match(line), (argv, line)
        assert SUMMARY.match(lines[-1]), (argv, lines[-1])


def _with_issue_examples(test: Callable[..., None]) -> Callable[..., None]:
    for file, engine, changes in reversed(ISSUE_EXAMPLES):
        test = example(file=file, engine=engine, changes=changes)(test)
    return test


@_with_issue_examples
@given(file=st.sampled_from(FILES), engine=st.sampled_from(["systemd", "pacemaker", "fenced"]),
       changes=st.lists(mutations(), min_size=1, max_size=3))
def test_fuzz_mutated_definitions(file: str, engine: str,
                                  changes: list[tuple[str, Mutation]]) -> None:
    with tempfile.TemporaryDirectory(prefix="s2s-sd-fuzz-") as scratch:
        base = Path(scratch) / "base"
        shutil.copytree(EXAMPLES, base, symlinks=True)
        main_file = base / "s2s.toml"
        if engine != "systemd":
            text = main_file.read_text().replace(*PACEMAKER)
            main_file.write_text(text.replace(*FENCING) if engine == "fenced" else text)
        path = base / file
        lines = path.read_text(encoding="utf-8").split("\n")
        for _description, change in changes:
            lines = change(lines)
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
        before = snapshot(base)
        runner = CliRunner()
        common = ["--basedir", str(base), "--host", "n1"]

        check = runner.invoke(main, ["check", *common])
        assert_clean(check, ["check"])
        for kind in ("systemd", "pacemaker"):
            out = Path(scratch) / f"out-{kind}"
            argv = ["generate", kind, "--out", str(out), *common]
            result = runner.invoke(main, argv)
            assert_clean(result, argv)
            # what check accepts, generate renders; what check refuses, generate refuses
            assert result.exit_code == check.exit_code, (argv, result.stderr, check.stderr)
            assert out.exists() == (result.exit_code == 0), argv
        assert snapshot(base) == before
