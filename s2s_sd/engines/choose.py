"""The one place the engine is chosen: from the definitions' `engine` setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from s2s_sd.engines.engine import Engine
from s2s_sd.engines.systemd.engine import SystemdEngine
from s2s_sd.model import Definitions
from s2s_sd.model import Engine as EngineKind


def open_engine(defs: Definitions, basedir: Path, host: str, progress: Callable[[str], None],
                on_warning: Callable[[str], None]) -> Engine:
    """The engine of DEFS' host group, administered from HOST. Nothing is asked of any
    host until a method is called."""
    if defs.hostgroup.engine is EngineKind.PACEMAKER:
        # imported only then: the cluster's tools and their parsers
        from s2s_sd.engines.pacemaker.engine import PacemakerEngine

        return PacemakerEngine(defs, basedir, host, progress, on_warning)
    return SystemdEngine(defs, basedir, host, progress, on_warning)
