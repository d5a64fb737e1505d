"""The resource agents of the rendered CIB (pure): which agent a member gets, the timeouts
and monitor each agent advises (and the warning when a member gives less), and s2s-sd's
own agents, shipped as package data (s2s_sd/ocf/).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from s2s_sd.model import (
    ExecService,
    IpService,
    KitsService,
    MountService,
    ScriptService,
    Service,
    SystemdService,
)
from s2s_sd.naming import member_unit
from s2s_sd.paths import OCF_DIR

AGENT_PROVIDER = "s2s"
AGENT_TYPE = "script"
HOOK_AGENT_TYPE = "hook"
KITS_AGENT_TYPE = "kits"
UNIT_AGENT_TYPE = "unit"
ALERT_AGENT_TYPE = "alert"  # not an OCF agent: Pacemaker's alert agent for notify hooks
ALERT_AGENT_PATH = posixpath.join(OCF_DIR.default, ALERT_AGENT_TYPE)
# the runtime drop-in ocf:s2s:unit writes before a start (/run/systemd/system/UNIT.d/)
UNIT_AGENT_DROPIN = "50-s2s-pacemaker.conf"


@dataclass(frozen=True)
class Agent:
    cls: str
    provider: str | None
    type: str
    start: int  # default timeouts (s) and monitor interval/timeout, as the agents advise
    stop: int
    interval: int
    monitor_timeout: int

    @property
    def name(self) -> str:
        return ":".join(p for p in (self.cls, self.provider, self.type) if p)


_FILESYSTEM = Agent("ocf", "heartbeat", "Filesystem", 60, 60, 20, 40)
_IPADDR2 = Agent("ocf", "heartbeat", "IPaddr2", 20, 20, 10, 20)
_SCRIPT = Agent("ocf", AGENT_PROVIDER, AGENT_TYPE, 60, 60, 30, 30)
# a hook may take its time (300 s, as under the systemd engine) plus the agent's margin
HOOK = Agent("ocf", AGENT_PROVIDER, HOOK_AGENT_TYPE, 320, 320, 60, 20)
# every kit may take its kit_timeout: the member's defaults leave room for a few
_KITS = Agent("ocf", AGENT_PROVIDER, KITS_AGENT_TYPE, 600, 600, 30, 60)
# exec and systemd members: start/stop as Pacemaker's systemd class advises, monitor as
# the agent advises (it asks systemd once: no need for the class's 100 s)
_UNIT = Agent("ocf", AGENT_PROVIDER, UNIT_AGENT_TYPE, 100, 100, 30, 30)
STONITH_MONITOR = (60, 20)
# the agents s2s-sd uses but does not ship: their advice is checked against the installed
# agents' meta-data (tests/tools/test_pacemaker_marks.py)
FOREIGN_AGENTS = (_FILESYSTEM, _IPADDR2)


def agent_text(name: str = AGENT_TYPE) -> str:
    """An OCF agent shipped as package data (s2s_sd/ocf/NAME)."""
    return resources.files("s2s_sd").joinpath("ocf", name).read_text(encoding="utf-8")


def agent_of(service: Service) -> Agent:
    if isinstance(service, MountService):
        return _FILESYSTEM
    if isinstance(service, IpService):
        return _IPADDR2
    if isinstance(service, ScriptService):
        return _SCRIPT
    if isinstance(service, KitsService):
        return _KITS
    if unit_of(service) is None:
        raise TypeError(f"no Pacemaker rendering for {type(service).__name__}")
    return _UNIT


def unit_of(service: Service) -> str | None:
    """The systemd unit ocf:s2s:unit drives for an exec or systemd member."""
    if isinstance(service, SystemdService):
        return service.unit
    if isinstance(service, ExecService):
        return member_unit(service.group, service.name)
    return None


def below_advice(service: Service) -> Iterator[str]:
    """A timeout below what the resource agent advises (crmsh warns about it too): the
    agent may be killed while it still does its work (a busy filesystem's unmount)."""
    agent = agent_of(service)
    if agent.provider == AGENT_PROVIDER:
        return  # s2s-sd's own agents take the member's timeouts as they are
    for key, given, advised in (("start_timeout", service.start_timeout, agent.start),
                                ("stop_timeout", service.stop_timeout, agent.stop)):
        if given is not None and given < advised:
            yield (f"{service.origin.file}:{service.line_of(key)}: groups.{service.group}."
                   f"services.{service.name}.{key}: {given} s is below the {advised} s "
                   f"{agent.name} advises")
