"""What users declare: the host group, its hosts, fencing and service groups.

Frozen dataclasses, built only by load.py. Every object remembers where it was declared
(`origin`) and where each of its keys stands (`key_lines`), so validation can name
FILE:LINE for any problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class Engine(StrEnum):
    SYSTEMD = "systemd"
    PACEMAKER = "pacemaker"


@dataclass(frozen=True)
class Origin:
    """Where something was declared: file relative to the base dir, 1-based line."""

    file: str
    line: int


def _no_lines() -> Mapping[str, int]:
    return MappingProxyType({})


def _no_files() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class Declared:
    """Base of everything with a position in the definition files."""

    origin: Origin
    # key -> line of that key inside the declaring table (missing keys: use origin.line)
    key_lines: Mapping[str, int] = field(default_factory=_no_lines, compare=False, repr=False)

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.origin.line)


@dataclass(frozen=True, kw_only=True)
class Host(Declared):
    name: str
    address: str | None = None
    # fingerprint of the ssh host key `host add` verified, "ssh-ed25519 SHA256:..."
    host_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class FenceDevice(Declared):
    name: str
    agent: str
    hosts: tuple[str, ...]
    params: tuple[tuple[str, str], ...] = ()
    # parameter name -> file (relative to the base dir) holding the secret value
    secret_params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class Fencing(Declared):
    enabled: bool
    devices: tuple[FenceDevice, ...] = ()


# the one wording of the warning that check, generate, apply and status give
FENCING_DISABLED = ("fencing is disabled ([fencing] enabled = false, stonith-enabled=false): "
                    "nothing protects shared data when a host hangs (acceptable in a lab "
                    "only)")


@dataclass(frozen=True, kw_only=True)
class Service(Declared):
    """A member of a group. Subclasses carry the type-specific settings."""

    name: str
    group: str
    start_timeout: int | None = None
    stop_timeout: int | None = None
    monitor_interval: int | None = None
    # the required keys the definition lacks (load.py reported each): placeholders stand
    # in for them, so the keys that are there are still checked, and validate.py says
    # nothing about the placeholders
    incomplete: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    TYPE = ""  # overridden by every subclass; the `type` key of the definition


@dataclass(frozen=True, kw_only=True)
class MountService(Service):
    TYPE = "mount"
    device: str
    mountpoint: str
    fstype: str
    options: str | None = None


@dataclass(frozen=True, kw_only=True)
class IpService(Service):
    TYPE = "ip"
    address: str  # "10.1.2.3/24" or "fd00::5/64"
    interface: str | None = None
    alias: str | None = None


@dataclass(frozen=True, kw_only=True)
class ScriptService(Service):
    TYPE = "script"
    script: str  # relative to the base dir, e.g. "init.d/ora_listener"
    config: str | None = None


@dataclass(frozen=True, kw_only=True)
class SystemdService(Service):
    TYPE = "systemd"
    unit: str


@dataclass(frozen=True, kw_only=True)
class ReadyCheck(Declared):
    """When an exec member is ready: a TCP port that accepts a connection, or a command
    (argv) that exits 0. Exactly one of the two is set."""

    tcp: tuple[str, int] | None = None  # (host, port); an IPv6 host without brackets
    command: tuple[str, ...] | None = None


# how long an exec member without a readiness check must stay up before it counts as
# started (`settle`); a daemon that dies on a bad configuration does so well within it
DEFAULT_SETTLE = 2
# the systemd engine's defaults for the health keys (Pacemaker has its own)
DEFAULT_MONITOR_INTERVAL = 10
DEFAULT_MIGRATION_THRESHOLD = 3
DEFAULT_FAILURE_TIMEOUT = 3600


@dataclass(frozen=True, kw_only=True)
class ExecService(Service):
    TYPE = "exec"
    command: tuple[str, ...]
    user: str | None = None
    ready: ReadyCheck | None = None
    notify: bool = False  # the program tells systemd itself (sd_notify READY=1)
    settle: int | None = None  # seconds; None: DEFAULT_SETTLE
    # allow-listed [Service] settings and their words on the unit line, checked by
    # load.py (service_settings.py): (("NoNewPrivileges", ("yes",)), ...)
    service_settings: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, kw_only=True)
class KitsService(Service):
    """Every kit (DIR/sbin/start|stop|state) found on the group's disks (kits/layout.py)."""

    TYPE = "kits"
    disks: tuple[str, ...] = ()  # mountpoints of the group's mount members; () = all of them
    kit_timeout: int | None = None  # seconds per kit script (layout.DEFAULT_KIT_TIMEOUT)


SERVICE_TYPES: Mapping[str, type[Service]] = MappingProxyType(
    {cls.TYPE: cls for cls in (MountService, IpService, ScriptService, SystemdService, ExecService,
                               KitsService)}
)


@dataclass(frozen=True, kw_only=True)
class Group(Declared):
    name: str
    description: str = ""
    hosts: tuple[str, ...] = ()  # allowed hosts in preference order (defaults filled by load)
    pre_move: str | None = None
    post_move: str | None = None
    services: tuple[Service, ...] = ()
    # Pacemaker placement knobs; None means the cluster-wide default s2s-sd writes
    stickiness: int | None = None
    migration_threshold: int | None = None
    failure_timeout: int | None = None


@dataclass(frozen=True, kw_only=True)
class HostGroup(Declared):
    name: str
    engine: Engine
    hosts: tuple[Host, ...]
    # run with every event of a group (failure, restart, give-up, moved, ...): hosts/events.py
    notify: str | None = None
    # what a host's watcher does when a group it runs is also active elsewhere (systemd
    # engine): "alarm" only, or "stop" the instance on the host it is not assigned to
    on_concurrency: str = "alarm"

    @property
    def host_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts)


CONCURRENCY_REACTIONS = ("alarm", "stop")


@dataclass(frozen=True)
class Definitions:
    """Everything in one base dir, for one host (twins resolved for `host`)."""

    hostgroup: HostGroup
    groups: tuple[Group, ...]
    fencing: Fencing | None
    host: str  # the host the file twins were resolved for
    # relative path as declared -> relative path actually used on `host` (NAME.HOST twin)
    resolved_files: Mapping[str, str] = field(default_factory=_no_files, compare=False)

    def group(self, name: str) -> Group | None:
        return next((g for g in self.groups if g.name == name), None)

    def resolved(self, relpath: str) -> str:
        return self.resolved_files.get(relpath, relpath)
