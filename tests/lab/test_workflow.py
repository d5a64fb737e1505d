"""The old tool's workflow on real hosts: a site begun with `init` on n1 (hosts n1, n2),
`group new` and `service new`, then `host add n3` over real OpenSSH (the lab's
/etc/ssh/ssh_known_hosts knows every node's key) and `host remove`.

host add must show the key n3 really presented and the known_hosts entry that verified
it, record it, and sync n3; with the key unknown or changed it must refuse (exit 3) and
change nothing. host remove is refused while a group is assigned to the host."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from tests.conftest import REPO
from tests.lab.runtime_support import BASEDIR, NODES, clean_node, s2s

# the nodes run the repo's venv (bind-mounted): the program every host is asked to run
VENV_PROGRAM = f"{REPO}/.venv/bin/s2s-sd"

pytestmark = pytest.mark.lab

MAIN = f"{BASEDIR}/s2s.toml"
EMPTY_KNOWN_HOSTS = "/tmp/s2s-test-empty-known-hosts"
WRONG_KNOWN_HOSTS = "/tmp/s2s-test-wrong-known-hosts"


@pytest.fixture(scope="module")
def site(lab_manager: Any) -> Iterator[LabNodes]:
    """n1 administers host group c07 of n1 and n2; group app prefers n2."""
    lab = lab_manager.get(cluster=False)
    for node in NODES:
        clean_node(lab, node)
    for argv in (("init", "--name", "c07", "--hosts", "n1,n2"),
                 ("group", "new", "app", "--hosts", "n2,n1"),
                 ("service", "new", "daemon", "--group", "app"),
                 ("sync",)):
        result = s2s(lab, "n1", *argv, "--basedir", BASEDIR)
        assert result.ok, f"{argv}: {result.stdout}{result.stderr}"
    yield lab
    for node in NODES:
        clean_node(lab, node)
    for node in NODES:
        lab.exec(node, ["rm", "-f", EMPTY_KNOWN_HOSTS, WRONG_KNOWN_HOSTS], check=False)


@pytest.fixture
def workflow_lab(site: LabNodes, lab: LabNodes) -> LabNodes:
    return lab


def digest(lab: LabNodes, node: str, path: str = MAIN) -> str:
    return hashlib.sha256(lab.exec(node, ["cat", path]).stdout.encode()).hexdigest()


def definitions(lab: LabNodes, node: str = "n1") -> dict[str, Any]:
    return tomllib.loads(lab.exec(node, ["cat", MAIN]).stdout)


def n3_key(lab: LabNodes) -> str:
    """The fingerprint of n3's own host key, read on n3 (the out-of-band check)."""
    bits, fingerprint, *_ = lab.exec(
        "n3", ["ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"]).stdout.split()
    assert bits == "256"
    return f"ssh-ed25519 {fingerprint}"


def with_known_hosts(path: str, *argv: str) -> list[str]:
    return ["env", f"S2S_SD_SSH_OPTIONS=-o UserKnownHostsFile={path} "
            f"-o GlobalKnownHostsFile={path}", "s2s-sd", *argv]


def test_host_add_refuses_an_unknown_host_key(workflow_lab: LabNodes) -> None:
    lab = workflow_lab
    before = digest(lab, "n1")
    lab.exec("n1", ["sh", "-c", f": > {EMPTY_KNOWN_HOSTS}"])
    result = lab.exec("n1", with_known_hosts(EMPTY_KNOWN_HOSTS, "host", "add", "n3",
                                             "--basedir", BASEDIR), check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "unknown host key" in result.stderr
    # what n3 presented, how to check it, and the exact fix
    assert n3_key(lab) in result.stderr
    assert f"ssh-keyscan n3 >> {EMPTY_KNOWN_HOSTS}" in result.stderr
    assert "nothing was changed" in result.stderr
    assert digest(lab, "n1") == before
    assert lab.exec("n3", ["test", "-e", MAIN], check=False).returncode != 0


def test_host_add_refuses_a_changed_host_key(workflow_lab: LabNodes) -> None:
    lab = workflow_lab
    before = digest(lab, "n1")
    # n3 under n2's key: what a reinstalled host or a man in the middle looks like
    lab.exec("n1", ["sh", "-c", "awk '$1 ~ /^n2,/ {print \"n3\", $2, $3}' "
                    f"/etc/ssh/ssh_known_hosts > {WRONG_KNOWN_HOSTS}"])
    result = lab.exec("n1", with_known_hosts(WRONG_KNOWN_HOSTS, "host", "add", "n3",
                                             "--basedir", BASEDIR), check=False)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "changed host key" in result.stderr and n3_key(lab) in result.stderr
    assert f"ssh-keygen -f {WRONG_KNOWN_HOSTS} -R n3" in result.stderr
    assert digest(lab, "n1") == before


def test_host_add_records_the_verified_key_and_syncs(workflow_lab: LabNodes) -> None:
    lab = workflow_lab
    key = n3_key(lab)
    result = s2s(lab, "n1", "host", "add", "n3", "--basedir", BASEDIR)
    assert result.ok, result.stdout + result.stderr
    assert f"n3: host key {key} (known_hosts entry /etc/ssh/ssh_known_hosts:" in result.stdout
    assert "n3: s2s-sd " in result.stdout and f"answers at {VENV_PROGRAM}" in result.stdout
    assert "next: " in result.stdout
    data = definitions(lab)
    assert data["hostgroup"]["hosts"] == ["n1", "n2", "n3"]
    assert data["hosts"] == {"n3": {"host_key": key}}
    # synced: n3 holds the same definitions, and check accepts them there
    assert digest(lab, "n3") == digest(lab, "n1") == digest(lab, "n2")
    check = s2s(lab, "n3", "check", "--basedir", BASEDIR)
    assert check.ok, check.stdout + check.stderr
    # group app names its hosts: n3 is not added to it behind the administrator's back
    app = tomllib.loads(lab.exec("n1", ["cat", f"{BASEDIR}/groups/app.toml"]).stdout)
    assert app["hosts"] == ["n2", "n1"]
    assert "groups that may run on n3: none" in result.stdout
    again = s2s(lab, "n1", "host", "add", "n3", "--basedir", BASEDIR)
    assert again.returncode == 2 and "already" in again.stderr


def test_host_remove_refused_while_assigned(workflow_lab: LabNodes) -> None:
    lab = workflow_lab
    before = digest(lab, "n1")
    # app prefers n2 and nothing moved it: it is assigned there
    result = s2s(lab, "n1", "host", "remove", "n2", "--basedir", BASEDIR)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "app" in result.stderr and "assigned to n2" in result.stderr
    assert digest(lab, "n1") == before


def test_host_remove_takes_it_out_of_the_group_lists(workflow_lab: LabNodes) -> None:
    lab = workflow_lab
    group_file = f"{BASEDIR}/groups/app.toml"
    lab.exec("n1", ["sed", "-i", 's/^hosts = \\["n2", "n1"\\]/hosts = ["n2", "n1", "n3"]/',
                    group_file])
    assert tomllib.loads(lab.exec("n1", ["cat", group_file]).stdout)["hosts"] == \
        ["n2", "n1", "n3"]
    assert s2s(lab, "n1", "sync", "--basedir", BASEDIR).ok
    result = s2s(lab, "n1", "host", "remove", "n3", "--basedir", BASEDIR)
    assert result.ok, result.stdout + result.stderr
    assert "hosts of group(s) app" in result.stdout
    data = definitions(lab)
    assert data["hostgroup"]["hosts"] == ["n1", "n2"] and "hosts" not in data
    assert tomllib.loads(lab.exec("n1", ["cat", group_file]).stdout)["hosts"] == ["n2", "n1"]
    assert digest(lab, "n2") == digest(lab, "n1")
