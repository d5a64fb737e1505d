"""The nodes' root filesystem: debootstrap once, then a cached tar.zst keyed by its recipe.

The cache key hashes the suite, the package list and RECIPE_VERSION (bump it when
`_customize` changes), so a changed list rebuilds the root by itself. All nodes share one
extracted copy read-only (the overlayfs lower dir); each node writes to its own upper dir.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from s2s_sd.run import run

SUITE = "bookworm"
# Bump when _customize changes what ends up in the root: the key must change with it.
RECIPE_VERSION = "3"
PACKAGES = (
    "corosync",
    "dbus",
    "e2fsprogs",
    "iproute2",
    "iputils-ping",
    "kmod",  # modprobe: ocf:heartbeat:Filesystem refuses to run without it (not installed)
    "libxml2-utils",  # xmllint, used by ocf-tester inside a node
    "lsof",
    "openssh-client",
    "openssh-server",
    "pacemaker",
    "pacemaker-cli-utils",
    "procps",
    "psmisc",  # fuser/killall: minbase has neither
    "python3",
    # what the s2s-sd package depends on beyond the above: the package-mode lab installs
    # the built .deb from a local file, with no registry reachable from the nodes
    "python3-click",
    "python3-jinja2",
    "python3-lxml",
    "python3-pyroute2",
    "python3-pystemd",
    "resource-agents",
    "systemd",
    "systemd-sysv",
    "util-linux",
)
DEFAULT_CACHE_DIR = Path("/var/cache/s2s-sd-lab")
CACHE_ENV = "S2S_SD_LAB_CACHE"
# Written into the extracted root so a reused lower dir is known to match the cache key.
KEY_FILE = ".s2s-sd-lab-key"
APT_SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)


def recipe_key(packages: tuple[str, ...] = PACKAGES, suite: str = SUITE) -> str:
    recipe = "\n".join([RECIPE_VERSION, suite, *sorted(packages)])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def tarball_path(key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"rootfs-{SUITE}-{key}.tar.zst"


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES, suite: str = SUITE) -> str:
    """The machine's own Debian mirror for SUITE, read from its apt sources.

    The lab must use whatever mirror this machine is allowed to reach, so it is never
    written into the repository.
    """
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files.extend(sorted(source.glob("*.sources")) + sorted(source.glob("*.list")))
        elif source.is_file():
            files.append(source)
    for path in files:
        text = path.read_text(errors="replace")
        mirror = (
            _mirror_from_deb822(text, suite)
            if path.suffix == ".sources"
            else _mirror_from_one_line(text, suite)
        )
        if mirror:
            return mirror
    raise LabError(
        f"no apt source for Debian {suite} found in {', '.join(map(str, sources))}: "
        "debootstrap needs the machine's mirror"
    )


def _mirror_from_deb822(text: str, suite: str) -> str | None:
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            uris = fields.get("uris", "").split()
            if uris:
                return uris[0]
    return None


def _mirror_from_one_line(text: str, suite: str) -> str | None:
    for line in text.splitlines():
        words = [w for w in line.split() if not w.startswith("[")] if line.strip() else []
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            return words[1]
    return None


@dataclass(frozen=True)
class RootfsReport:
    """How the lower root came to be: for the timing figures of the lab tier."""

    path: Path
    key: str
    built: bool  # debootstrap ran (cold)
    extracted: bool  # the cached tarball was unpacked (warm, but the root was removed)
    seconds: float


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Two labs building the same root at once would corrupt the cache: serialize them."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lower_root_path(key: str, directory: Path | None = None) -> Path:
    return (directory or cache_dir()) / f"root-{SUITE}-{key}"


def ensure_lower_root(*, log: Path | None = None) -> RootfsReport:
    """The shared read-only root of the current recipe, in the cache dir next to its
    tarball; debootstrap (cold) or unpack the tarball (warm) only when it is missing."""
    started = time.monotonic()
    key = recipe_key()
    lower = lower_root_path(key)
    with _exclusive(cache_dir() / ".lock"):
        if _holds_key(lower, key):
            return RootfsReport(lower, key, False, False, time.monotonic() - started)
        for stale in cache_dir().glob(f"root-{SUITE}-*"):
            _remove_tree(stale)  # roots of older recipes: ~470 MB each
        tarball = tarball_path(key)
        if not tarball.is_file():
            _build(tarball, lower, key, log)
            return RootfsReport(lower, key, True, False, time.monotonic() - started)
        staging = lower.with_name(lower.name + ".partial")
        _remove_tree(staging)
        staging.mkdir(parents=True)
        run(_tar_extract(tarball, staging), timeout=300)
        staging.rename(lower)
        return RootfsReport(lower, key, False, True, time.monotonic() - started)


def _holds_key(lower: Path, key: str) -> bool:
    marker = lower / KEY_FILE
    return marker.is_file() and marker.read_text().strip() == key


def _build(tarball: Path, lower: Path, key: str, log: Path | None) -> None:
    build = tarball.parent / f"build-{key}"
    _remove_tree(build)
    mirror = debian_mirror()
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(build),
        mirror,
    ]
    # debootstrap prints hundreds of lines; keep them for when it fails.
    result = run(argv, check=False, timeout=1800)
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(result.stdout + result.stderr)
    if not result.ok:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise LabError(f"debootstrap of the node root failed ({result.returncode}):\n{tail}")
    _customize(build)
    (build / KEY_FILE).write_text(key + "\n")
    partial = tarball.with_name(tarball.name + ".partial")
    run(_tar_create(build, partial), timeout=600)
    partial.rename(tarball)
    build.rename(lower)  # the tarball's twin: no need to unpack what is already here


def _customize(root: Path) -> None:
    """Changes every node shares; per-node identity is written at boot time by nspawn.py."""
    # Per-node host keys are generated by the lab; identical keys on all nodes would make
    # known_hosts meaningless.
    for key_file in (root / "etc/ssh").glob("ssh_host_*"):
        key_file.unlink()
    # An empty machine-id: each node gets a fresh one in its upper dir.
    (root / "etc/machine-id").write_text("")
    dbus_id = root / "var/lib/dbus/machine-id"
    if dbus_id.is_symlink() or dbus_id.exists():
        dbus_id.unlink()
    dbus_id.symlink_to("/etc/machine-id")
    # Static addresses come from systemd-networkd. The cluster stack is enabled per lab
    # (cluster=True) so that nodes of a systemd-engine lab run no corosync.
    run(["systemctl", f"--root={root}", "enable", "systemd-networkd.service"])
    run(["systemctl", f"--root={root}", "disable", "corosync.service", "pacemaker.service"])
    for leftover in (root / "var/cache/apt/archives").glob("*.deb"):
        leftover.unlink()
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)


def _tar_create(root: Path, tarball: Path) -> list[str]:
    return [
        "tar", "--create", "--file", str(tarball), "--use-compress-program=zstd -T0 -3",
        "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
        "--directory", str(root), ".",
    ]


def _tar_extract(tarball: Path, root: Path) -> list[str]:
    return [
        "tar", "--extract", "--file", str(tarball), "--use-compress-program=zstd",
        "--numeric-owner", "--same-permissions", "--xattrs", "--xattrs-include=*", "--acls",
        "--directory", str(root),
    ]


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)
