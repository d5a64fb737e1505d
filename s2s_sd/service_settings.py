"""The [Service] settings an exec member may pass through to its unit (pure).

An allow-list, each setting with the TOML value it takes and what it becomes on the unit
line: sandboxing (NoNewPrivileges, ProtectSystem, ...), file-system access
(ReadWritePaths, ...), capabilities and system calls, resource limits and the
environment. Settings s2s-sd writes itself (ExecStart=, User=, Type=, Restart=,
KillMode=, the timeouts) or that would change how the member is run (DynamicUser=, which
would hide its files from the next host) are not on the list.

`convert` turns a definition's value into the unit line's words, or says why it cannot;
load.py checks with it (so `check` names FILE:LINE), render/systemd.py writes the words
escaped as systemd reads them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from s2s_sd.tomlpos import toml_type

# a setting's words on its line: "yes", "strict", the paths of ReadWritePaths, ...
Words = tuple[str, ...]
Converter = Callable[[Any], Words | str]  # the words, or a message

_PATH = re.compile(r"-?/[^\s\"'\\%$]*\Z")  # "-" first: ignore a missing path
_CAPABILITY = re.compile(r"CAP_[A-Z_]+\Z")
_SYSCALL = re.compile(r"@?[a-z0-9_-]+(:[A-Z0-9]+)?\Z")
_FAMILY = re.compile(r"AF_[A-Z0-9]+\Z")
_NAME = re.compile(r"[a-z_][a-z0-9_-]*\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SIZE = re.compile(r"[0-9]+[KMGT]?\Z|[0-9]+%\Z")


def _boolean(value: Any) -> Words | str:
    if not isinstance(value, bool):
        return f"must be true or false, not {toml_type(value)}"
    return ("yes" if value else "no",)


def _boolean_or(*words: str) -> Converter:
    def convert(value: Any) -> Words | str:
        if isinstance(value, bool):
            return _boolean(value)
        if isinstance(value, str) and value in words:
            return (value,)
        return f"must be true, false or one of {', '.join(repr(w) for w in words)}"
    return convert


def _one_of(*words: str) -> Converter:
    def convert(value: Any) -> Words | str:
        if isinstance(value, str) and value in words:
            return (value,)
        return f"must be one of {', '.join(repr(w) for w in words)}"
    return convert


def _matching(pattern: re.Pattern[str], what: str, negatable: bool = False) -> Converter:
    """A list of strings, each matching pattern (with a leading ~ when negatable: the
    whole list then means "all but these", as systemd reads it)."""
    def convert(value: Any) -> Words | str:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"must be a list of {what}"
        for position, item in enumerate(value, start=1):
            bare = item[1:] if negatable and position == 1 and item.startswith("~") else item
            if not pattern.match(bare):
                return f"element {position} {item!r} is not {what}"
        return tuple(value)
    return convert


def _integer(low: int, high: int, words: tuple[str, ...] = ()) -> Converter:
    def convert(value: Any) -> Words | str:
        if isinstance(value, str) and value in words:
            return (value,)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            extra = f" or {', '.join(repr(w) for w in words)}" if words else ""
            return f"must be an integer {low}..{high}{extra}"
        return (str(value),)
    return convert


def _size(value: Any) -> Words | str:
    """Bytes (an integer, or "512M", "2G"), a percentage ("50%") or "infinity"."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return (str(value),)
    if isinstance(value, str) and (value == "infinity" or _SIZE.match(value)):
        return (value,)
    return 'must be bytes (an integer, "512M", "2G"), a percentage ("50%") or "infinity"'


def _percent(value: Any) -> Words | str:
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,5}%", value):
        return (value,)
    return 'must be a percentage, e.g. "50%" (200% = two CPUs)'


def _umask(value: Any) -> Words | str:
    if isinstance(value, str) and re.fullmatch(r"0?[0-7]{3}", value):
        return (value.zfill(4),)
    return 'must be an octal mode as a string, e.g. "0077"'


def _absolute(value: Any) -> Words | str:
    if isinstance(value, str) and _PATH.match(value) and not value.startswith("-"):
        return (value,)
    return "must be an absolute path (no blanks, quotes, %, $ or backslashes)"


def _group(value: Any) -> Words | str:
    if isinstance(value, str) and _NAME.match(value):
        return (value,)
    return "must be a group name"


def _environment(value: Any) -> Words | str:
    """A table NAME = "value": one Environment= line each, in name order."""
    if not isinstance(value, dict):
        return f"must be a table of NAME = \"value\", not {toml_type(value)}"
    words = []
    for name, item in sorted(value.items()):
        if not _ENV_NAME.match(name):
            return f"{name!r} is not a variable name (letters, digits, _)"
        if not isinstance(item, str):
            return f"{name!r} must be a string, not {toml_type(item)}"
        words.append(f"{name}={item}")
    return tuple(words)


_LIMIT = _integer(0, 2**63 - 1, ("infinity",))

ALLOWED: Mapping[str, Converter] = {
    # sandboxing: what `systemd-analyze security` rates
    **dict.fromkeys((
        "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "PrivateNetwork", "PrivateUsers",
        "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
        "ProtectControlGroups", "ProtectClock", "ProtectHostname", "RestrictSUIDSGID",
        "RestrictRealtime", "RestrictNamespaces", "LockPersonality", "MemoryDenyWriteExecute",
        "RemoveIPC"), _boolean),
    "ProtectSystem": _boolean_or("full", "strict"),
    "ProtectHome": _boolean_or("read-only", "tmpfs"),
    "ProtectProc": _one_of("default", "noaccess", "invisible", "ptraceable"),
    "ProcSubset": _one_of("all", "pid"),
    "SystemCallArchitectures": _one_of("native"),
    "SystemCallFilter": _matching(_SYSCALL, "a system call or @group", negatable=True),
    "CapabilityBoundingSet": _matching(_CAPABILITY, "a capability (CAP_...)", negatable=True),
    "AmbientCapabilities": _matching(_CAPABILITY, "a capability (CAP_...)"),
    "RestrictAddressFamilies": _matching(_FAMILY, "an address family (AF_...)",
                                         negatable=True),
    "UMask": _umask,
    # file-system access
    **dict.fromkeys(("ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths"),
                    _matching(_PATH, "an absolute path (\"-\" first: may be missing)")),
    "WorkingDirectory": _absolute,
    "Group": _group,
    "SupplementaryGroups": _matching(_NAME, "a group name"),
    # resources
    **dict.fromkeys(("LimitNOFILE", "LimitNPROC", "LimitCORE", "LimitMEMLOCK", "LimitSTACK"),
                    _LIMIT),
    "TasksMax": _integer(1, 2**63 - 1, ("infinity",)),
    "MemoryMax": _size,
    "MemoryHigh": _size,
    "CPUQuota": _percent,
    "Nice": _integer(-20, 19),
    "OOMScoreAdjust": _integer(-1000, 1000),
    # the environment
    "Environment": _environment,
}


def convert(name: str, value: Any) -> Words | str:
    """The unit line words of setting `name` (which must be in ALLOWED), or a message."""
    return ALLOWED[name](value)


def lines(settings: tuple[tuple[str, Words], ...]) -> list[tuple[str, Words]]:
    """(directive, words) per unit line: Environment gives one line per variable."""
    out: list[tuple[str, Words]] = []
    for name, words in settings:
        if name == "Environment":
            out += [(name, (word,)) for word in words]
        else:
            out.append((name, words))
    return out
