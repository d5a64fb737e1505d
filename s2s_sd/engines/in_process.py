"""The host-group session as the runtime opens it: this host is asked in-process, through
the agent's own operations table (agent/dispatch.py), every other host over ssh.

The hosts room (hosts/session.py) may not import the agent; the runtime, which may, hands
the in-process handler to the session's transport here, for every caller that needs a
session without an engine's orchestration: the guard, kits relocation, `host remove`,
`sync`, the Pacemaker engine's status and fire drill.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from s2s_sd.hosts.session import Clock, HostGroupSession, Progress, quiet
from s2s_sd.hosts.transport import Transport
from s2s_sd.model import Definitions
from s2s_sd.timings import Timings


def in_process_transport(defs: Definitions, basedir: Path, host: str) -> Transport:
    """A transport that answers this host's requests in this process."""
    from s2s_sd.agent.core_ops import AgentContext
    from s2s_sd.agent.dispatch import dispatch

    context = AgentContext(basedir=basedir, host=host, _defs=defs)

    def in_process(op: str, args: Mapping[str, Any]) -> dict[str, Any]:
        return dispatch(context, op, args)

    return Transport(defs, host, basedir, in_process)


def open_session(defs: Definitions, basedir: Path, host: str,
                 transport: Transport | None = None, progress: Progress = quiet,
                 clock: Clock = time.time, on_warning: Progress = quiet,
                 timings: Timings | None = None) -> HostGroupSession:
    """A session of HOST with its host group (TRANSPORT: one given, e.g. by a test)."""
    return HostGroupSession(defs, basedir, host,
                            transport or in_process_transport(defs, basedir, host),
                            progress=progress, clock=clock, on_warning=on_warning,
                            timings=timings)
