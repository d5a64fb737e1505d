"""Reading ssh's own report of a `host add` probe, on output captured in the lab
(OpenSSH 9.2, Debian 12): n1 -> n2 with the key known, unknown, changed, root's key not
accepted, s2s-sd missing, no route."""

from __future__ import annotations

from pathlib import Path

import pytest

from s2s_sd.hosts.enroll import Outcome, Probe, fix_for, parse_probe, probe_argv, user_known_hosts

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent / "fixtures" / "ssh_probe"
N2_KEY = "ssh-ed25519 SHA256:jdx/ZV8PZFcAcuFFvJh5UHJGJWWPVULLsGQsvfFASgY"
PROGRAM = "/usr/local/bin/s2s-sd"


def captured(name: str, address: str = "n2") -> Probe:
    return parse_probe(address, PROGRAM, int((FIXTURES / f"{name}.rc").read_text()),
                       (FIXTURES / f"{name}.stdout").read_text(),
                       (FIXTURES / f"{name}.stderr").read_text())


def test_verified_names_key_entry_and_version() -> None:
    probe = captured("known")
    assert probe == parse_probe("n2", PROGRAM, 0, (FIXTURES / "known.stdout").read_text(),
                                (FIXTURES / "known.stderr").read_text())
    assert probe.outcome is Outcome.VERIFIED
    assert probe.host_key == N2_KEY
    assert probe.known_hosts == "/etc/ssh/ssh_known_hosts:2"
    assert probe.version == "0.1.0"


@pytest.mark.parametrize(("name", "outcome", "detail"), [
    ("unknown", Outcome.UNKNOWN_KEY, "Host key verification failed."),
    ("changed", Outcome.CHANGED_KEY, "Host key verification failed."),
    ("denied", Outcome.DENIED, "root@n2: Permission denied (publickey,password)."),
    ("missing", Outcome.NO_PROGRAM, "bash: line 1: /nonexistent/s2s-sd: No such file or directory"),
    ("noroute", Outcome.UNREACHABLE,
     "ssh: connect to host 192.168.77.99 port 22: Connection timed out"),
])
def test_failures_are_told_apart(name: str, outcome: Outcome, detail: str) -> None:
    probe = captured(name)
    assert probe.outcome is outcome
    assert probe.detail == detail
    assert probe.version is None


def test_refusals_show_the_presented_key_and_the_fix() -> None:
    unknown = captured("unknown")
    fix = fix_for(unknown, "n2", "/root/.ssh/known_hosts")
    assert N2_KEY in fix and "ssh-keyscan n2 >> /root/.ssh/known_hosts" in fix
    assert "out of band" in fix
    changed = captured("changed")
    assert changed.known_hosts == "/tmp/wrong:1"
    fix = fix_for(changed, "n2", "/root/.ssh/known_hosts")
    assert "ssh-keygen -f /tmp/wrong -R n2" in fix and N2_KEY in fix
    assert "ssh-copy-id root@n2" in fix_for(captured("denied"), "n2")
    assert PROGRAM in fix_for(captured("missing"), "n2")


def test_known_hosts_file_from_ssh_config() -> None:
    assert user_known_hosts((FIXTURES / "ssh-G.stdout").read_text()) == "/root/.ssh/known_hosts"
    assert user_known_hosts("") == "~/.ssh/known_hosts"


def test_probe_never_shares_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S2S_SD_SSH_OPTIONS", "-o UserKnownHostsFile=/k")
    argv = probe_argv("10.0.0.3", PROGRAM)
    assert argv[0] == "ssh" and "-v" in argv
    for option in ("BatchMode=yes", "StrictHostKeyChecking=yes", "ControlMaster=no",
                   "ControlPath=none", "UserKnownHostsFile=/k"):
        assert option in argv
    assert argv[-3:] == ["10.0.0.3", "--", f"{PROGRAM} --version"]
