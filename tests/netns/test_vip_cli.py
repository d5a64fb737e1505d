"""`s2s-sd vip` as users and the generated units run it: exit codes, messages, JSON."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.netns.netns_lab import Lab

pytestmark = pytest.mark.netns

VIP = "10.77.0.50/24"


def host1_addresses(segment: Lab) -> str:
    return segment.host1.ip("addr", "show", "dev", "eth0")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["10.77.0.50"], "prefix length"),
        (["10.77.0.50/33"], "not an IP address"),
        (["10.77.0.500/24"], "not an IP address"),
        (["10.77.0.50/255.255.255.0"], "prefix must be a length"),
        (["10.77.0.255/24"], "broadcast"),
        (["224.0.0.5/24"], "cannot be a virtual IP"),
        ([VIP, "--interface", "eth9"], "no interface 'eth9'"),
        ([VIP, "--interface", "a-very-long-interface"], "not a valid interface name"),
        ([VIP, "--label", "0123456789abc"], "Linux allows 15"),
        ([VIP, "--label", "eth1:ora"], "must start with the interface name"),
        ([VIP, "--label", "bad label"], "label"),
        ([VIP, "--alias", "-bad-"], "not a valid host name"),
        (["192.0.2.5/24"], "no interface has a connected route"),
        ([VIP, "--count", "-1"], "--count"),
        (["a", "b", "c"], "ADDRESS/PREFIX, or GROUP SERVICE"),
        ([VIP, "--netns", "/run/netns/does-not-exist"], "no network namespace"),
        ([VIP, "--netns", "/etc/hostname"], "is not a network namespace"),
        ([VIP, "--netns", "/proc/self/ns/mnt"], "is not a network namespace"),
    ],
)
def test_bad_input_exits_2_and_changes_nothing(
    segment: Lab, tmp_path: Path, argv: list[str], message: str
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_bytes(b"127.0.0.1 localhost\n")
    before = host1_addresses(segment)

    result = segment.host1.s2s_sd("vip", "up", *argv, "--hosts-file", str(hosts))

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert host1_addresses(segment) == before
    assert hosts.read_bytes() == b"127.0.0.1 localhost\n"


def test_refused_names_the_mac_and_exits_3(segment: Lab) -> None:
    assert segment.host1.s2s_sd("vip", "up", VIP, "--count", "1").returncode == 0

    result = segment.host2.s2s_sd("vip", "up", VIP)

    assert result.returncode == 3
    assert f"s2s-sd: refused: 10.77.0.50 is in use: {segment.host1.mac} answered" in result.stderr


@pytest.mark.parametrize(
    ("dropped", "message"),
    [("-net_admin", "CAP_NET_ADMIN"), ("-net_raw", "CAP_NET_RAW")],
)
def test_missing_capability_is_a_clear_failure(
    segment: Lab, dropped: str, message: str
) -> None:
    before = host1_addresses(segment)

    result = segment.host1.s2s_sd(
        "vip", "up", VIP, prefix=("setpriv", "--inh-caps=-all", f"--bounding-set={dropped}"))

    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert host1_addresses(segment) == before


def test_failed_up_leaves_no_address_behind(segment: Lab, tmp_path: Path) -> None:
    """The alias cannot be written after the address was added: the address goes again."""
    hosts = tmp_path / "missing-dir" / "hosts"

    result = segment.host1.s2s_sd("vip", "up", VIP, "--alias", "oracle_c07", "--count", "1",
                                  "--hosts-file", str(hosts))

    assert result.returncode == 1, result.stderr
    assert "missing-dir" in result.stderr
    assert "10.77.0.50" not in host1_addresses(segment)


def test_status_json_and_text(segment: Lab) -> None:
    down = segment.host1.s2s_sd("vip", "status", VIP, "--json")
    assert down.returncode == 0
    assert json.loads(down.stdout)["present"] is False

    up = segment.host1.s2s_sd("vip", "up", VIP, "--label", "ora", "--count", "2",
                              "--interval", "10", "--json")
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["action"] == "added"
    assert json.loads(up.stdout)["announcements"] == 2

    state = json.loads(segment.host1.s2s_sd("vip", "status", VIP, "--json").stdout)
    assert {k: state[k] for k in ("present", "interface", "label")} == {
        "present": True, "interface": "eth0", "label": "eth0:ora"}
    text = segment.host1.s2s_sd("vip", "status", VIP).stdout
    assert text.strip() == "10.77.0.50/24: up on eth0 (eth0:ora)"


def test_status_check_says_it_in_the_exit_code(segment: Lab) -> None:
    """--check: 0 up, 3 not up here (the monitor loop of an ip member reads it)."""
    assert segment.host1.s2s_sd("vip", "status", VIP, "--check").returncode == 3
    assert segment.host1.s2s_sd("vip", "up", VIP, "--count", "1").returncode == 0
    assert segment.host1.s2s_sd("vip", "status", VIP, "--check").returncode == 0
    assert segment.host2.s2s_sd("vip", "status", VIP, "--check").returncode == 3
    assert segment.host1.s2s_sd("vip", "down", VIP).returncode == 0
    down = segment.host1.s2s_sd("vip", "status", VIP, "--check", "--json")
    assert down.returncode == 3 and json.loads(down.stdout)["present"] is False


def test_ipv6_through_the_command_line(segment: Lab) -> None:
    vip6 = "fd77::50/64"
    assert segment.host1.s2s_sd("vip", "up", vip6, "--count", "1").returncode == 0
    refused = segment.host2.s2s_sd("vip", "up", vip6)
    assert refused.returncode == 3
    assert segment.host1.mac in refused.stderr
    assert segment.host1.s2s_sd("vip", "down", vip6).returncode == 0
    assert segment.host1.s2s_sd("vip", "down", vip6).returncode == 0
    assert "fd77::50" not in segment.host1.ip("-6", "addr", "show", "dev", "eth0")


DEFINITIONS = """\
[hostgroup]
name   = "c07"
engine = "systemd"
hosts  = ["n1", "n2"]

[groups.ora]
description = "Oracle database"

  [[groups.ora.services]]
  name    = "vip"
  type    = "ip"
  address = "10.77.0.50/24"
  alias   = "oracle"

[groups.web]

  [[groups.web.services]]
  name      = "vip"
  type      = "ip"
  address   = "fd77::80/64"
  interface = "eth0"
  alias     = "www"

  [[groups.web.services]]
  name      = "vip4"
  type      = "ip"
  address   = "10.77.0.80/24"
"""


@pytest.fixture
def basedir(tmp_path: Path) -> Path:
    base = tmp_path / "base"
    base.mkdir()
    (base / "s2s.toml").write_text(textwrap.dedent(DEFINITIONS))
    return base


def test_group_form_as_the_units_call_it(segment: Lab, basedir: Path, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_bytes(b"127.0.0.1 localhost\n")
    common = ("--basedir", str(basedir), "--hosts-file", str(hosts))

    up = segment.host1.s2s_sd("vip", "up", "ora", "vip", *common)
    assert up.returncode == 0, up.stderr
    assert "eth0:ora" in host1_addresses(segment)
    assert hosts.read_bytes() == b"127.0.0.1 localhost\n10.77.0.50\toracle_c07\t# s2s-sd vip\n"

    web4 = segment.host1.s2s_sd("vip", "up", "web", "vip4", *common)
    web6 = segment.host1.s2s_sd("vip", "up", "web", "vip", *common)
    assert (web4.returncode, web6.returncode) == (0, 0), (web4.stderr, web6.stderr)
    assert "eth0:web_vip4" in host1_addresses(segment)  # two VIPs in web: both named
    assert b"fd77::80\twww_c07" in hosts.read_bytes()

    state = json.loads(segment.host1.s2s_sd("vip", "status", "ora", "vip", "--json",
                                            *common).stdout)
    assert (state["present"], state["alias"], state["alias_addresses"]) == (
        True, "oracle_c07", ["10.77.0.50"])

    for service in (("ora", "vip"), ("web", "vip4"), ("web", "vip")):
        assert segment.host1.s2s_sd("vip", "down", *service, *common).returncode == 0
    assert hosts.read_bytes() == b"127.0.0.1 localhost\n"
    assert "10.77.0.50" not in host1_addresses(segment)


def test_group_form_errors(segment: Lab, basedir: Path) -> None:
    base = ("--basedir", str(basedir))
    assert segment.host1.s2s_sd("vip", "up", "nope", "vip", *base).returncode == 2
    assert segment.host1.s2s_sd("vip", "up", "ora", "nope", *base).returncode == 2
    mixed = segment.host1.s2s_sd("vip", "up", "ora", "vip", "--interface", "eth0", *base)
    assert mixed.returncode == 2
    assert "not with GROUP SERVICE" in mixed.stderr
    (basedir / "s2s.toml").write_text("[hostgroup]\nname = 1\n")
    broken = segment.host1.s2s_sd("vip", "up", "ora", "vip", *base)
    assert broken.returncode == 2
    assert "s2s.toml" in broken.stderr
