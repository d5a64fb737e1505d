"""A table of bad definitions: each must give the exact FILE:LINE: KEY, exit 2, and
change nothing (the output directory of `generate` stays exactly as it was)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Case:
    id: str
    file: str
    old: str | None  # text replaced in `file`; None: `new` is the whole file
    new: str
    where: str  # expected "FILE:LINE: KEY" prefix of one output line
    message: str  # expected fragment of that line


CASES = [
    Case("bad-hostgroup-name", "s2s.toml", 'name   = "c07"', 'name   = "c-07"',
         "s2s.toml:5: hostgroup.name", "not an identifier"),
    Case("unknown-engine", "s2s.toml", 'engine = "systemd"', 'engine = "systemdd"',
         "s2s.toml:6: hostgroup.engine", "must be 'systemd' or 'pacemaker'"),
    Case("hosts-not-list", "s2s.toml", 'hosts  = ["n1", "n2", "n3"]', 'hosts  = "n1"',
         "s2s.toml:7: hostgroup.hosts", "must be a list of strings"),
    Case("bad-hostname", "s2s.toml", 'hosts  = ["n1", "n2", "n3"]',
         'hosts  = ["n1", "n2", "n3", "bad_host!"]',
         "s2s.toml:7: hostgroup.hosts", "not a valid host name"),
    Case("duplicate-host", "s2s.toml", 'hosts  = ["n1", "n2", "n3"]',
         'hosts  = ["n1", "n2", "n3", "n2"]', "s2s.toml:7: hostgroup.hosts", "listed twice"),
    Case("unknown-hostgroup-key", "s2s.toml", 'engine = "systemd"',
         'engine = "systemd"\nengnie = "x"', "s2s.toml:7: hostgroup.engnie", "unknown key"),
    Case("host-settings-for-unknown-host", "s2s.toml", "[hosts.n3]", "[hosts.n4]",
         "s2s.toml:15: hosts.n4", "not in hostgroup.hosts"),
    Case("bad-host-address", "s2s.toml", 'address = "192.168.77.12"', 'address = "192.168.77.x!"',
         "s2s.toml:13: hosts.n2.address", "neither an IP address nor a host name"),
    Case("group-host-not-in-hostgroup", "s2s.toml", 'hosts       = ["n1", "n2", "n3"]',
         'hosts       = ["n1", "n9"]', "s2s.toml:27: groups.censhare.hosts",
         "host 'n9' is not in hostgroup.hosts"),
    Case("group-unknown-key", "s2s.toml", 'pre_move    = "hooks/censhare_pre"',
         'pre_move    = "hooks/censhare_pre"\npremove = "x"',
         "s2s.toml:29: groups.censhare.premove",
         "unknown key"),
    Case("service-unknown-key", "s2s.toml", 'options    = "noatime"',
         'options    = "noatime"\n  fs_type = "xfs"',
         "s2s.toml:38: groups.censhare.services.data.fs_type", "unknown key"),
    Case("service-missing-type", "s2s.toml", '  name    = "vip"\n  type    = "ip"\n',
         '  name    = "vip"\n', "s2s.toml:40: groups.censhare.services.vip",
         "missing required key 'type'"),
    Case("unknown-service-type", "groups/ora.toml", 'type = "systemd"', 'type = "sytemd"',
         "groups/ora.toml:37: groups.ora.services.db.type", "unknown service type 'sytemd'"),
    Case("mount-missing-device", "groups/ora.toml", 'device     = "/dev/mapper/ora_redo"\n', "",
         "groups/ora.toml:15: groups.ora.services.redo", "missing required key 'device'"),
    Case("duplicate-service", "groups/ora.toml", 'name       = "redo"', 'name       = "data"',
         "groups/ora.toml:16: groups.ora.services.data.name", "defined twice"),
    Case("bad-service-name", "groups/ora.toml", 'name    = "vip"', 'name    = "v-ip"',
         "groups/ora.toml:24: groups.ora.services.v-ip.name", "not an identifier"),
    # issue 17 item 13: "60" and "1min" are durations now; a float is neither
    Case("timeout-not-a-duration", "groups/ora.toml", "start_timeout = 60",
         "start_timeout = 60.5", "groups/ora.toml:39: groups.ora.services.db.start_timeout",
         "must be seconds (an integer or a duration"),
    Case("timeout-negative", "groups/ora.toml", "stop_timeout  = 60", "stop_timeout  = -5",
         "groups/ora.toml:40: groups.ora.services.db.stop_timeout", "must be a positive"),
    Case("same-vip-two-groups", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "192.168.77.22/24"', "groups/web.toml:8: groups.web.services.vip.address",
         "VIP 192.168.77.22 is also used by groups.ora.services.vip"),
    Case("vip-without-prefix", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "192.168.77.23"', "groups/web.toml:8: groups.web.services.vip.address",
         "needs a prefix length"),
    Case("vip-bad-address", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "192.168.77.300/24"', "groups/web.toml:8: groups.web.services.vip.address",
         "not an IPv4/IPv6 address"),
    Case("vip-bad-prefix", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "192.168.77.23/33"', "groups/web.toml:8: groups.web.services.vip.address",
         "not an IPv4/IPv6 address"),
    Case("vip-network-address", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "192.168.77.0/24"', "groups/web.toml:8: groups.web.services.vip.address",
         "network or broadcast"),
    Case("vip-netmask-instead-of-prefix", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "192.168.77.23/255.255.255.0"',
         "groups/web.toml:8: groups.web.services.vip.address", "prefix length as a number"),
    Case("vip-link-local", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "169.254.7.7/16"', "groups/web.toml:8: groups.web.services.vip.address",
         "link-local"),
    Case("ipv6-bad", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "fd00::zz/64"', "groups/web.toml:8: groups.web.services.vip.address",
         "not an IPv4/IPv6 address"),
    Case("interface-too-long", "groups/web.toml", 'alias   = "www"',
         'alias   = "www"\ninterface = "averyveryverylongif0"',
         "groups/web.toml:10: groups.web.services.vip.interface", "at most 15 characters"),
    # the kernel refuses "." and ".." as names, and `vip up` refused them already
    Case("interface-dot-dot", "groups/web.toml", 'alias   = "www"',
         'alias   = "www"\ninterface = ".."',
         "groups/web.toml:10: groups.web.services.vip.interface", "not a valid interface name"),
    Case("same-alias", "groups/web.toml", 'alias   = "www"', 'alias   = "oracle"',
         "groups/web.toml:9: groups.web.services.vip.alias", "also used by"),
    Case("same-mountpoint", "groups/ora.toml", 'mountpoint = "/disk/ora/01"',
         'mountpoint = "/disk/ora/00"', "groups/ora.toml:19: groups.ora.services.redo.mountpoint",
         "mountpoint /disk/ora/00 is also used by groups.ora.services.data"),
    Case("mountpoint-in-other-group", "groups/ora.toml", 'mountpoint = "/disk/ora/01"',
         'mountpoint = "/disk/censhare/00/ora"',
         "groups/ora.toml:19: groups.ora.services.redo.mountpoint", "of another group"),
    Case("mountpoint-relative", "groups/ora.toml", 'mountpoint = "/disk/ora/01"',
         'mountpoint = "disk/ora/01"', "groups/ora.toml:19: groups.ora.services.redo.mountpoint",
         "absolute"),
    Case("missing-script", "groups/ora.toml", 'script = "init.d/ora_listener"',
         'script = "init.d/ora_lsnr"', "groups/ora.toml:32: groups.ora.services.listener.script",
         "init.d/ora_lsnr: no such file"),
    Case("script-outside-basedir", "groups/ora.toml", 'script = "init.d/ora_listener"',
         'script = "../../bin/sh"', "groups/ora.toml:32: groups.ora.services.listener.script",
         "must be a path inside the base dir"),
    Case("missing-hook", "groups/ora.toml", 'pre_move    = "hooks/ora_pre"',
         'pre_move    = "hooks/ora_before"', "groups/ora.toml:5: groups.ora.pre_move",
         "hooks/ora_before: no such file"),
    Case("missing-config", "groups/ora.toml", 'config = "sysconfig/ora_listener"',
         'config = "sysconfig/ora_lsnr"', "groups/ora.toml:33: groups.ora.services.listener.config",
         "no such file"),
    Case("exec-relative-program", "groups/web.toml", '"/usr/bin/python3", "-m"',
         '"python3", "-m"', "groups/web.toml:14: groups.web.services.httpd.command",
         "must be an absolute path"),
    Case("exec-empty-command", "groups/web.toml", 'command = ["/usr/bin/python3", "-m", '
         '"http.server", "8081", "--bind", "192.168.77.23", "--directory", "/usr/share/doc"]',
         "command = []", "groups/web.toml:14: groups.web.services.httpd.command",
         "must name a program"),
    Case("systemd-unit-bad-name", "groups/ora.toml", 'unit = "ora-db.service"',
         'unit = "ora db"', "groups/ora.toml:38: groups.ora.services.db.unit",
         "not a service unit name"),
    Case("pacemaker-id-collision", "groups/web_vip.toml", None,
         '[[services]]\nname = "db"\ntype = "systemd"\nunit = "webvip-db.service"\n',
         "groups/web_vip.toml:1: groups.web_vip",
         "Pacemaker id 'web_vip' is also produced by groups.web.services.vip "
         "(groups/web.toml:6)"),
    Case("toml-syntax-error", "groups/ora.toml", 'name       = "redo"', 'name       = "redo',
         "groups/ora.toml:16: (syntax)", "TOML syntax error"),
    Case("empty-main-file", "s2s.toml", None, "", "s2s.toml:1: (file)", "empty"),
    Case("binary-garbage", "groups/web.toml", None, "\x00\x01\x02garbage\xff",
         "groups/web.toml:1: (file)", "NUL bytes"),
    Case("missing-hostgroup", "s2s.toml", "[hostgroup]", "[hostgroupp]",
         "s2s.toml:4: hostgroupp", "unknown key"),
    Case("pacemaker-without-fencing", "s2s.toml", '[fencing]\nenabled = false\n',
         "", "s2s.toml:6: fencing", "needs a [fencing] table"),
    Case("fence-device-unknown-host", "s2s.toml", "[fencing]\nenabled = false",
         '[fencing]\nenabled = true\n[[fencing.devices]]\nname = "ipmi_n9"\n'
         'agent = "fence_ipmilan"\nhosts = ["n9"]',
         "s2s.toml:25: fencing.devices.ipmi_n9.hosts", "host 'n9' is not in hostgroup.hosts"),
    Case("kits-without-disks", "groups/web.toml", 'user    = "www-data"',
         'user    = "www-data"\n\n[[services]]\nname = "kits"\ntype = "kits"',
         "groups/web.toml:17: groups.web.services.kits", "no mount member"),
    Case("kits-unknown-disk", "groups/ora.toml", "stop_timeout  = 60",
         'stop_timeout  = 60\n\n[[services]]\nname = "kits"\ntype = "kits"\n'
         'disks = ["/disk/ora/02"]',
         "groups/ora.toml:45: groups.ora.services.kits.disks", "not the mountpoint"),
    Case("kits-bad-timeout", "groups/ora.toml", "stop_timeout  = 60",
         'stop_timeout  = 60\n\n[[services]]\nname = "kits"\ntype = "kits"\n'
         "kit_timeout = 0",
         "groups/ora.toml:45: groups.ora.services.kits.kit_timeout", "must be a positive"),
    # issue 11, item 14: what check accepts, generate must render
    Case("pacemaker-id-hooks-member", "groups/ora.toml", 'name    = "vip"', 'name    = "hooks"',
         "groups/ora.toml:24: groups.ora.services.hooks", "Pacemaker id 'ora_hooks'"),
    Case("pacemaker-id-fence-device-like-hooks", "s2s.toml", "[fencing]\nenabled = false",
         '[fencing]\nenabled = true\n[[fencing.devices]]\nname = "ora_hooks"\n'
         'agent = "fence_ipmilan"\nhosts = ["n1"]',
         "groups/ora.toml:5: groups.ora.pre_move", "Pacemaker id 'ora_hooks'"),
    Case("fence-device-host-twice", "s2s.toml", "[fencing]\nenabled = false",
         '[fencing]\nenabled = true\n[[fencing.devices]]\nname = "ipmi_n1"\n'
         'agent = "fence_ipmilan"\nhosts = ["n1", "n1"]',
         "s2s.toml:25: fencing.devices.ipmi_n1.hosts", "host 'n1' is listed twice"),
    Case("fence-param-control-character", "s2s.toml", "[fencing]\nenabled = false",
         '[fencing]\nenabled = true\n[[fencing.devices]]\nname = "ipmi_n1"\n'
         'agent = "fence_ipmilan"\nhosts = ["n1"]\nparams = { ip = "10.0.0.1\\u0001" }',
         "s2s.toml:26: fencing.devices.ipmi_n1.params", "control character \\x01"),
    Case("fence-agent-bad-name", "s2s.toml", "[fencing]\nenabled = false",
         '[fencing]\nenabled = true\n[[fencing.devices]]\nname = "ipmi_n1"\n'
         'agent = "fence ipmilan"\nhosts = ["n1"]',
         "s2s.toml:24: fencing.devices.ipmi_n1.agent", "not a fence agent name"),
    Case("description-control-character", "groups/web.toml",
         'description = "intranet web server"', 'description = "intranet\\u0007 web"',
         "groups/web.toml:2: groups.web.description", "control character \\x07"),
    Case("device-control-character", "groups/ora.toml", 'device     = "/dev/mapper/ora_data"',
         'device     = "/dev/mapper/ora\\u0085data"',
         "groups/ora.toml:11: groups.ora.services.data.device", "control character \\x85"),
    Case("stickiness-huge-hex", "groups/web.toml", 'hosts       = ["n3", "n1"]',
         'hosts       = ["n3", "n1"]\nstickiness = 0x' + "f" * 4000,
         "groups/web.toml:4: groups.web.stickiness", "at most 1000000, not a huge number"),
    Case("start-timeout-huge-hex", "groups/ora.toml", "start_timeout = 60",
         "start_timeout = 0x" + "f" * 4000,
         "groups/ora.toml:39: groups.ora.services.db.start_timeout", "at most 86400 seconds"),
    Case("timeout-absurd", "groups/ora.toml", "stop_timeout  = 60",
         "stop_timeout  = 1" + "0" * 20,
         "groups/ora.toml:40: groups.ora.services.db.stop_timeout", "at most 86400 seconds"),
    Case("integer-over-4300-digits", "groups/ora.toml", "stop_timeout  = 60",
         "stop_timeout  = " + "9" * 5000, "groups/ora.toml:40: (syntax)",
         "thousands of digits"),
    Case("toml-nested-1000-deep", "groups/web.toml", 'alias   = "www"',
         'alias   = "www"\nx = ' + "[" * 1000 + "]" * 1000, "groups/web.toml:10: (syntax)",
         "nested more than"),
    # item 15: values that would break out of their unit line, CIB attribute or hosts line
    Case("exec-argument-newline", "groups/web.toml", '"8081"',
         '"1000\\nExecStartPre=/bin/touch /tmp/pwned"',
         "groups/web.toml:14: groups.web.services.httpd.command",
         "element 4 contains the control character \\n"),
    Case("mountpoint-newline", "groups/ora.toml", 'mountpoint = "/disk/ora/01"',
         'mountpoint = "/disk/ora/01\\nExecStartPre=/bin/touch /tmp/pwned"',
         "groups/ora.toml:19: groups.ora.services.redo.mountpoint", "control character \\n"),
    Case("mountpoint-blank", "groups/ora.toml", 'mountpoint = "/disk/ora/01"',
         'mountpoint = "/disk/ora 01"',
         "groups/ora.toml:19: groups.ora.services.redo.mountpoint", "without blanks"),
    Case("alias-newline", "groups/web.toml", 'alias   = "www"', 'alias   = "www\\n6.6.6.6 evil"',
         "groups/web.toml:9: groups.web.services.vip.alias", "control character \\n"),
    Case("alias-blank", "groups/web.toml", 'alias   = "www"', 'alias   = "www evil"',
         "groups/web.toml:9: groups.web.services.vip.alias", "must be letters, digits"),
    # item 22 (check side): a VIP that is a host's own address
    Case("vip-is-host-address", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "192.168.77.12/24"', "groups/web.toml:8: groups.web.services.vip.address",
         "VIP 192.168.77.12 is the address of host n2 (s2s.toml:13)"),
    Case("vip-is-host-name", "s2s.toml", 'hosts  = ["n1", "n2", "n3"]',
         'hosts  = ["n1", "n2", "n3", "192.168.77.23"]',
         "groups/web.toml:8: groups.web.services.vip.address",
         "VIP 192.168.77.23 is the address of host 192.168.77.23"),
    Case("vip-ipv4-mapped", "groups/web.toml", 'address = "192.168.77.23/24"',
         'address = "::ffff:192.168.77.23/120"',
         "groups/web.toml:8: groups.web.services.vip.address", "IPv4-mapped IPv6 address"),
    # readiness of exec members (issue 13): each at its own line, exit 2
    Case("ready-bad-port", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  ready = { tcp = "127.0.0.1:70000" }',
         "s2s.toml:60: groups.censhare.services.app.ready.tcp", "port 70000 must be 1..65535"),
    Case("ready-not-host-port", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  ready = { tcp = "localhost" }',
         "s2s.toml:60: groups.censhare.services.app.ready.tcp", "must be HOST:PORT"),
    Case("ready-tcp-and-command", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  ready = { tcp = "127.0.0.1:80", command = ["/bin/true"] }',
         "s2s.toml:60: groups.censhare.services.app.ready", "not both"),
    Case("ready-empty", "s2s.toml", "  stop_timeout = 20",
         "  stop_timeout = 20\n  ready = {}",
         "s2s.toml:60: groups.censhare.services.app.ready", "needs 'tcp"),
    Case("ready-unknown-key", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  ready = { tpc = "127.0.0.1:80" }',
         "s2s.toml:60: groups.censhare.services.app.ready.tpc", "unknown key"),
    Case("ready-command-relative", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  ready = { command = ["pg_isready"] }',
         "s2s.toml:60: groups.censhare.services.app.ready.command", "must be an absolute path"),
    Case("notify-with-ready", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  notify = true\n  ready = { tcp = "127.0.0.1:80" }',
         "s2s.toml:60: groups.censhare.services.app.notify", "give one of the two"),
    Case("notify-not-bool", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  notify = "yes"',
         "s2s.toml:60: groups.censhare.services.app.notify", "must be true or false"),
    Case("settle-with-notify", "s2s.toml", "  stop_timeout = 20",
         "  stop_timeout = 20\n  notify = true\n  settle = 5",
         "s2s.toml:61: groups.censhare.services.app.settle", "only for a member without"),
    Case("settle-too-long", "s2s.toml", "  stop_timeout = 20",
         '  stop_timeout = 20\n  settle = "2h"',
         "s2s.toml:60: groups.censhare.services.app.settle", "must be at most 3600"),
    Case("ready-on-a-script", "s2s.toml", 'script = "init.d/censhare_db"',
         'script = "init.d/censhare_db"\n  ready = { tcp = "127.0.0.1:80" }',
         "s2s.toml:50: groups.censhare.services.db.ready", "unknown key"),
    Case("notify-hook-outside", "s2s.toml", 'hosts  = ["n1", "n2", "n3"]',
         'hosts  = ["n1", "n2", "n3"]\nnotify = "/etc/notify"', "s2s.toml:8: hostgroup.notify",
         "must be a path inside the base dir"),
    Case("notify-hook-missing", "s2s.toml", 'hosts  = ["n1", "n2", "n3"]',
         'hosts  = ["n1", "n2", "n3"]\nnotify = "hooks/notify"', "s2s.toml:8: hostgroup.notify",
         "no such file"),
]
PACEMAKER_CASES = {"pacemaker-without-fencing", "fence-device-unknown-host",
                   "pacemaker-id-fence-device-like-hooks", "fence-device-host-twice",
                   "fence-param-control-character", "fence-agent-bad-name"}


def apply_case(base: Path, case: Case) -> None:
    path = base / case.file
    if case.old is None:
        path.write_bytes(case.new.encode("utf-8", "surrogateescape"))
        return
    text = path.read_text(encoding="utf-8")
    assert case.old in text, f"case {case.id}: text to replace not found in {case.file}"
    path.write_text(text.replace(case.old, case.new, 1), encoding="utf-8")
    if case.id in PACEMAKER_CASES:
        main_file = base / "s2s.toml"
        main_file.write_text(main_file.read_text().replace('engine = "systemd"',
                                                           'engine = "pacemaker"'))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_definition(case: Case, basedir: Path, tmp_path: Path) -> None:
    apply_case(basedir, case)
    runner = CliRunner()
    out = tmp_path / "out"
    # a previous good generation must survive a failed one unchanged
    first = runner.invoke(main, ["generate", "systemd", "--basedir", str(EXAMPLES_DIR),
                                 "--out", str(out)])
    assert first.exit_code == 0, first.output
    before = snapshot(out)
    base_before = snapshot(basedir)

    for argv in (["check"], ["generate", "systemd", "--out", str(out)]):
        result = runner.invoke(main, [*argv, "--basedir", str(basedir), "--host", "n1"])
        assert result.exit_code == 2, f"{argv}: {result.output}"
        lines = result.stderr.splitlines()
        matching = [ln for ln in lines if ln.startswith(case.where + ":")]
        assert matching, f"expected a line starting {case.where!r}, got:\n{result.stderr}"
        assert any(case.message in ln for ln in matching), result.stderr
        assert "Traceback" not in result.output + result.stderr
    assert snapshot(out) == before
    assert snapshot(basedir) == base_before


def test_all_problems_reported_at_once(basedir: Path) -> None:
    for case in [c for c in CASES if c.id in ("bad-hostgroup-name", "same-alias",
                                              "duplicate-service", "missing-script")]:
        apply_case(basedir, case)
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    assert result.exit_code == 2
    for where in ("s2s.toml:5: hostgroup.name", "groups/web.toml:9: groups.web.services.vip",
                  "groups/ora.toml:16: groups.ora.services.data.name"):
        assert where in result.stderr, result.stderr


def test_pacemaker_id_of_a_host_named_like_a_constraint(basedir: Path) -> None:
    # the location constraint per host and the rule for all other nodes share a prefix
    main_file = basedir / "s2s.toml"
    text = main_file.read_text()
    text = text.replace('hosts  = ["n1", "n2", "n3"]',
                        'hosts  = ["n1", "n2", "n3", "allowed-hosts"]')
    text = text.replace('hosts       = ["n1", "n2", "n3"]',
                        'hosts       = ["n1", "allowed-hosts"]')
    main_file.write_text(text)
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    assert result.exit_code == 2, result.output
    assert "s2s.toml:27: groups.censhare.hosts: Pacemaker id " \
           "'s2s-sd-location-censhare-allowed-hosts' is also produced by groups.censhare.hosts" \
        in result.stderr, result.stderr


def test_unreadable_basedir(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check", "--basedir", str(tmp_path / "nothing")])
    assert result.exit_code == 2
    assert "s2s.toml:1: (file): no such file" in result.stderr


def test_script_failing_bash_n(basedir: Path) -> None:
    script = basedir / "init.d" / "ora_listener"
    script.write_text(script.read_text() + "\nif then fi (\n")
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir)])
    assert result.exit_code == 2
    assert "groups/ora.toml:32: groups.ora.services.listener.script: init.d/ora_listener: " \
           "bash -n:" in result.stderr, result.stderr


def test_script_not_executable(basedir: Path) -> None:
    os.chmod(basedir / "hooks" / "ora_post", 0o644)
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir)])
    assert result.exit_code == 2
    assert "groups/ora.toml:6: groups.ora.post_move: hooks/ora_post: not executable" \
        in result.stderr, result.stderr


def test_broken_host_twin_is_found(basedir: Path) -> None:
    # the twin used only on n2 is checked on every host: a failover to n2 must not be
    # the first to find it broken
    twin = basedir / "init.d" / "ora_listener.n2"
    twin.write_text("#!/bin/bash\ncase $1 in\n")
    twin.chmod(0o755)
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    assert result.exit_code == 2
    assert "init.d/ora_listener.n2: bash -n:" in result.stderr, result.stderr


EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
