"""What the runtime commands ask of an engine, whichever it is: move, start, stop, recover,
status, and the fire drill of one group on one host for `move --dry-run`.

`choose.open_engine` picks the engine once, from the definitions' `engine` setting; the
CLI then calls through this protocol and prints. Each engine names the options it
honours (`options`); a move with an option of the other engine is refused (exit 2)
before anything is asked of a host. Start and stop ignore the other engine's options,
as they always did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Self

from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions
from s2s_sd.model import Engine as EngineKind

if TYPE_CHECKING:  # the reports' modules are imported by the engines that build them
    from s2s_sd.drill import DrillReport
    from s2s_sd.status import StatusReport


@dataclass(frozen=True)
class RunOptions:
    """The runtime commands' options; the defaults mean "not given"."""

    break_lock: bool = False  # systemd engine: break a stale admin lock
    force: bool = False  # systemd engine: move although the source is unreachable
    timeout: float | None = None  # Pacemaker engine: how long to wait
    lifetime: str | None = None  # Pacemaker engine: how long a move's preference lasts
    keep_constraint: bool = False  # Pacemaker engine: keep a failed move's constraint

    def given(self) -> frozenset[str]:
        """The names of the options given (not at their default)."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name) != f.default)


class Engine(Protocol):
    kind: EngineKind
    options: frozenset[str]  # the RunOptions this engine honours

    def move(self, group: str, to: str, options: RunOptions, dry_run: bool = False
             ) -> list[str]:
        """Move GROUP to TO; the steps (of the plan, with dry_run: nothing changed)."""
        ...

    def start(self, group: str, options: RunOptions) -> str:
        """Start GROUP; the host it runs on."""
        ...

    def stop(self, group: str, options: RunOptions) -> list[str]:
        """Stop GROUP; the hosts it was stopped on."""
        ...

    def recover(self, group: str, options: RunOptions) -> str:
        """Finish or roll back GROUP's interrupted move; the host it runs on."""
        ...

    def status(self) -> StatusReport: ...

    def drill_target(self, group: str, host: str) -> DrillReport:
        """Could HOST take GROUP? The fire drill of that one cell."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Engine: ...

    def __exit__(self, *_exc: object) -> None: ...


class EngineAdmin:
    """What both engines' implementations hold: the definitions, the base dir, the
    administering host and where progress lines and warnings go."""

    def __init__(self, defs: Definitions, basedir: Path, host: str,
                 progress: Callable[[str], None], on_warning: Callable[[str], None]) -> None:
        self.defs = defs
        self.basedir = basedir
        self.host = host
        self.progress = progress
        self.on_warning = on_warning

    def close(self) -> None:
        """Nothing stays open unless an engine says otherwise."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def require_member(defs: Definitions, host: str) -> None:
    """The administering host must be one of the host group's."""
    if host not in defs.hostgroup.host_names:
        raise BadInput(f"this host ({host}) is not in host group {defs.hostgroup.name}")
