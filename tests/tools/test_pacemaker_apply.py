"""Tools tier: `s2s-sd apply pacemaker --cib-file` against a CIB file made with the real
tools (cibadmin, pcs -f) holding the administrator's own resources and constraints.

Proves: foreign configuration comes out unchanged, the s2s part matches the definitions,
a second apply pushes nothing, an apply that would make the CIB invalid is refused with
the file untouched, secrets never show, operators' switches survive.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from s2s_sd.cli import main
from s2s_sd.engines.pacemaker.cib import canonical, managed_view
from s2s_sd.engines.pacemaker.cib_tools import parse_cib
from s2s_sd.load import load_definitions
from s2s_sd.render.pacemaker import PacemakerSettings, build_cib
from s2s_sd.run import run

pytestmark = pytest.mark.tools

FOREIGN_IDS = ("mydummy", "myvip", "location-mydummy-n2-50", "order-mydummy-myvip-mandatory",
               "cib-bootstrap-options-no-quorum-policy")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run scripts/setup test"
    return path


@pytest.fixture
def cib_file(tmp_path: Path) -> Path:
    """An administrator's CIB: three nodes, two resources, two constraints, a property."""
    path = tmp_path / "cib.xml"
    path.write_text(run([tool("cibadmin"), "--empty"]).stdout)
    env = {"CIB_file": str(path)}
    for number, host in enumerate(("n1", "n2", "n3"), start=1):
        run([tool("cibadmin"), "--create", "-o", "nodes", "--xml-text",
             f'<node id="{number}" uname="{host}"/>'], extra_env=env)
    pcs = [tool("pcs"), "-f", str(path)]
    run([*pcs, "resource", "create", "mydummy", "ocf:pacemaker:Dummy"])
    run([*pcs, "resource", "create", "myvip", "ocf:heartbeat:IPaddr2", "ip=192.168.77.99",
         "cidr_netmask=24"])
    run([*pcs, "constraint", "location", "mydummy", "prefers", "n2=50"])
    run([*pcs, "constraint", "order", "mydummy", "then", "myvip"])
    run([*pcs, "property", "set", "no-quorum-policy=stop"])
    return path


@pytest.fixture
def pm_basedir(basedir: Path) -> Path:
    """examples/ switched to the pacemaker engine."""
    main_file = basedir / "s2s.toml"
    main_file.write_text(main_file.read_text().replace('engine = "systemd"',
                                                       'engine = "pacemaker"'))
    return basedir


def apply(basedir: Path, cib: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["apply", "pacemaker", "--basedir", str(basedir),
                                     "--host", "n1", "--cib-file", str(cib), *args])


def foreign(path: Path) -> dict[str, bytes]:
    root = parse_cib(path.read_text(), str(path))
    found = {e.get("id", ""): canonical(e) for e in root.iter() if e.get("id") in FOREIGN_IDS}
    assert set(found) == set(FOREIGN_IDS)
    return found


def verify(path: Path) -> None:
    """No errors; with fencing on, nodes without status are "unclean": warnings only."""
    result = run([tool("crm_verify"), "-V", "-x", str(path)], check=False)
    output = result.stderr + result.stdout
    assert result.ok or ("Warnings found" in output and "error" not in output.lower()), output


def test_apply_merges_keeps_foreign_and_is_idempotent(pm_basedir: Path,
                                                      cib_file: Path) -> None:
    before = foreign(cib_file)
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0, result.output
    assert "pushed" in result.output and "add resource censhare" in result.output
    assert "stonith-enabled=false" in result.output  # reported, as every time
    assert foreign(cib_file) == before
    defs = load_definitions(pm_basedir, "n1")
    live = parse_cib(cib_file.read_text(), "cib")
    settings = PacemakerSettings(basedir=str(pm_basedir.absolute()))
    assert managed_view(live, defs) == managed_view(build_cib(defs, settings), defs)
    verify(cib_file)

    content, mtime = cib_file.read_bytes(), cib_file.stat().st_mtime_ns
    again = apply(pm_basedir, cib_file)
    assert again.exit_code == 0, again.output
    assert "nothing to push" in again.output
    assert cib_file.read_bytes() == content and cib_file.stat().st_mtime_ns == mtime


def test_apply_updates_and_removes_only_its_own(pm_basedir: Path, cib_file: Path) -> None:
    assert apply(pm_basedir, cib_file).exit_code == 0
    before = foreign(cib_file)
    (pm_basedir / "groups" / "web.toml").unlink()
    ora = pm_basedir / "groups" / "ora.toml"
    ora.write_text(ora.read_text().replace('hosts       = ["n2", "n3", "n1"]',
                                           'hosts       = ["n3", "n2"]'))
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0, result.output
    assert "remove resource web" in result.output
    assert "remove constraint s2s-sd-location-ora-n1" in result.output
    assert "update constraint s2s-sd-location-ora-n2" in result.output  # 30 -> 10
    root = parse_cib(cib_file.read_text(), "cib")
    assert root.find(".//group[@id='web']") is None
    assert foreign(cib_file) == before
    verify(cib_file)


def test_dry_run_shows_and_changes_nothing(pm_basedir: Path, cib_file: Path) -> None:
    content = cib_file.read_bytes()
    result = apply(pm_basedir, cib_file, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "+<group id=\"censhare\"" in result.output
    assert "dry run" in result.output
    assert cib_file.read_bytes() == content


def test_invalid_result_is_refused_and_file_untouched(pm_basedir: Path,
                                                      cib_file: Path) -> None:
    assert apply(pm_basedir, cib_file).exit_code == 0
    # the administrator ties their own resource to s2s-sd's group web ...
    run([tool("pcs"), "-f", str(cib_file), "constraint", "colocation", "add", "mydummy",
         "with", "web"])
    content = cib_file.read_bytes()
    # ... and the definitions drop web: the merged CIB would reference a missing resource
    (pm_basedir / "groups" / "web.toml").unlink()
    for args in ((), ("--dry-run",)):
        result = apply(pm_basedir, cib_file, *args)
        assert result.exit_code == 3, result.output
        assert "invalid" in result.output and "nothing was changed" in result.output
        assert cib_file.read_bytes() == content


def test_foreign_resource_with_an_s2s_id_is_refused(pm_basedir: Path, cib_file: Path) -> None:
    run([tool("pcs"), "-f", str(cib_file), "resource", "create", "web",
         "ocf:pacemaker:Dummy"])
    content = cib_file.read_bytes()
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 3, result.output
    assert "web" in result.output and "did not create" in result.output
    assert cib_file.read_bytes() == content


def test_operator_switches_survive_apply(pm_basedir: Path, cib_file: Path) -> None:
    assert apply(pm_basedir, cib_file).exit_code == 0
    run([tool("pcs"), "-f", str(cib_file), "resource", "disable", "web"])
    run([tool("crm_resource"), "--resource", "censhare_db", "--meta", "--set-parameter",
         "is-managed", "--parameter-value", "false"], extra_env={"CIB_file": str(cib_file)})
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0 and "nothing to push" in result.output, result.output
    # and a real change keeps them too
    ora = pm_basedir / "groups" / "web.toml"
    ora.write_text(ora.read_text().replace('hosts       = ["n3", "n1"]',
                                           'hosts       = ["n1", "n3"]'))
    assert apply(pm_basedir, cib_file).exit_code == 0
    root = parse_cib(cib_file.read_text(), "cib")
    assert root.find(".//group[@id='web']/meta_attributes/nvpair[@name='target-role']"
                     ).get("value") == "Stopped"  # type: ignore[union-attr]
    assert root.find(".//primitive[@id='censhare_db']/meta_attributes/"
                     "nvpair[@name='is-managed']") is not None


FENCING = """[fencing]
enabled = true
  [[fencing.devices]]
  name   = "ipmi_n1"
  agent  = "fence_ipmilan"
  hosts  = ["n1"]
  params = { ip = "10.0.0.101", username = "admin" }
  secret_params = { password = "sysconfig/ipmi_n1.secret" }
  [[fencing.devices]]
  name   = "ipmi_n2"
  agent  = "fence_ipmilan"
  hosts  = ["n2", "n3"]
  params = { ip = "10.0.0.102", username = "admin" }
  secret_params = { password = "sysconfig/ipmi_n2.secret" }
"""
SECRETS = {"ipmi_n1": "Pw-one-7Xq", "ipmi_n2": "Pw-two-9Zr"}


def test_fencing_secrets_applied_never_shown(pm_basedir: Path, cib_file: Path) -> None:
    main_file = pm_basedir / "s2s.toml"
    main_file.write_text(main_file.read_text().replace("[fencing]\nenabled = false\n", FENCING))
    for device, secret in SECRETS.items():
        path = pm_basedir / "sysconfig" / f"{device}.secret"
        path.write_text(secret + "\n")
        path.chmod(0o600)
    dry = apply(pm_basedir, cib_file, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "ipmi_n1" in dry.output and "********" in dry.output
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0, result.output
    for output in (dry.output, result.output):
        assert not any(secret in output for secret in SECRETS.values())
    root = parse_cib(cib_file.read_text(), "cib")
    password = root.find(".//primitive[@id='ipmi_n1']/instance_attributes/"
                         "nvpair[@name='password']")
    assert password is not None and password.get("value") == SECRETS["ipmi_n1"]
    stonith = root.find(".//nvpair[@name='stonith-enabled']")
    assert stonith is not None and stonith.get("value") == "true"
    bans = {(c.get("rsc"), c.get("node")) for c in root.iterfind(
        "configuration/constraints/rsc_location[@score='-INFINITY']")}
    assert bans == {("ipmi_n1", "n1"), ("ipmi_n2", "n2"), ("ipmi_n2", "n3")}
    verify(cib_file)
    # a changed secret is an update, shown masked
    (pm_basedir / "sysconfig" / "ipmi_n2.secret").write_text("Pw-new-3Kd\n")
    changed = apply(pm_basedir, cib_file)
    assert changed.exit_code == 0 and "update resource ipmi_n2" in changed.output
    assert "Pw-" not in changed.output
    assert apply(pm_basedir, cib_file).output.count("nothing to push") == 1


def _with_fencing(basedir: Path, fencing: str, secrets: dict[str, str]) -> None:
    main_file = basedir / "s2s.toml"
    text = main_file.read_text()
    start = text.index("[fencing]")
    end = text.index("[groups.", start)
    main_file.write_text(text[:start] + fencing + "\n" + text[end:])
    for device, secret in secrets.items():
        path = basedir / "sysconfig" / f"{device}.secret"
        path.write_text(secret + "\n")
        path.chmod(0o600)


# the same devices, with secret parameters no list of secret-looking names knows
ODD_NAMES = FENCING.replace("ipmi_n", "aws_n").replace(
    'password = "sysconfig/aws_n1', 'access_key = "sysconfig/aws_n1').replace(
    'password = "sysconfig/aws_n2', 'identity = "sysconfig/aws_n2')
ODD_SECRETS = {"aws_n1": "Key-one-4Tz", "aws_n2": "Key-two-8Wq"}
RENAMED = ODD_NAMES.replace('"aws_n1"', '"aws_new"').replace(
    "sysconfig/aws_n1.secret", "sysconfig/aws_new.secret")
RENAMED = RENAMED[:RENAMED.index('  [[fencing.devices]]\n  name   = "aws_n2"')]


def test_old_secrets_of_renamed_and_removed_devices_never_shown(
        pm_basedir: Path, cib_file: Path) -> None:
    """issue 11 item 6: after a rename or removal the live CIB's old device was shown with
    its secret; every parameter of every s2s-sd stonith resource is masked, whatever its
    name (access_key, identity: not in any list of secret-looking names)."""
    _with_fencing(pm_basedir, ODD_NAMES, ODD_SECRETS)
    first = apply(pm_basedir, cib_file)
    assert first.exit_code == 0, first.output
    assert "access_key" in cib_file.read_text()
    _with_fencing(pm_basedir, RENAMED, {"aws_new": "Key-new-2Pp"})
    for args in (("--dry-run",), ()):
        result = apply(pm_basedir, cib_file, *args)
        assert result.exit_code == 0, result.output
        assert "aws_n1" in result.output and "aws_n2" in result.output  # removed: shown
        assert "********" in result.output
        for secret in (*ODD_SECRETS.values(), "Key-new-2Pp"):
            assert secret not in result.output, result.output
    assert "Key-new-2Pp" in cib_file.read_text()
    assert "Key-one-4Tz" not in cib_file.read_text()


@pytest.mark.parametrize(("before", "after"), [(0o644, 0o600), (0o640, 0o600),
                                               (0o600, 0o600), (0o400, 0o400)])
def test_cib_file_holding_secrets_is_owner_only(pm_basedir: Path, cib_file: Path,
                                                before: int, after: int) -> None:
    """issue 11 item 7: a CIB file that holds fence secrets ends 0600 (never wider than it
    was); the copy being patched is never readable by others."""
    _with_fencing(pm_basedir, FENCING, SECRETS)
    cib_file.chmod(before)
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0, result.output
    assert cib_file.stat().st_mode & 0o7777 == after
    assert SECRETS["ipmi_n1"] in cib_file.read_text()
    assert [p.name for p in cib_file.parent.iterdir() if p.name.startswith(".")] == []


def test_cib_file_without_secrets_keeps_its_mode(pm_basedir: Path, cib_file: Path) -> None:
    cib_file.chmod(0o644)
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0, result.output
    assert cib_file.stat().st_mode & 0o7777 == 0o644


def test_systemd_engine_is_refused(basedir: Path, cib_file: Path) -> None:
    content = cib_file.read_bytes()
    result = apply(basedir, cib_file)
    assert result.exit_code == 3 and "systemd engine" in result.output
    assert cib_file.read_bytes() == content


def test_missing_cib_file_is_bad_input(pm_basedir: Path, tmp_path: Path) -> None:
    result = apply(pm_basedir, tmp_path / "nope.xml")
    assert result.exit_code == 2, result.output


def test_cib_file_env_is_honoured(pm_basedir: Path, cib_file: Path) -> None:
    result = CliRunner().invoke(main, ["apply", "pacemaker", "--basedir", str(pm_basedir),
                                       "--host", "n1"], env={"CIB_file": str(cib_file)})
    assert result.exit_code == 0, result.output
    assert etree.parse(str(cib_file)).getroot().find(".//group[@id='ora']") is not None


def test_unknown_nodes_are_reported(pm_basedir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.xml"
    bare.write_text(run([tool("cibadmin"), "--empty"]).stdout)
    result = apply(pm_basedir, bare)
    assert result.exit_code == 0, result.output
    assert "no node named n1, n2, n3" in result.output


def test_a_cib_changed_meanwhile_is_merged_again(pm_basedir: Path, cib_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The patch is versioned: computed against a CIB that changed before the push, it is
    rejected by cibadmin, and apply starts over from the current CIB."""
    from s2s_sd.engines.pacemaker import cib as engine
    from s2s_sd.engines.pacemaker import cib_tools

    stale = parse_cib(cib_file.read_text(), "stale")
    # someone else changes the CIB after s2s-sd read it
    run([tool("pcs"), "-f", str(cib_file), "property", "set", "maintenance-mode=false"])
    real_query = cib_tools.query
    calls: list[int] = []

    def query(path: Path | None) -> etree._Element:
        calls.append(1)
        return stale if len(calls) == 1 else real_query(path)

    monkeypatch.setattr(engine, "query", query)
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0, result.output
    # stale read, re-read before the push shows another epoch: start over (read, re-read)
    assert len(calls) == 4
    root = parse_cib(cib_file.read_text(), "cib")
    assert root.find(".//nvpair[@name='maintenance-mode']") is not None  # theirs survives
    assert root.find(".//group[@id='censhare']") is not None  # ours is there


def test_status_updates_meanwhile_do_not_block_the_push(pm_basedir: Path, cib_file: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A live CIB's num_updates moves with every status update; only a configuration
    change (epoch) since the read makes apply start over."""
    from s2s_sd.engines.pacemaker import cib as engine
    from s2s_sd.engines.pacemaker import cib_tools

    real_query = cib_tools.query
    calls: list[int] = []

    def query(path: Path | None) -> etree._Element:
        calls.append(1)
        if len(calls) == 2:  # a status update lands between the read and the push
            text = cib_file.read_text()
            root = parse_cib(text, "cib")
            cib_file.write_text(text.replace(f'num_updates="{root.get("num_updates")}"',
                                             'num_updates="41"', 1))
        return real_query(path)

    monkeypatch.setattr(engine, "query", query)
    result = apply(pm_basedir, cib_file)
    assert result.exit_code == 0, result.output
    assert len(calls) == 2  # read, re-read before the push: no retry needed
    assert parse_cib(cib_file.read_text(), "cib").find(".//group[@id='web']") is not None


def test_the_notify_alert_comes_and_goes_with_the_key(pm_basedir: Path,
                                                       cib_file: Path) -> None:
    run([tool("pcs"), "-f", str(cib_file), "alert", "create", "id=pager",
         "path=/usr/local/bin/pager"])
    hook = pm_basedir / "hooks" / "notify"
    hook.write_text("#!/bin/sh\nexit 0\n")
    hook.chmod(0o755)
    main_file = pm_basedir / "s2s.toml"
    plain = main_file.read_text()
    main_file.write_text(plain.replace('engine = "pacemaker"',
                                       'engine = "pacemaker"\nnotify = "hooks/notify"'))

    def alerts() -> list[str | None]:
        root = parse_cib(cib_file.read_text(), "cib")
        return [a.get("id") for a in root.iterfind("configuration/alerts/alert")]

    added = apply(pm_basedir, cib_file)
    assert added.exit_code == 0, added.output
    assert "add alert s2s-sd-c07-notify" in added.output
    assert alerts() == ["pager", "s2s-sd-c07-notify"]
    verify(cib_file)
    assert "nothing to push" in apply(pm_basedir, cib_file).output

    main_file.write_text(plain)
    removed = apply(pm_basedir, cib_file)
    assert removed.exit_code == 0, removed.output
    assert "remove alert s2s-sd-c07-notify" in removed.output
    assert alerts() == ["pager"]  # the administrator's own alert stays
    verify(cib_file)
