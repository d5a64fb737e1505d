"""The host as a whole: on the admin's configuration generation (and its base dir not
changed by hand since), the same s2s-sd version, and the installed OCF agents, helpers
and units exactly those the admin's version generates."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.drill import Finding, Level, for_groups
from s2s_sd.errors import BadInput
from s2s_sd.hosts import sync
from s2s_sd.hosts.archive import content_digest

SHOWN_PATHS = 3  # differing files named in a finding; the rest are counted


def file_digest(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def check_generation(facts: HostFacts, groups: Iterable[str], number: int, digest: str
                     ) -> list[Finding]:
    host, check = facts.host, "host.generation"
    mine = sync.read_generation(facts.defs.hostgroup.name)
    if number == 0:
        return for_groups(host, groups, Level.FAIL, check,
                          "the admin host never synced: run `s2s-sd sync`")
    if mine.number != number or mine.digest != digest:
        what = (f"generation {mine.number}" if mine.number != number
                else f"another generation {number} (a sync from elsewhere)")
        return for_groups(host, groups, Level.FAIL, check,
                          f"has {what}, the admin host {number}: run `s2s-sd sync`")
    try:
        actual = content_digest(facts.basedir)
    except (BadInput, OSError) as exc:
        actual = f"unreadable ({exc})"
    if actual != digest:
        return for_groups(host, groups, Level.FAIL, check,
                          f"{facts.basedir} was changed by hand since generation {number}: "
                          "run `s2s-sd sync`")
    return for_groups(host, groups, Level.OK, check, f"on generation {number}")


def check_version(facts: HostFacts, groups: Iterable[str], admin_version: str,
                  own_version: str) -> list[Finding]:
    if admin_version != own_version:
        return for_groups(facts.host, groups, Level.FAIL, "host.version",
                          f"s2s-sd {own_version} here, {admin_version} on the admin host")
    return for_groups(facts.host, groups, Level.OK, "host.version", f"s2s-sd {own_version}")


def check_installed(facts: HostFacts, groups: Iterable[str], expected: Mapping[str, str]
                    ) -> list[Finding]:
    """EXPECTED: absolute path -> sha256 of what the admin's version installs there."""
    groups = list(groups)
    missing, differing = [], []
    for path, digest in sorted(expected.items()):
        actual = file_digest(path)
        if actual is None:
            missing.append(path)
        elif actual != digest:
            differing.append(path)
    if not missing and not differing:
        return for_groups(facts.host, groups, Level.OK, "host.installed",
                          f"{len(expected)} installed agents, helpers and units match the "
                          "admin host's")
    parts = []
    for label, paths in (("missing", missing), ("different", differing)):
        if paths:
            more = f" and {len(paths) - SHOWN_PATHS} more" if len(paths) > SHOWN_PATHS else ""
            parts.append(f"{label}: {', '.join(paths[:SHOWN_PATHS])}{more}")
    return for_groups(facts.host, groups, Level.FAIL, "host.installed",
                      "installed files differ from the admin host's version ("
                      + "; ".join(parts) + "): run `s2s-sd sync` or `s2s-sd apply`")


