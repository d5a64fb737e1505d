"""The definition commands end to end through the CLI (no root needed)."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.hosts.state import Journal, write_assignments, write_journal

pytestmark = pytest.mark.unit


def invoke(*argv: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(argv))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("S2S_SD_STATEDIR", str(path))
    return path


def test_check_examples_ok(basedir: Path) -> None:
    code, out, err = invoke("check", "--basedir", str(basedir))
    assert code == 0, err
    assert "host group c07 (systemd engine): 3 groups, 11 services: OK" in out


def test_basedir_from_environment(basedir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_BASEDIR", str(basedir))
    code, out, _ = invoke("check")
    assert code == 0 and str(basedir) in out


def test_unknown_command_and_option_exit_2() -> None:
    assert invoke("no-such-command")[0] == 2
    assert invoke("check", "--no-such-option")[0] == 2


def test_generate_refuses_foreign_directory(basedir: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "etc-systemd"
    foreign.mkdir()
    (foreign / "precious.service").write_text("[Unit]\n")
    code, _, err = invoke("generate", "systemd", "--basedir", str(basedir), "--out", str(foreign))
    assert code == 2 and "not written by s2s-sd" in err
    assert sorted(p.name for p in foreign.iterdir()) == ["precious.service"]


def test_generate_replaces_its_own_output(basedir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("generate", "systemd", "--basedir", str(basedir), "--out", str(out))[0] == 0
    (out / "s2s-stale.service").write_text("old")
    assert invoke("generate", "systemd", "--basedir", str(basedir), "--out", str(out))[0] == 0
    assert not (out / "s2s-stale.service").exists()
    assert (out / "s2s-ora.target").is_file()
    assert (out / "ora-db.service.d" / "s2s-ora.conf").is_file()


def unit_dir(root: Path) -> Path:
    return root / "etc" / "systemd" / "system"


def test_apply_systemd_installs_units_helpers_and_boot_links(basedir: Path,
                                                             tmp_path: Path) -> None:
    root = tmp_path / "root"
    code, out, err = invoke("apply", "systemd", "--basedir", str(basedir), "--host", "n2",
                            "--root", str(root))
    assert code == 0, err
    units = unit_dir(root)
    assert (units / "s2s-ora.target").is_file()
    assert (units / "ora-db.service.d" / "s2s-ora.conf").is_file()
    # ora prefers n2: only its target is wanted at boot on n2 (and the watcher and the
    # agent server everywhere)
    wants = sorted(p.name for p in (units / "multi-user.target.wants").iterdir())
    assert wants == ["s2s-agent.service", "s2s-ora.target", "s2s-watch.service"]
    for service in ("s2s-agent.service", "s2s-watch.service"):
        assert os.readlink(units / "multi-user.target.wants" / service) == \
            f"/etc/systemd/system/{service}"
    assert os.readlink(units / "multi-user.target.wants" / "s2s-ora.target") == \
        "/etc/systemd/system/s2s-ora.target"
    for name in ("s2s-mount", "s2s-guard", "s2s-agent-connect"):
        helper = root / "usr/local/lib/s2s-sd" / name
        assert helper.is_file() and os.access(helper, os.X_OK), name
    assert (root / "usr/lib/ocf/resource.d/s2s/script").is_file()
    # a second apply changes nothing
    code, out, _ = invoke("apply", "systemd", "--basedir", str(basedir), "--host", "n2",
                          "--root", str(root))
    assert code == 0 and " 0 written" in out and "0 removed" in out


def test_apply_follows_assignment_and_removes_only_its_own(basedir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    units = unit_dir(root)
    units.mkdir(parents=True)
    (units / "admin-own.service").write_text("[Unit]\n")
    assert invoke("apply", "systemd", "--basedir", str(basedir), "--host", "n1",
                  "--root", str(root))[0] == 0
    assert sorted(p.name for p in (units / "multi-user.target.wants").iterdir()) == \
        ["s2s-agent.service", "s2s-censhare.target", "s2s-watch.service"]
    # ora moved to n1, web group dropped from the definitions
    write_assignments("c07", {"ora": "n1"})
    (basedir / "groups" / "web.toml").unlink()
    code, out, _ = invoke("apply", "systemd", "--basedir", str(basedir), "--host", "n1",
                          "--root", str(root))
    assert code == 0
    assert sorted(p.name for p in (units / "multi-user.target.wants").iterdir()) == \
        ["s2s-agent.service", "s2s-censhare.target", "s2s-ora.target", "s2s-watch.service"]
    assert not (units / "s2s-web.target").exists()
    assert "removed: s2s-web-vip.service" in out
    assert (units / "admin-own.service").read_text() == "[Unit]\n"


def test_apply_refuses_host_outside_hostgroup(basedir: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # a --host outside the host group is a bad argument (issue 17 item 12): exit 2
    code, _, err = invoke("apply", "systemd", "--basedir", str(basedir), "--host", "stranger",
                          "--root", str(tmp_path / "root"))
    assert code == 2 and "--host stranger: not in host group c07" in err
    assert not (tmp_path / "root").exists()
    # this host outside it: refused for safety, exit 3
    from s2s_sd.cli import definitions

    monkeypatch.setattr(definitions, "local_host", lambda: "stranger")
    code, _, err = invoke("apply", "systemd", "--basedir", str(basedir),
                          "--root", str(tmp_path / "root"))
    assert code == 3 and "host stranger is not in host group c07" in err
    assert not (tmp_path / "root").exists()


def as_host(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setattr("s2s_sd.cli.runtime.local_host", lambda: host)


def test_guard_local_refusals(basedir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # refusals decided on this host alone, before any other host is asked
    as_host(monkeypatch, "n1")
    code, _, err = invoke("guard", "--basedir", str(basedir), "ora")
    assert code == 3 and "assigned to n2" in err and "s2s-sd move ora --to n1" in err
    code, _, err = invoke("guard", "--basedir", str(basedir), "nosuchgroup")
    assert code == 2 and "not defined" in err


def test_guard_honours_a_move_in_progress(basedir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_host(monkeypatch, "n1")
    journal = Journal(group="ora", source="n2", target="n1", step="stopping", admin="adminhost",
                      pid=1, started=time.time())
    write_journal("c07", journal)
    code, _, err = invoke("guard", "--basedir", str(basedir), "ora")
    assert code == 3 and "in progress, step stopping" in err
    # once the admin proved the group down everywhere, the target may start it
    write_journal("c07", replace(journal, step="starting"))
    code, out, _ = invoke("guard", "--basedir", str(basedir), "ora")
    assert code == 0 and "move of 'ora' n2 -> n1 in progress" in out
    # another host than the journal's target may not
    as_host(monkeypatch, "n3")
    code, _, err = invoke("guard", "--basedir", str(basedir), "ora")
    assert code == 3 and "being moved n2 -> n1" in err
    # an old journal entry gives no permission
    as_host(monkeypatch, "n1")
    write_journal("c07", replace(journal, step="starting", started=time.time() - 3600))
    code, _, err = invoke("guard", "--basedir", str(basedir), "ora")
    assert code == 3 and "assigned to n2" in err


def test_guard_refuses_host_not_in_group(basedir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    as_host(monkeypatch, "n2")
    code, _, err = invoke("guard", "--basedir", str(basedir), "web")
    assert code == 3 and "not in the hosts of group 'web'" in err


def test_guard_refuses_under_pacemaker_engine(basedir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    as_host(monkeypatch, "n1")
    main_file = basedir / "s2s.toml"
    main_file.write_text(main_file.read_text().replace('engine = "systemd"',
                                                       'engine = "pacemaker"'))
    code, _, err = invoke("guard", "--basedir", str(basedir), "censhare")
    assert code == 3 and "Pacemaker starts" in err


def test_init_and_service_new(tmp_path: Path) -> None:
    base = tmp_path / "new"
    code, _, err = invoke("init", "--basedir", str(base), "--name", "c09", "--hosts", "a1,a2")
    assert code == 0, err
    assert (base / "init.tpl" / "script").is_file()
    # a second init changes nothing
    before = (base / "s2s.toml").read_text()
    assert invoke("init", "--basedir", str(base), "--name", "zz")[0] == 2
    assert (base / "s2s.toml").read_text() == before
    (base / "groups" / "billing.toml").write_text(
        'description = "billing"\n\n[[services]]\nname = "vip"\ntype = "ip"\n'
        'address = "192.0.2.7/24"\n')
    code, out, err = invoke("service", "new", "--basedir", str(base), "backend",
                            "--group", "billing")
    assert code == 0, err
    script = base / "init.d" / "backend"
    assert script.is_file() and os.access(script, os.X_OK)
    assert "@NAME@" not in script.read_text() and "backend" in script.read_text()
    assert (base / "sysconfig" / "backend").is_file()
    assert 'script = "init.d/backend"' in (base / "groups" / "billing.toml").read_text()
    code, out, err = invoke("check", "--basedir", str(base), "--host", "a1")
    assert code == 0, err
    assert "2 services" in out


def test_service_new_in_main_file_and_bad_input(basedir: Path) -> None:
    code, _, err = invoke("service", "new", "--basedir", str(basedir), "db", "--group", "censhare")
    assert code == 2 and "already has a service 'db'" in err
    code, _, err = invoke("service", "new", "--basedir", str(basedir), "bad-name",
                          "--group", "censhare")
    assert code == 2
    code, _, err = invoke("service", "new", "--basedir", str(basedir), "x", "--group", "nope")
    assert code == 2 and "not defined" in err
    # templates missing in the example base dir: refused, nothing written
    before = (basedir / "s2s.toml").read_text()
    code, _, err = invoke("service", "new", "--basedir", str(basedir), "cache",
                          "--group", "censhare")
    assert code == 2 and "init.tpl" in err
    assert (basedir / "s2s.toml").read_text() == before
    assert not (basedir / "init.d" / "cache").exists()


def test_internal_error_shows_no_traceback(monkeypatch: pytest.MonkeyPatch, basedir: Path) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("s2s_sd.cli.definitions.load_checked", boom)
    code, _, err = invoke("check", "--basedir", str(basedir))
    assert code == 1 and "internal error: RuntimeError: boom" in err
