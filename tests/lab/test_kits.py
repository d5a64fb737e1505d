"""Service kits on real hosts: a group `kits` of host group k07 (base dir
/etc/s2s-sd-kits on n1, synced) with two disks (the lab's /dev/mapper/ora_data and
ora_redo mounted at /disk/kits/00 and /01) and a kits member. Kits are bash scripts
that start a named daemon and log every action; the tests check start order, reverse
stop, state, `where` on the holding and a non-holding node, a kit added while the group
runs being started at the next move, relocation from a local disk into the group and
back with a checksum of the data, and the refusal while a service runs.

Everything is removed again at the end (kits on the disks, units, state, /service,
/disk/local, the base dir), so other lab modules see the nodes as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lab.backend import LabNodes
from s2s_sd.run import Result
from tests.lab.runtime_support import NODES, clean_node

pytestmark = pytest.mark.lab

BASEDIR = "/etc/s2s-sd-kits"
SITE = """\
[hostgroup]
name  = "k07"
hosts = ["n1", "n2", "n3"]

[hosts.n1]
address = "192.168.77.11"
[hosts.n2]
address = "192.168.77.12"
[hosts.n3]
address = "192.168.77.13"

[groups.kits]
description = "service kits on two disks"
hosts = ["n1", "n2"]

  [[groups.kits.services]]
  name       = "d00"
  type       = "mount"
  device     = "/dev/mapper/ora_data"
  mountpoint = "/disk/kits/00"
  fstype     = "ext4"

  [[groups.kits.services]]
  name       = "d01"
  type       = "mount"
  device     = "/dev/mapper/ora_redo"
  mountpoint = "/disk/kits/01"
  fstype     = "ext4"

  [[groups.kits.services]]
  name          = "kits"
  type          = "kits"
  kit_timeout   = 20
  start_timeout = 120
  stop_timeout  = 120
"""
# a kit as a site would write it: knows nothing of s2s-sd, called as sbin/ACTION
KIT = """\
#!/bin/bash
PID=/run/kit-@NAME@.pid
EVENTS=/run/kit-events.log
case "${0##*/}" in
    start)
        echo "start @NAME@" >> "$EVENTS"
        (exec -a kit-@NAME@ sleep 100000) </dev/null >/dev/null 2>&1 &
        echo $! > "$PID"
        echo "@NAME@ is up" ;;
    stop)
        echo "stop @NAME@" >> "$EVENTS"
        [ -f "$PID" ] && kill "$(cat "$PID")" 2>/dev/null
        rm -f "$PID" ;;
    state)
        [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null && exit 0
        exit 3 ;;
esac
"""
KIT_NAMES = "alpha beta gamma delta broken"
# what the copy must keep: content, modes, owners, times, symlinks, hard links, xattrs
# (computed in the node by its own python3, independently of s2s-sd's verification)
FINGERPRINT = """
import hashlib, os, stat, sys
root = sys.argv[1]
digest = hashlib.sha256()
for directory, dirs, files in sorted(os.walk(root)):
    for name in sorted(dirs + files):
        path = os.path.join(directory, name)
        info = os.lstat(path)
        entry = [os.path.relpath(path, root), stat.S_IFMT(info.st_mode),
                 stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, info.st_nlink,
                 sorted((k, os.getxattr(path, k, follow_symlinks=False))
                        for k in os.listxattr(path, follow_symlinks=False))]
        if stat.S_ISREG(info.st_mode):
            entry += [info.st_size, info.st_mtime_ns,
                      hashlib.sha256(open(path, "rb").read()).hexdigest()]
        elif stat.S_ISLNK(info.st_mode):
            entry.append(os.readlink(path))
        digest.update(repr(entry).encode())
print(digest.hexdigest())
"""


def fingerprint(lab: LabNodes, node: str, path: str) -> str:
    result = lab.exec(node, ["python3", "-c", FINGERPRINT, path], timeout=60)
    return result.stdout.strip()


def sh(lab: LabNodes, node: str, script: str, check: bool = True) -> Result:
    result = lab.exec(node, ["bash", "-c", script], check=False, timeout=120)
    if check:
        assert result.ok, f"{node}: {script}\n{result.stdout}{result.stderr}"
    return result


def s2s(lab: LabNodes, node: str, *args: str) -> Result:
    return lab.exec(node, ["s2s-sd", *args, "--basedir", BASEDIR], check=False, timeout=300)


def ok(result: Result) -> Result:
    assert result.ok, f"{' '.join(result.argv)}: exit {result.returncode}\n" \
                      f"{result.stdout}{result.stderr}"
    return result


def where(lab: LabNodes, node: str, name: str) -> dict[str, Any]:
    result = ok(s2s(lab, node, "where", name, "--json"))
    services = json.loads(result.stdout)["services"]
    assert [s["name"] for s in services] == [name], services
    entry: dict[str, Any] = services[0]
    return entry


def put_kit(lab: LabNodes, node: str, path: str) -> None:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    text = KIT.replace("@NAME@", name)
    sh(lab, node, f"mkdir -p {path}/sbin")
    for action in ("start", "stop", "state"):
        lab.exec(node, ["tee", f"{path}/sbin/{action}"], input=text)
    sh(lab, node, f"chmod 755 {path}/sbin/*")


def link(lab: LabNodes, nodes: tuple[str, ...], number: str, name: str, target: str) -> None:
    for node in nodes:
        sh(lab, node, f"mkdir -p /service/{number} && ln -sfn {target} /service/{number}/{name}")


def events(lab: LabNodes, node: str) -> list[str]:
    return sh(lab, node, "cat /run/kit-events.log 2>/dev/null || true").stdout.split("\n")[:-1]


def clear_events(lab: LabNodes) -> None:
    for node in NODES:
        sh(lab, node, "rm -f /run/kit-events.log")


def daemons(lab: LabNodes, node: str) -> list[str]:
    out = sh(lab, node, "pgrep -a -f '^kit-' || true").stdout
    return sorted(line.split()[1] for line in out.splitlines())


def holder(lab: LabNodes) -> str:
    mounted = [n for n in NODES if sh(lab, n, "findmnt /disk/kits/00", check=False).ok]
    assert len(mounted) == 1, f"the kits disks are mounted on {mounted}"
    return mounted[0]


def clean(lab: LabNodes) -> None:
    """Nothing of this module left: units, state, links, local disks, and the kits on the
    shared disks (wiped with the disks mounted on n1 once nothing else mounts them)."""
    for node in NODES:
        sh(lab, node, "systemctl stop s2s-kits.target 's2s-kits-*' 2>/dev/null; "
                      "pkill -f '^kit-'; "
                      f"rm -rf {BASEDIR} /service /disk/local /run/kit-* /run/s2s-sd/kits",
           check=False)
        clean_node(lab, node)
    sh(lab, "n1", "set -e; mkdir -p /run/kits-wipe; "
                  "for dev in ora_data ora_redo; do "
                  "mount /dev/mapper/$dev /run/kits-wipe; "
                  f"(cd /run/kits-wipe && rm -rf {KIT_NAMES} .s2s-sd-*); "
                  "umount /run/kits-wipe; done; rmdir /run/kits-wipe")


@pytest.fixture(scope="module")
def kits_lab(lab_manager: Any) -> Iterator[LabNodes]:
    lab = lab_manager.get(cluster=False)
    clean(lab)
    sh(lab, "n1", f"mkdir -p {BASEDIR}")
    lab.exec("n1", ["tee", f"{BASEDIR}/s2s.toml"], input=SITE)
    ok(s2s(lab, "n1", "sync"))
    ok(s2s(lab, "n1", "start", "kits"))
    assert holder(lab) == "n1"
    # the group runs with no kit at all; kits come onto its disks while it runs
    put_kit(lab, "n1", "/disk/kits/00/alpha")
    put_kit(lab, "n1", "/disk/kits/01/beta")
    link(lab, ("n1", "n2"), "00", "alpha", "/disk/kits/00/alpha")
    link(lab, ("n1", "n2"), "01", "beta", "/disk/kits/01/beta")
    for node in ("n1", "n2"):
        sh(lab, node, "mkdir -p /disk/local/00")  # a local (non-failover) disk
    yield lab
    clean(lab)


@pytest.fixture
def site(kits_lab: LabNodes, lab: LabNodes) -> LabNodes:
    """The kits site, with every node up (a failed test may have left one down)."""
    return lab


def test_start_in_order_stop_in_reverse_and_state(site: LabNodes) -> None:
    ok(s2s(site, "n1", "stop", "kits"))
    clear_events(site)
    ok(s2s(site, "n1", "start", "kits"))
    assert events(site, "n1") == ["start alpha", "start beta"]
    assert daemons(site, "n1") == ["kit-alpha", "kit-beta"]
    status = ok(s2s(site, "n1", "kits", "status", "--group", "kits")).stdout
    assert "alpha" in status and "running (started here)" in status, status
    journal = sh(site, "n1", "journalctl -u s2s-kits-kits.service -b --no-pager -n 50").stdout
    assert "alpha start: alpha is up" in journal, journal  # kit output logged

    clear_events(site)
    ok(s2s(site, "n1", "stop", "kits"))
    assert events(site, "n1") == ["stop beta", "stop alpha"]
    assert daemons(site, "n1") == []
    ok(s2s(site, "n1", "start", "kits"))


def test_relocate_refused_while_running(site: LabNodes) -> None:
    host = holder(site)
    before = fingerprint(site, host, "/disk/kits/00/alpha")
    result = s2s(site, host, "relocate", "alpha", "--to", "local")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "running" in result.stderr
    after = fingerprint(site, host, "/disk/kits/00/alpha")
    assert before == after
    assert sh(site, host, "readlink /service/00/alpha").stdout.strip() == "/disk/kits/00/alpha"


def test_kit_added_while_running_starts_at_next_move_and_where(site: LabNodes) -> None:
    source = holder(site)
    target = "n2" if source == "n1" else "n1"
    put_kit(site, source, "/disk/kits/01/gamma")
    link(site, ("n1", "n2"), "01", "gamma", "/disk/kits/01/gamma")
    status = s2s(site, source, "kits", "status", "--group", "kits").stdout
    assert "gamma" in status and "stopped" in status, status
    clear_events(site)
    ok(s2s(site, "n1", "move", "kits", "--to", target))
    assert holder(site) == target
    assert events(site, source) == ["stop beta", "stop alpha"]  # gamma was not running
    assert events(site, target) == ["start alpha", "start beta", "start gamma"]
    assert daemons(site, target) == ["kit-alpha", "kit-beta", "kit-gamma"]
    assert daemons(site, source) == []

    here = where(site, target, "gamma")
    assert (here["configured"], here["available"], here["running"]) == (True, True, True)
    assert here["holder"]["groups"] == {"kits": [target]}
    there = where(site, source, "gamma")
    assert (there["configured"], there["available"]) == (True, False)
    assert there["running_on"] == {target: True}
    assert there["holder"]["groups"] == {"kits": [target]}
    text = ok(s2s(site, source, "where", "alpha")).stdout
    assert f"running: yes (on {target})" in text and f"group kits on {target}" in text, text


def test_check_names_a_broken_kit_where_the_disks_are(site: LabNodes) -> None:
    host = holder(site)
    other = "n2" if host == "n1" else "n1"
    put_kit(site, host, "/disk/kits/00/broken")
    sh(site, host, "printf '#!/bin/bash\\nif then\\n' > /disk/kits/00/broken/sbin/stop")
    try:
        result = s2s(site, host, "check")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "groups.kits.services.kits: kit broken (/disk/kits/00/broken): sbin/stop: " \
               "bash -n:" in result.stderr, result.stderr
        assert ok(s2s(site, other, "check")).returncode == 0  # not mounted there
        refused = s2s(site, host, "kits", "check", "--group", "kits")
        assert refused.returncode == 6, refused.stdout + refused.stderr
    finally:
        sh(site, host, "rm -rf /disk/kits/00/broken")


def test_relocate_from_a_local_disk_into_the_group_and_back(site: LabNodes) -> None:
    host = holder(site)
    other = "n2" if host == "n1" else "n1"
    local = "/disk/local/00/delta"
    put_kit(site, host, local)
    sh(site, host, f"""set -e
        mkdir -p {local}/data/sub
        head -c 2000000 /dev/urandom > {local}/data/table.dbf
        echo secret > {local}/data/sub/pw && chmod 600 {local}/data/sub/pw
        ln {local}/data/sub/pw {local}/data/pw.hardlink
        ln -s table.dbf {local}/data/current
        chown -R nobody:nogroup {local}/data/sub
        touch -d 2001-02-03 {local}/data/table.dbf
        python3 -c 'import os; os.setxattr("{local}/data/table.dbf", "user.kit", b"kept")'
        mkdir -p /service/00 && ln -sfn {local} /service/00/delta""")
    before = fingerprint(site, host, local)
    plan = ok(s2s(site, host, "relocate", "delta", "--to", "kits", "--dry-run")).stdout
    assert "plan (nothing changed)" in plan and f"set the links on {other}" in plan, plan
    assert sh(site, host, "readlink /service/00/delta").stdout.strip() == local

    ok(s2s(site, host, "relocate", "delta", "--to", "kits"))
    assert sh(site, host, "readlink /service/00/delta").stdout.strip() == "/disk/kits/00/delta"
    assert sh(site, other, "readlink /service/00/delta").stdout.strip() == \
        "/disk/kits/00/delta"
    moved = fingerprint(site, host, "/service/00/delta/")
    assert moved == before
    assert sh(site, host, "ls -A /disk/local/00").stdout.startswith(".s2s-sd-old.delta.")
    into = where(site, other, "delta")
    assert (into["configured"], into["available"]) == (True, False)
    assert into["holder"]["groups"] == {"kits": [host]}

    # a system path of the service moves into its tree, on every host of the group
    sh(site, host, "mkdir -p /var/lib/delta/db && head -c 100000 /dev/urandom > "
                   "/var/lib/delta/db/file && chmod 640 /var/lib/delta/db/file")
    sh(site, other, "rm -rf /var/lib/delta")
    data = fingerprint(site, host, "/var/lib/delta")
    ok(s2s(site, host, "link", "/var/lib/delta", "delta"))
    for node in (host, other):
        assert sh(site, node, "readlink /var/lib/delta").stdout.strip() == \
            "/service/00/delta/var/lib/delta"
    assert fingerprint(site, host, "/disk/kits/00/delta/var/lib/delta") == data
    ok(s2s(site, host, "link", "--undo", "/var/lib/delta"))
    assert fingerprint(site, host, "/var/lib/delta") == data
    assert not sh(site, host, "test -L /var/lib/delta", check=False).ok
    assert not sh(site, other, "test -e /var/lib/delta -o -L /var/lib/delta", check=False).ok
    sh(site, host, "rm -rf /var/lib/delta")

    ok(s2s(site, host, "relocate", "delta", "--to", "local"))
    assert sh(site, host, "readlink /service/00/delta").stdout.strip() == local
    back = fingerprint(site, host, local)
    assert back == before
    assert not sh(site, other, "test -L /service/00/delta", check=False).ok
    purged = ok(s2s(site, host, "relocate", "delta", "--purge")).stdout
    assert "2 old copies deleted" in purged, purged
    assert sh(site, host, "ls -A /disk/kits/00 /disk/local/00").stdout.count(".s2s-sd") == 0
