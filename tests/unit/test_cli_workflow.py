"""The workflow commands through the CLI: group new, service new of every type, host
add/remove input checks, init's fencing example. Bad input exits 2 and changes nothing;
a refusal exits 3 and changes nothing. (host add and remove against real hosts: the lab,
tests/lab/test_workflow.py.)"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main

pytestmark = pytest.mark.unit
TYPES = ("mount", "ip", "script", "exec", "systemd", "kits")


def invoke(*argv: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(argv))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def snapshot(base: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(base)): (p.read_bytes() if p.is_file() else b"", p.stat().st_mode)
            for p in sorted(base.rglob("*"))}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh base dir from `init` (hosts a1, a2, a3), as an administrator starts."""
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))
    base = tmp_path / "site"
    code, _, err = invoke("init", "--basedir", str(base), "--name", "c09", "--hosts",
                          "a1,a2,a3")
    assert code == 0, err
    return base


def check(base: Path) -> tuple[int, str, str]:
    return invoke("check", "--basedir", str(base), "--host", "a1")


def test_init_has_a_commented_fencing_example(site: Path) -> None:
    text = (site / "s2s.toml").read_text()
    assert "fencing" not in tomllib.loads(text)
    uncommented = re.sub(r"^# ?(\[fencing\]|enabled|  )", r"\1", text, flags=re.MULTILINE)
    fencing = tomllib.loads(uncommented)["fencing"]
    assert fencing["enabled"] is True
    assert fencing["devices"][0]["agent"] == "fence_ipmilan"
    assert "host_key" in text


def test_group_new_then_service_new_of_every_type(site: Path) -> None:
    code, out, err = invoke("group", "new", "--basedir", str(site), "db", "--hosts", "a2,a1")
    assert code == 0, err
    assert "next: s2s-sd service new SERVICE --group db" in out
    group_file = site / "groups" / "db.toml"
    data = tomllib.loads(group_file.read_text())
    assert data == {"description": "db", "hosts": ["a2", "a1"]}
    text = group_file.read_text()
    for kind in TYPES:  # a commented example of each type
        assert f'# type = "{kind}"' in re.sub(r"type\s+=", "type =", text)
    # until its first service, check says what is missing
    code, _, err = check(site)
    assert code == 2 and "groups/db.toml" in err and "has no" in err
    for kind in TYPES:
        code, out, err = invoke("service", "new", "--basedir", str(site), f"s_{kind}",
                                "--group", "db", "--type", kind)
        assert code == 0, (kind, err)
        assert "next: " in out and "s2s-sd check && s2s-sd sync" in out
    services = tomllib.loads(group_file.read_text())["services"]
    # script and kits are ready to run; the others wait for their device, address, ...
    assert [(s["name"], s["type"]) for s in services] == [("s_script", "script")]
    assert (site / "init.d" / "s_script").is_file()
    assert (site / "sysconfig" / "s_script").is_file()
    # every template, filled in as it stands (one level of # removed), is valid
    filled = re.sub(r"^# s2s-sd service new .*\n((?:# .*\n)+)",
                    lambda m: re.sub(r"^# ", "", m.group(1), flags=re.M),
                    group_file.read_text(), flags=re.M)
    group_file.write_text(filled)
    code, out, err = check(site)
    assert code == 0, err
    assert "6 services" in out
    names = [s["name"] for s in tomllib.loads(filled)["services"]]
    assert sorted(names) == sorted(f"s_{kind}" for kind in TYPES)


def test_service_new_goes_with_its_group_in_s2s_toml(site: Path) -> None:
    main_file = site / "s2s.toml"
    main_file.write_text(main_file.read_text() + '\n[groups.web]\nhosts = ["a1"]\n\n'
                         '[[groups.web.services]]\nname = "vip"\ntype = "ip"\n'
                         'address = "192.0.2.7/24"\n\n# the next one\n[groups.app]\n\n'
                         '[[groups.app.services]]\nname = "vip"\ntype = "ip"\n'
                         'address = "192.0.2.8/24"\n')
    before = main_file.read_text()
    code, _, err = invoke("service", "new", "--basedir", str(site), "web_app", "--group", "web",
                          "--type", "exec")
    assert code == 0, err
    after = main_file.read_text()
    added = after.replace(before.split("\n# the next one")[0], "", 1).split("# the next one")[0]
    assert "# [[groups.web.services]]" in added and re.search(r'name += "web_app"', added)
    assert after.startswith(before.split("\n# the next one")[0])
    assert after.endswith("# the next one" + before.split("# the next one")[1])
    code, _, err = invoke("service", "new", "--basedir", str(site), "helper", "--group", "web")
    assert code == 0, err
    assert tomllib.loads(main_file.read_text())["groups"]["web"]["services"][-1]["name"] == \
        "helper"


@pytest.mark.parametrize("argv", [
    ("group", "new", "bad-name"),
    ("group", "new", "db", "--hosts", "a1,zz"),
    ("group", "new", "db", "--hosts", ","),
    ("service", "new", "bad-name", "--group", "db"),
    ("service", "new", "x", "--group", "nope"),
    ("service", "new", "x", "--group", "db", "--type", "nfs"),
    ("service", "new", "s1", "--group", "db", "--type", "mount"),  # scaffolded already
    ("service", "new", "k", "--group", "db", "--type", "exec"),  # listed already
    ("host", "add", "bad_name!"),
    ("host", "add", "a4", "--address", "not an address"),
    ("host", "add", "a1"),
    ("host", "remove", "zz"),
    ("host", "remove", "a2", "--no-such-option"),
])
def test_bad_input_exits_2_and_changes_nothing(site: Path, argv: tuple[str, ...]) -> None:
    assert invoke("group", "new", "--basedir", str(site), "db")[0] == 0
    assert invoke("service", "new", "--basedir", str(site), "s1", "--group", "db",
                  "--type", "mount")[0] == 0
    assert invoke("service", "new", "--basedir", str(site), "k", "--group", "db",
                  "--type", "script")[0] == 0
    before = snapshot(site)
    code, _, err = invoke(*argv[:2], "--basedir", str(site), *argv[2:])
    assert code == 2, err
    assert snapshot(site) == before
    assert err.strip()


def test_group_new_refuses_an_existing_group(site: Path) -> None:
    assert invoke("group", "new", "--basedir", str(site), "db")[0] == 0
    before = snapshot(site)
    code, _, err = invoke("group", "new", "--basedir", str(site), "db")
    assert code == 2 and "exists already" in err
    assert snapshot(site) == before


def test_a_result_that_would_not_validate_is_not_written(site: Path) -> None:
    """Service app of group web has the Pacemaker id of group web_app: the staged result
    is invalid, so neither the definition nor the new script files stay."""
    main_file = site / "s2s.toml"
    main_file.write_text(main_file.read_text() + '\n[groups.web]\n\n[[groups.web.services]]\n'
                         'name = "vip"\ntype = "ip"\naddress = "192.0.2.7/24"\n'
                         '\n[groups.web_app]\n\n[[groups.web_app.services]]\n'
                         'name = "vip"\ntype = "ip"\naddress = "192.0.2.8/24"\n')
    before = snapshot(site)
    code, _, err = invoke("service", "new", "--basedir", str(site), "app", "--group", "web",
                          "--type", "script")
    assert code == 2 and "s2s.toml:" in err and "Pacemaker id 'web_app'" in err
    assert "nothing was changed" in err
    assert snapshot(site) == before


def test_host_edits_refuse_before_touching_anything(site: Path) -> None:
    main_file = site / "s2s.toml"
    # a host list written as a dotted key: the edit refuses instead of guessing
    text = main_file.read_text().replace('hosts  = ["a1", "a2", "a3"]', "")
    text = text.replace("[hostgroup]\n", '[hostgroup]\nhosts.x = 1\n')
    main_file.write_text(text)
    before = snapshot(site)
    assert invoke("host", "add", "--basedir", str(site), "a4")[0] == 2
    assert snapshot(site) == before


def test_host_remove_refuses_a_group_that_could_run_nowhere_else(site: Path) -> None:
    assert invoke("group", "new", "--basedir", str(site), "db", "--hosts", "a3")[0] == 0
    assert invoke("service", "new", "--basedir", str(site), "k", "--group", "db",
                  "--type", "script")[0] == 0
    before = snapshot(site)
    code, _, err = invoke("host", "remove", "--basedir", str(site), "a3")
    assert code == 3 and "db" in err and "only on a3" in err
    assert snapshot(site) == before
