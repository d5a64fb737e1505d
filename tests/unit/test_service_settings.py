"""Issue 17 item 19: exec members' allow-listed [Service] settings, checked by `check`
at their own FILE:LINE and written into the unit escaped as systemd reads them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from s2s_sd.cli import main
from s2s_sd.load import load_definitions
from s2s_sd.render.systemd import render_units

pytestmark = pytest.mark.unit

HARDENED = """
[services.service_settings]
NoNewPrivileges = true
ProtectSystem = "strict"
PrivateTmp = true
ReadWritePaths = ["/var/lib/web", "-/var/cache/web"]
CapabilityBoundingSet = []
SystemCallFilter = ["@system-service"]
LimitNOFILE = 65536
UMask = "077"
Environment = { LANG = "C.UTF-8", GREETING = "100% \\"quoted\\" $HOME" }
"""


def harden(basedir: Path, text: str = HARDENED) -> None:
    path = basedir / "groups" / "web.toml"
    path.write_text(path.read_text().rstrip("\n") + "\n" + text)


def test_settings_reach_the_unit_escaped(basedir: Path) -> None:
    harden(basedir)
    # the table belongs to the last [[services]] of the file: httpd
    unit = render_units(load_definitions(basedir, "n1"))["s2s-web-httpd.service"]
    service = unit.split("[Service]\n", 1)[1].splitlines()
    stop_post = next(i for i, line in enumerate(service) if line.startswith("ExecStopPost="))
    assert service[stop_post + 1:] == [
        "CapabilityBoundingSet=",
        'Environment="GREETING=100%% \\"quoted\\" $HOME"',
        "Environment=LANG=C.UTF-8",
        "LimitNOFILE=65536",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/web -/var/cache/web",
        "SystemCallFilter=@system-service",
        "UMask=0077",
    ]
    assert "Documentation=man:s2s-sd(8) file:" in unit


def check(basedir: Path) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, ["check", "--basedir", str(basedir), "--host", "n1"])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, [ln for ln in result.stderr.splitlines()
                              if not ln.startswith("s2s-sd:")]


@pytest.mark.parametrize(("setting", "said"), [
    ("NoNewPrivilege = true", "'NoNewPrivilege' is not a [Service] setting s2s-sd passes "
                              "through: did you mean 'NoNewPrivileges'?"),
    ("ExecStartPre = \"/bin/true\"", "'ExecStartPre' is not a [Service] setting s2s-sd "
                                     "passes through"),
    ("DynamicUser = true", "'DynamicUser' is not a [Service] setting"),
    ("ProtectSystem = \"yes please\"", "must be true, false or one of 'full', 'strict'"),
    ("ReadWritePaths = [\"var/lib\"]", "element 1 'var/lib' is not an absolute path"),
    ("ReadWritePaths = [\"/a b\"]", "element 1 '/a b' is not an absolute path"),
    ("LimitNOFILE = -1", "must be an integer 0..9223372036854775807 or 'infinity'"),
    ("Nice = 30", "must be an integer -20..19"),
    ("NoNewPrivileges = \"yes\"", "must be true or false, not a string"),
    ("Environment = { \"BAD-NAME\" = \"x\" }", "'BAD-NAME' is not a variable name"),
    ("Environment = { A = \"x\\ny\" }", "control character \\n"),
    ("CapabilityBoundingSet = [\"CAP_NET_ADMIN\", \"~CAP_SYS_ADMIN\"]",
     "element 2 '~CAP_SYS_ADMIN' is not a capability"),
])
def test_bad_setting_is_named_at_its_line(basedir: Path, setting: str, said: str) -> None:
    harden(basedir, f"\n[services.service_settings]\nPrivateTmp = true\n{setting}\n")
    code, lines = check(basedir)
    assert code == 2
    assert len(lines) == 1, lines
    name = setting.split(" =")[0]
    assert lines[0].startswith(f"groups/web.toml:19: groups.web.services.httpd."
                               f"service_settings.{name}: "), lines
    assert said in lines[0]


def test_settings_only_for_exec_members(basedir: Path) -> None:
    path = basedir / "groups" / "web.toml"
    path.write_text(path.read_text().replace(
        'alias   = "www"', 'alias   = "www"\nservice_settings = { PrivateTmp = true }'))
    code, lines = check(basedir)
    assert code == 2
    assert lines == ["groups/web.toml:10: groups.web.services.vip.service_settings: unknown "
                     "key 'service_settings'"]


def test_negated_list_and_every_allowed_setting_renders(basedir: Path) -> None:
    harden(basedir, '\n[services.service_settings]\nCapabilityBoundingSet = '
                    '["~CAP_SYS_ADMIN", "CAP_NET_RAW"]\nProtectHome = "read-only"\n'
                    'MemoryMax = "2G"\nTasksMax = "infinity"\nCPUQuota = "50%"\n')
    code, lines = check(basedir)
    assert code == 0, lines
    unit = render_units(load_definitions(basedir, "n1"))["s2s-web-httpd.service"]
    for line in ("CapabilityBoundingSet=~CAP_SYS_ADMIN CAP_NET_RAW", "ProtectHome=read-only",
                 "MemoryMax=2G", "TasksMax=infinity", "CPUQuota=50%%"):
        assert f"\n{line}\n" in unit, unit
