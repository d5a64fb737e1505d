"""The fire drill's host side, one test per finding type: real files in tmp dirs, real
`bash -n`, shellcheck, blkid and mkfs images; fakes only for what the unit tier cannot
have for real (systemd as PID 1, netlink addresses, ARP answers, a running cluster)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import subprocess
from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.agent.dispatch import dispatch
from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.agent.drill_checks.exec_member import check_exec
from s2s_sd.agent.drill_checks.hooks import check_hooks
from s2s_sd.agent.drill_checks.host import check_generation, check_installed, check_version
from s2s_sd.agent.drill_checks.ip import check_ip, probe_vip
from s2s_sd.agent.drill_checks.kits import check_kits
from s2s_sd.agent.drill_checks.mount import check_mount, resolve_device, udev_escape
from s2s_sd.agent.drill_checks.pacemaker import check_agents, check_node
from s2s_sd.agent.drill_checks.script import check_script
from s2s_sd.agent.drill_checks.systemd_unit import check_systemd
from s2s_sd.drill import Finding, Level
from s2s_sd.engines.net.vip import IPAddress, Vip
from s2s_sd.engines.pacemaker.crm_mon import parse_crm_mon
from s2s_sd.errors import BadInput, OperationFailed
from s2s_sd.hosts import sync
from s2s_sd.load import load_definitions
from s2s_sd.model import (
    Engine,
    ExecService,
    Group,
    IpService,
    KitsService,
    MountService,
    Origin,
    ScriptService,
    SystemdService,
)
from s2s_sd.run import Result
from tests.conftest import REPO

pytestmark = pytest.mark.unit

FIXTURES = REPO / "tests" / "unit" / "fixtures" / "crm_mon"


def facts_for(basedir: Path, tmp_path: Path, host: str = "n1", **changes: object) -> HostFacts:
    """Every system file of the host in TMP_PATH (empty unless a test writes it)."""
    system = tmp_path / "system"
    (system / "bin").mkdir(parents=True, exist_ok=True)
    (system / "proc_filesystems").write_text("nodev\tproc\n\text4\n")
    facts = HostFacts(host=host, defs=load_definitions(basedir, host), basedir=basedir,
                      fstab=system / "fstab", hosts_file=system / "hosts",
                      disk_dir=system / "disk", proc_filesystems=system / "proc_filesystems",
                      modules_dir=system / "modules", search_path=str(system / "bin"),
                      ocf_root=system / "ocf")
    return dataclasses.replace(facts, **changes)  # type: ignore[arg-type]


def group_of(facts: HostFacts, name: str) -> Group:
    group = facts.defs.group(name)
    assert group is not None
    return group


def member(facts: HostFacts, group: str, name: str) -> object:
    return next(s for s in group_of(facts, group).services if s.name == name)


def levels(found: Sequence[Finding], check: str) -> list[Level]:
    return [f.level for f in found if f.check == check]


def only(found: Sequence[Finding], check: str) -> Finding:
    [finding] = [f for f in found if f.check == check]
    return finding


def mount_member(device: str, mountpoint: str, fstype: str = "ext4") -> MountService:
    return MountService(origin=Origin("groups/x.toml", 1), name="data", group="censhare",
                        device=device, mountpoint=mountpoint, fstype=fstype)


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def ext4_image(path: Path, label: str) -> Path:
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", label, str(path), "4M"], check=True)
    return path


# -- mount ---------------------------------------------------------------------------------

def test_mount_device_visible_by_path_or_missing(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    group = group_of(facts, "censhare")
    device = tmp_path / "sdx"
    device.write_bytes(b"")
    found = check_mount(facts, group, mount_member(str(device), str(tmp_path / "m")))
    assert levels(found, "mount.device") == [Level.OK]
    found = check_mount(facts, group, mount_member(str(tmp_path / "gone"), str(tmp_path / "m")))
    assert only(found, "mount.device").level is Level.FAIL
    assert "not visible" in only(found, "mount.device").reason


def test_mount_device_by_label_through_dev_disk(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    image = ext4_image(tmp_path / "disk.img", "cs data")
    links = facts.disk_dir / "by-label"
    links.mkdir(parents=True)
    (links / udev_escape("cs data")).symlink_to(image)
    assert udev_escape("cs data") == "cs\\x20data"
    found = check_mount(facts, group_of(facts, "censhare"),
                        mount_member("LABEL=cs data", str(tmp_path / "m")))
    assert levels(found, "mount.device") == [Level.OK]
    found = check_mount(facts, group_of(facts, "censhare"),
                        mount_member("UUID=0000-no-such", str(tmp_path / "m")))
    assert levels(found, "mount.device") == [Level.FAIL]


def test_mount_names_of_a_device_include_its_label_and_uuid(basedir: Path,
                                                            tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    image = ext4_image(tmp_path / "disk.img", "censhare0")
    path, names = resolve_device(facts, str(image))
    assert path == str(image)
    assert "LABEL=censhare0" in names
    assert any(name.startswith("UUID=") for name in names)


def test_mount_fstab_entry_by_label_of_the_device_fails(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    image = ext4_image(tmp_path / "disk.img", "censhare0")
    facts.fstab.write_text("LABEL=censhare0 /srv ext4 defaults 0 2\n")
    found = check_mount(facts, group_of(facts, "censhare"),
                        mount_member(str(image), str(tmp_path / "m")))
    finding = only(found, "mount.fstab")
    assert finding.level is Level.FAIL and f"{facts.fstab}:1" in finding.reason
    facts.fstab.write_text("LABEL=censhare0 /srv ext4 noauto 0 2\n")
    found = check_mount(facts, group_of(facts, "censhare"),
                        mount_member(str(image), str(tmp_path / "m")))
    assert levels(found, "mount.fstab") == [Level.OK]


def test_mount_mountpoint_exists_can_be_created_or_cannot(basedir: Path,
                                                          tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    group = group_of(facts, "censhare")
    (tmp_path / "here").mkdir()
    (tmp_path / "file").write_text("")
    cases = {"here": Level.OK, "new/deep/00": Level.OK, "file": Level.FAIL,
             "file/00": Level.FAIL}
    for name, level in cases.items():
        found = check_mount(facts, group, mount_member("/dev/null", str(tmp_path / name)))
        assert levels(found, "mount.mountpoint") == [level], name
    assert not (tmp_path / "new").exists()  # the drill creates nothing


def test_mount_mounted_here_without_the_group_fails(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path, mounted=frozenset({"/disk/censhare/00"}))
    group = group_of(facts, "censhare")
    service = member(facts, "censhare", "data")
    assert isinstance(service, MountService)
    assert levels(check_mount(facts, group, service), "mount.mounted") == [Level.FAIL]
    running = dataclasses.replace(facts, running=frozenset({"censhare"}))
    assert levels(check_mount(running, group, service), "mount.mounted") == [Level.OK]


def test_mount_fstype_supported_by_kernel_module_helper_or_not(basedir: Path,
                                                               tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    group = group_of(facts, "censhare")

    def fstype_level(fstype: str) -> Level:
        return only(check_mount(facts, group, mount_member("/dev/null", "/x", fstype)),
                    "mount.fstype").level

    assert fstype_level("ext4") is Level.OK  # in /proc/filesystems
    assert fstype_level("ntfs3") is Level.FAIL
    (facts.modules_dir / os.uname().release / "kernel" / "fs" / "ntfs3").mkdir(parents=True)
    assert fstype_level("ntfs3") is Level.OK
    assert fstype_level("nfs") is Level.FAIL
    executable(Path(facts.search_path) / "mount.nfs", "#!/bin/sh\n")
    assert fstype_level("nfs") is Level.OK


def test_mount_fsck_helper_missing_warns_or_fails_with_pacemaker(basedir: Path,
                                                                 tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    group = group_of(facts, "censhare")
    service = mount_member("/dev/null", "/x")
    assert levels(check_mount(facts, group, service), "mount.fsck") == [Level.WARN]
    cluster = dataclasses.replace(facts, defs=dataclasses.replace(
        facts.defs, hostgroup=dataclasses.replace(facts.defs.hostgroup,
                                                  engine=Engine.PACEMAKER)))
    assert levels(check_mount(cluster, group, service), "mount.fsck") == [Level.FAIL]
    executable(Path(facts.search_path) / "fsck.ext4", "#!/bin/sh\n")
    assert levels(check_mount(facts, group, service), "mount.fsck") == [Level.OK]
    assert levels(check_mount(facts, group, mount_member("/dev/null", "/x", "tmpfs")),
                  "mount.fsck") == []


# -- ip ------------------------------------------------------------------------------------

def _vip(facts: HostFacts, group: str = "censhare") -> IpService:
    service = member(facts, group, "vip")
    assert isinstance(service, IpService)
    return service


def test_ip_alias_on_a_foreign_line_fails(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path, vip_present=lambda _vip: False)
    facts.hosts_file.write_text("127.0.0.1 localhost\n192.168.77.21 censhare_c07\n")
    found, probe = check_ip(facts, group_of(facts, "censhare"), _vip(facts))
    assert levels(found, "ip.alias") == [Level.OK] and probe
    facts.hosts_file.write_text("192.168.77.99 app censhare_c07\n")
    found, _ = check_ip(facts, group_of(facts, "censhare"), _vip(facts))
    finding = only(found, "ip.alias")
    assert finding.level is Level.FAIL and f"{facts.hosts_file}:1" in finding.reason


def test_ip_held_here_without_the_group_fails(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path, vip_present=lambda _vip: True)
    found, probe = check_ip(facts, group_of(facts, "censhare"), _vip(facts))
    assert levels(found, "ip.answered") == [Level.FAIL] and not probe
    running = dataclasses.replace(facts, running=frozenset({"censhare"}))
    found, probe = check_ip(running, group_of(facts, "censhare"), _vip(facts))
    assert levels(found, "ip.answered") == [Level.OK] and not probe


def test_ip_interface_missing_fails(basedir: Path, tmp_path: Path) -> None:
    def no_route(vip: Vip, _among: Collection[IPAddress]) -> str | None:
        raise BadInput(f"no interface has a connected route covering {vip.text}")

    def declared_missing(_vip: Vip) -> bool:
        raise BadInput("no interface 'bond7' here (interfaces: host0, lo)")

    facts = facts_for(basedir, tmp_path, who_answers=no_route)
    found, answer = probe_vip(facts, group_of(facts, "censhare"), _vip(facts))
    assert answer is None and levels(found, "ip.interface") == [Level.FAIL]
    facts = facts_for(basedir, tmp_path, vip_present=declared_missing)
    found, probe = check_ip(facts, group_of(facts, "censhare"), _vip(facts))
    assert "bond7" in only(found, "ip.interface").reason and not probe


def test_ip_probe_reports_who_answers(basedir: Path, tmp_path: Path) -> None:
    def down(_vip: Vip, _among: Collection[IPAddress]) -> str | None:
        raise OperationFailed("host0 is down: bring it up before adding a VIP on it")

    facts = facts_for(basedir, tmp_path, who_answers=lambda _vip, _among: "52:54:00:00:00:03")
    found, answer = probe_vip(facts, group_of(facts, "censhare"), _vip(facts))
    assert levels(found, "ip.interface") == [Level.OK]
    assert answer is not None and answer.mac == "52:54:00:00:00:03"
    assert answer.address == "192.168.77.21/24"
    found, answer = probe_vip(dataclasses.replace(facts, who_answers=down),
                              group_of(facts, "censhare"), _vip(facts))
    assert answer is None and "is down" in only(found, "ip.interface").reason


# -- script, hooks -------------------------------------------------------------------------

def test_script_twin_of_this_host_must_pass_bash_n(basedir: Path, tmp_path: Path) -> None:
    executable(basedir / "init.d" / "ora_listener.n2", "#!/bin/bash\nif then fi\n")
    seen = {}
    for host in ("n2", "n3"):
        facts = facts_for(basedir, tmp_path, host=host)
        service = member(facts, "ora", "listener")
        assert isinstance(service, ScriptService)
        seen[host] = only(check_script(facts, group_of(facts, "ora"), service), "script.file")
    assert seen["n2"].level is Level.FAIL
    assert seen["n2"].reason.startswith("init.d/ora_listener.n2: bash -n: ")
    assert seen["n3"].level is Level.OK and "init.d/ora_listener:" in seen["n3"].reason


def test_script_not_executable_and_config_missing(basedir: Path, tmp_path: Path) -> None:
    (basedir / "init.d" / "censhare_db").chmod(0o644)
    (basedir / "sysconfig" / "censhare_db").unlink()
    facts = facts_for(basedir, tmp_path)
    service = member(facts, "censhare", "db")
    assert isinstance(service, ScriptService)
    found = check_script(facts, group_of(facts, "censhare"), service)
    assert "not executable" in only(found, "script.file").reason
    assert "no such file" in only(found, "script.config").reason


def test_script_shellcheck_findings_are_warnings(basedir: Path, tmp_path: Path) -> None:
    executable(basedir / "init.d" / "censhare_db", "#!/bin/bash\ncd /tmp\necho ok\n")
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is installed by scripts/setup test"
    facts = facts_for(basedir, tmp_path)
    (Path(facts.search_path) / "shellcheck").symlink_to(shellcheck)
    service = member(facts, "censhare", "db")
    assert isinstance(service, ScriptService)
    found = check_script(facts, group_of(facts, "censhare"), service)
    assert levels(found, "script.file.shellcheck") == [Level.WARN]
    assert "SC2164" in only(found, "script.file.shellcheck").reason


def test_hooks_must_be_executable_here(basedir: Path, tmp_path: Path) -> None:
    (basedir / "hooks" / "censhare_pre").chmod(0o644)
    facts = facts_for(basedir, tmp_path)
    found = check_hooks(facts, group_of(facts, "censhare"))
    assert levels(found, "hooks.pre_move") == [Level.FAIL]
    assert levels(found, "hooks.post_move") == [Level.OK]


# -- exec, systemd ---------------------------------------------------------------------------

def _exec(command: str, user: str | None = None) -> ExecService:
    return ExecService(origin=Origin("s2s.toml", 1), name="app", group="censhare",
                       command=(command, "--flag"), user=user)


def test_exec_program_and_user(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    group = group_of(facts, "censhare")
    assert levels(check_exec(facts, group, _exec("/usr/bin/python3", "root")),
                  "exec.program") == [Level.OK]
    assert levels(check_exec(facts, group, _exec(str(tmp_path / "gone"))),
                  "exec.program") == [Level.FAIL]
    plain = tmp_path / "plain"
    plain.write_text("")
    assert levels(check_exec(facts, group, _exec(str(plain))), "exec.program") == [Level.FAIL]
    assert levels(check_exec(facts, group, _exec("not-on-the-path")),
                  "exec.program") == [Level.FAIL]
    found = check_exec(facts, group, _exec("/usr/bin/python3", "no-such-user-s2s"))
    assert "no-such-user-s2s" in only(found, "exec.user").reason
    assert only(found, "exec.user").level is Level.FAIL


class FakeSystemctl:
    """systemctl of a host with UNITS installed, each with its unit file state (the bus
    of a real systemd is not there in the unit tier)."""

    def __init__(self, units: dict[str, str]) -> None:
        self.units = units
        self.calls: list[list[str]] = []

    def __call__(self, args: Sequence[str]) -> Result:
        self.calls.append(list(args))
        state = self.units.get(args[-1])
        load = "not-found" if state is None else "masked" if state == "masked" else "loaded"
        text = f"LoadState={load}\nUnitFileState={state or ''}\n"
        return Result(("systemctl", *args), 0, text, "")


def test_systemd_unit_installed_and_not_enabled(basedir: Path, tmp_path: Path) -> None:
    service = SystemdService(origin=Origin("s2s.toml", 1), name="db", group="ora",
                             unit="ora-db.service")
    for units, unit_level, enabled_level in (
            ({}, Level.FAIL, None),
            ({"ora-db.service": "masked"}, Level.FAIL, None),
            ({"ora-db.service": "disabled"}, Level.OK, Level.OK),
            ({"ora-db.service": "static"}, Level.OK, Level.OK),
            ({"ora-db.service": "enabled"}, Level.OK, Level.FAIL)):
        systemctl = FakeSystemctl(units)
        facts = facts_for(basedir, tmp_path, systemctl=systemctl)
        found = check_systemd(facts, group_of(facts, "ora"), service)
        assert levels(found, "systemd.unit") == [unit_level], units
        assert levels(found, "systemd.enabled") == ([enabled_level] if enabled_level else [])
        # questions only: never start, stop, enable
        assert {call[0] for call in systemctl.calls} == {"show"}


def test_systemd_unit_when_systemd_cannot_answer(basedir: Path, tmp_path: Path) -> None:
    def no_bus(args: Sequence[str]) -> Result:
        return Result(("systemctl", *args), 1, "", "Failed to connect to bus: Host is down")

    facts = facts_for(basedir, tmp_path, systemctl=no_bus)
    service = member(facts, "ora", "db")
    assert isinstance(service, SystemdService)
    [finding] = check_systemd(facts, group_of(facts, "ora"), service)
    assert finding.level is Level.FAIL and "Failed to connect to bus" in finding.reason


# -- kits --------------------------------------------------------------------------------------

def test_kits_on_mounted_disks_must_pass_bash_n(basedir: Path, tmp_path: Path) -> None:
    disk = tmp_path / "disk" / "00"
    executable(disk / "app" / "sbin" / "start", "#!/bin/bash\nif then\n")
    executable(disk / "app" / "sbin" / "stop", "#!/bin/bash\ntrue\n")
    executable(disk / "app" / "sbin" / "state", "#!/bin/bash\ntrue\n")
    origin = Origin("s2s.toml", 1)
    data = MountService(origin=origin, name="data", group="k", device="/dev/null",
                        mountpoint=str(disk), fstype="ext4")
    kits = KitsService(origin=origin, name="kits", group="k")
    group = Group(origin=origin, name="k", hosts=("n1",), services=(data, kits))
    facts = facts_for(basedir, tmp_path)
    assert levels(check_kits(facts, group, kits), "kits.syntax") == [Level.OK]  # not mounted
    mounted = dataclasses.replace(facts, mounted=frozenset({str(disk)}))
    finding = only(check_kits(mounted, group, kits), "kits.syntax")
    assert finding.level is Level.FAIL and "sbin/start: bash -n" in finding.reason


# -- pacemaker -------------------------------------------------------------------------------

def test_pacemaker_node_offline_or_unknown_fails(basedir: Path, tmp_path: Path) -> None:
    status = parse_crm_mon((FIXTURES / "offline.xml").read_text())
    for host, level in (("n1", Level.OK), ("n2", Level.FAIL)):
        facts = facts_for(basedir, tmp_path, host=host)
        [finding] = check_node(facts, ["ora"], status, None)
        assert finding.level is level, finding
    facts = facts_for(basedir, tmp_path, host="n1")
    [finding] = check_node(facts, ["ora"], None, "cannot read the cluster status")
    assert finding.level is Level.FAIL and "cannot read" in finding.reason
    status.nodes.pop("n1")
    [finding] = check_node(facts, ["ora"], status, None)
    assert "not a node of the cluster" in finding.reason


def test_pacemaker_agents_the_cib_uses_must_exist(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path, systemctl=FakeSystemctl({"ora-db.service": "disabled"}))
    for provider, agent in (("heartbeat", "Filesystem"), ("heartbeat", "IPaddr2"),
                            ("s2s", "script"), ("s2s", "unit")):
        executable(facts.ocf_root / provider / agent, "#!/bin/sh\n")
    found = check_agents(facts, group_of(facts, "ora"))
    failed = [f.reason for f in found if f.level is Level.FAIL]
    assert failed == ["ocf:s2s:hook is not installed here"]
    assert len(found) == 5  # Filesystem (twice in the group: once), IPaddr2, script, unit, hook


# -- the host as a whole -----------------------------------------------------------------------

def test_generation_differs_or_changed_by_hand(basedir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))
    facts = facts_for(basedir, tmp_path)
    mine = sync.record_local("c07", 4, basedir)
    [same] = check_generation(facts, ["web"], 4, mine.digest)
    assert same.level is Level.OK
    [older] = check_generation(facts, ["web"], 5, "f" * 64)
    assert older.level is Level.FAIL and "has generation 4, the admin host 5" in older.reason
    [never] = check_generation(facts, ["web"], 0, "")
    assert never.level is Level.FAIL and "never synced" in never.reason
    (basedir / "groups" / "web.toml").write_text("# changed\n", encoding="utf-8")
    [edited] = check_generation(facts, ["web"], 4, mine.digest)
    assert edited.level is Level.FAIL and "changed by hand" in edited.reason


def test_version_and_installed_files(basedir: Path, tmp_path: Path) -> None:
    facts = facts_for(basedir, tmp_path)
    [finding] = check_version(facts, ["web"], "0.2.0", "0.1.0")
    assert finding.level is Level.FAIL and "0.1.0 here, 0.2.0 on the admin host" in finding.reason
    agent = tmp_path / "ocf" / "script"
    agent.parent.mkdir()
    agent.write_text("v1\n")
    digest = hashlib.sha256(b"v1\n").hexdigest()
    unit = str(tmp_path / "s2s-web.target")
    assert levels(check_installed(facts, ["web"], {str(agent): digest}),
                  "host.installed") == [Level.OK]
    [finding] = check_installed(facts, ["web"], {str(agent): "0" * 64, unit: digest})
    assert finding.level is Level.FAIL
    assert f"missing: {unit}" in finding.reason and f"different: {agent}" in finding.reason


# -- the agent's operation -----------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    ({"groups": ["../x"]}, "'groups\\[0\\]' is not an identifier: '../x'"),
    ({"groups": [7]}, "'groups\\[0\\]' must be a string, not 7"),
    ({"groups": "web"}, "argument 'groups' must be a list"),
    ({"groups": [], "generation": "1"}, "argument 'generation' must be an integer"),
    ({"groups": [], "generation": 1, "digest": "", "version": "0.1.0",
      "expected": {"relative/path": "0" * 64}}, "must be an absolute path"),
    ({"groups": [], "generation": 1, "digest": "", "version": "0.1.0",
      "expected": {"/etc/x": "not-a-digest"}}, "is not a sha256"),
    ({"probe": [["censhare", "db"]]}, "censhare.db is not an ip member"),
    ({"probe": ["censhare"]}, "'probe\\[0\\]' must be a list"),
])
def test_drill_requests_are_checked_like_bad_input(basedir: Path, args: dict[str, object],
                                                   message: str) -> None:
    context = AgentContext(basedir=basedir, host="n2")
    with pytest.raises(BadInput, match=message):
        dispatch(context, "drill", args)


def test_groups_this_host_does_not_know_are_findings(basedir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # a host on another generation may not know a group (yet): say so, do not refuse
    monkeypatch.setenv("S2S_SD_STATEDIR", str(tmp_path / "state"))
    context = AgentContext(basedir=basedir, host="n2")
    answer = dispatch(context, "drill", {"groups": ["newgroup", "web"], "generation": 1,
                                         "digest": "0" * 64, "version": "0.1.0",
                                         "expected": {}})
    found = [Finding.from_dict(f) for f in answer["findings"]]
    unknown = [f for f in found if f.check == "host.definitions"]
    assert [(f.group, f.level) for f in unknown] == [("newgroup", Level.FAIL),
                                                     ("web", Level.FAIL)]
    assert "run `s2s-sd sync`" in unknown[0].reason
    assert {f.group for f in found} == {"newgroup", "web"}
    assert answer["probe"] == [] and answer["host"] == "n2"


def test_drill_changes_no_file_of_the_base_dir(basedir: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mode for p in basedir.rglob("*")}
    facts = facts_for(basedir, tmp_path)
    for group in facts.defs.groups:
        for service in group.services:
            if isinstance(service, ScriptService):
                check_script(facts, group, service)
        check_hooks(facts, group)
    assert {p: p.stat().st_mode for p in basedir.rglob("*")} == before
