"""/etc/fstab, read the way mount(8) reads it (pure: text in, entries out).

A group's device must not be mounted at boot by the host itself: it would be mounted on
every host that boots, whoever runs the group. The drill looks for such entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """fstab writes blanks and tabs in paths as \\040 and \\011 (see fstab(5))."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


@dataclass(frozen=True)
class FstabEntry:
    line: int  # 1-based
    spec: str  # device, LABEL=..., UUID=..., PARTUUID=..., host:/export
    mountpoint: str
    fstype: str
    options: tuple[str, ...]

    @property
    def automatic(self) -> bool:
        """Mounted by `mount -a` and at boot (no `noauto`)."""
        return "noauto" not in self.options


def parse_fstab(text: str) -> list[FstabEntry]:
    """Every entry of an fstab; comments, blank and short lines are skipped (mount
    ignores them too). Missing fields take mount's defaults (type auto, options
    defaults)."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split("#", 1)[0].split() if not raw.lstrip().startswith("#") else []
        if len(fields) < 2:
            continue
        fstype = fields[2] if len(fields) > 2 else "auto"
        options = tuple(fields[3].split(",")) if len(fields) > 3 else ("defaults",)
        entries.append(FstabEntry(number, _unescape(fields[0]), _unescape(fields[1]),
                                  fstype, options))
    return entries


def normalise_spec(spec: str) -> str:
    """LABEL="x" and LABEL=x name the same device; TAG names are case-insensitive."""
    if "=" in spec and not spec.startswith("/"):
        tag, _, value = spec.partition("=")
        return f"{tag.upper()}={value.strip(chr(34)).strip(chr(39))}"
    return spec.rstrip("/") or "/"


def automatic_entries(entries: Iterable[FstabEntry], names: Iterable[str],
                      mountpoint: str) -> list[FstabEntry]:
    """The entries mounted at boot that use one of the device's NAMES (its path, its
    resolved path, LABEL=, UUID=) or its mountpoint."""
    wanted = {normalise_spec(name) for name in names}
    where = normalise_spec(mountpoint)
    return [e for e in entries if e.automatic and (
        normalise_spec(e.spec) in wanted or normalise_spec(e.mountpoint) == where)]
