"""Every value that reaches a unit file, the CIB, a hosts file or a shell stays inert
(issue 11, item 15): check refuses control characters (tests/unit/test_bad_definitions.py),
and what it accepts, however nasty, is escaped by the renderer so that each sink reads
back exactly the declared value. systemd-analyze verify of such units: tests/tools."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from s2s_sd.cli import main
from s2s_sd.engines.net.hosts_file import set_alias
from s2s_sd.load import load_definitions
from s2s_sd.load_reader import control_character
from s2s_sd.model import ExecService
from s2s_sd.naming import alias_hostname
from s2s_sd.render.systemd import command_line, env_assignment, render_units
from s2s_sd.validate import ALIAS
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

_C_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
              "\\": "\\", '"': '"', "'": "'", "s": " "}


def systemd_words(value: str, expand_variables: bool) -> list[str]:
    """The words systemd makes of an Exec*= or Environment= value (systemd.syntax(7):
    split at blanks outside quotes, C escapes, then %% and, for Exec*=, $$ resolved).
    A model for the tests: only what the renderer may produce is accepted."""
    words: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] == " ":
            i += 1
        if i >= n:
            break
        if value[i] == ";" and (i + 1 == n or value[i + 1] == " "):
            raise AssertionError(f"an unquoted ';' separates commands: {value!r}")
        word: list[str] = []
        quote = None
        started = i
        while i < n and (quote or value[i] != " "):
            ch = value[i]
            if ch == "\\":
                code = value[i + 1]
                if code in "xuU":
                    width = {"x": 2, "u": 4, "U": 8}[code]
                    word.append(chr(int(value[i + 2: i + 2 + width], 16)))
                    i += 2 + width
                    continue
                word.append(_C_ESCAPES[code])
                i += 2
                continue
            if ch in "\"'" and quote in (None, ch) and (quote or i == started):
                quote = None if quote else ch
                i += 1
                continue
            assert ch.isprintable(), f"unescaped {ch!r} in {value!r}"
            word.append(ch)
            i += 1
        assert quote is None, f"unterminated quote in {value!r}"
        text = "".join(word)
        assert re.fullmatch(r"([^%]|%%)*", text), f"a specifier would expand in {text!r}"
        text = text.replace("%%", "%")
        if expand_variables:
            assert re.fullmatch(r"([^$]|\$\$)*", text), f"a variable would expand in {text!r}"
            text = text.replace("$$", "$")
        words.append(text)
    return words


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_exec_lines_read_back_exactly(argv: list[str]) -> None:
    line = command_line(["/bin/prog", *argv])
    assert line.isprintable(), line  # nothing can start a new line or hide itself
    assert systemd_words(line, expand_variables=True) == ["/bin/prog", *argv]


@given(st.text(), st.text(alphabet=st.characters(exclude_characters="\x00")))
def test_environment_lines_read_back_exactly(name: str, value: str) -> None:
    line = env_assignment(f"X{name}", value)
    assert line.isprintable(), line
    assert systemd_words(line.removeprefix("Environment="), expand_variables=False) == [
        f"X{name}={value}"]


def test_newline_in_an_exec_argument_stays_inside_its_argument() -> None:
    # the renderer must be safe on its own, even for values check would refuse
    defs = load_definitions(EXAMPLES, "n1")
    web = next(g for g in defs.groups if g.name == "web")
    evil = ("/bin/sleep", "1000\nExecStartPre=/bin/touch /tmp/pwned", "%n$HOME\\")
    services = tuple(dataclasses.replace(s, command=evil) if isinstance(s, ExecService) else s
                     for s in web.services)
    defs = dataclasses.replace(defs, groups=(dataclasses.replace(web, services=services),))
    unit = render_units(defs)["s2s-web-httpd.service"]
    directives = [ln.split("=", 1)[0] for ln in unit.splitlines() if "=" in ln]
    assert directives.count("ExecStart") == 1 and "ExecStartPre" not in directives, unit
    exec_start = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart="))
    assert systemd_words(exec_start.removeprefix("ExecStart="), True) == list(evil)


def write_nasty_definitions(basedir: Path) -> None:
    """Valid definitions whose values carry shell, specifier, XML and quoting syntax."""
    ora = basedir / "groups" / "ora.toml"
    ora.write_text(ora.read_text()
                   .replace('"/dev/mapper/ora_redo"', "'/dev/x$(touch${IFS}pwned)`id`%n'")
                   .replace('"/disk/ora/01"', "'/disk/ora/0$(touch${IFS}pwned2);\"%i\\'")
                   .replace('"Oracle database ORA1"',
                            "'\"/><primitive id=\"evil\"/><x a=\"&amp; %n $HOME \\'"))
    web = basedir / "groups" / "web.toml"
    web.write_text(web.read_text().replace('"--directory", "/usr/share/doc"',
                                           '"--directory", "$(touch pwned3)", "; rm -rf /",'
                                           ' "\\"quoted\\" %h \\\\"'))


def test_nasty_but_valid_values_pass_check_and_render_inert(basedir: Path,
                                                            tmp_path: Path) -> None:
    write_nasty_definitions(basedir)
    runner = CliRunner()
    common = ["--basedir", str(basedir), "--host", "n1"]
    checked = runner.invoke(main, ["check", *common])
    assert checked.exit_code == 0, checked.stderr
    out = tmp_path / "units"
    assert runner.invoke(main, ["generate", "systemd", "--out", str(out), *common]).exit_code == 0

    # unit file: the exec member's argv reads back exactly
    httpd = (out / "s2s-web-httpd.service").read_text()
    exec_start = next(ln for ln in httpd.splitlines() if ln.startswith("ExecStart="))
    argv = systemd_words(exec_start.removeprefix("ExecStart="), True)
    assert argv[-4:] == ["--directory", "$(touch pwned3)", "; rm -rf /", '"quoted" %h \\']

    # shell: the mount helper gets the declared device and mountpoint and runs nothing
    redo = (out / "s2s-ora-redo.service").read_text()
    assert [ln for ln in redo.splitlines() if ln.startswith("[")] == ["[Unit]", "[Service]"]
    # (ExecStart= is the monitor loop, which reads the same argv from the definitions)
    mount_line = next(ln for ln in redo.splitlines() if ln.startswith("ExecStop="))
    mount_argv = systemd_words(mount_line.removeprefix("ExecStop="), True)
    assert mount_argv[2:4] == ["/dev/x$(touch${IFS}pwned)`id`%n",
                               "/disk/ora/0$(touch${IFS}pwned2);\"%i\\"]
    helper = resources.files("s2s_sd").joinpath("units", "s2s-mount")
    shell = tmp_path / "shell"
    shell.mkdir()
    status = subprocess.run(["bash", str(helper), "status", *mount_argv[2:]], cwd=shell,
                            capture_output=True, text=True, timeout=30, check=False)
    assert status.returncode == 3, status.stderr
    assert status.stdout == f"{mount_argv[3]} not mounted\n"
    assert list(shell.iterdir()) == []  # no pwned files: no substitution happened

    # CIB: the description is an attribute value, not markup
    cib_out = tmp_path / "cib"
    assert runner.invoke(main, ["generate", "pacemaker", "--out", str(cib_out),
                                *common]).exit_code == 0
    cib = etree.parse(str(cib_out / "cib.xml"))
    assert cib.xpath("//*[@id='evil']") == []
    assert cib.xpath("//group[@id='ora']/@description") == [
        '"/><primitive id="evil"/><x a="&amp; %n $HOME \\']
    assert cib.xpath("//primitive[@id='ora_redo']//nvpair[@name='device']/@value") == [
        "/dev/x$(touch${IFS}pwned)`id`%n"]


@given(st.from_regex(ALIAS, fullmatch=True) | st.text(max_size=30))
def test_hosts_file_gets_one_line_per_accepted_alias(tmp_path_factory: pytest.TempPathFactory,
                                                     alias: str) -> None:
    if not ALIAS.match(alias) or control_character(alias):
        return  # check refuses it (tests/unit/test_bad_definitions.py: alias-newline)
    hosts = tmp_path_factory.mktemp("hosts") / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n")
    set_alias(hosts, alias_hostname(alias, "c07"), "192.168.77.21")
    lines = hosts.read_text().splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost" and len(lines) == 2
    assert lines[1].split()[:2] == ["192.168.77.21", f"{alias}_c07"]


@pytest.mark.parametrize("target", ["/etc/s2s sd", "/etc/s2s%n", "/etc/$HOME", "relative",
                                    '/etc/"s2s"', "/etc/s2s\nExecStartPre=/bin/true"])
def test_a_base_dir_path_units_cannot_carry_is_refused(tmp_path: Path, target: str) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "systemd", "--basedir", str(EXAMPLES),
                                       "--host", "n1", "--out", str(out),
                                       "--target-basedir", target])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("s2s-sd: error: base dir "), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not out.exists()
