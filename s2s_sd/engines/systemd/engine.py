"""The systemd engine behind the Engine protocol (engines/engine.py): one `Admin` for the
whole command, built on first use (a dry-run move and its fire drill share its
sessions to the hosts)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from s2s_sd.engines.engine import EngineAdmin, RunOptions, require_member
from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import BadInput
from s2s_sd.model import Definitions
from s2s_sd.model import Engine as EngineKind
from s2s_sd.move_plan import describe
from s2s_sd.timings import Timings

if TYPE_CHECKING:  # imported where used: a move is timed from its process start, and
    # the status model (with the crm_mon parser) and the drill are not its (16 ms)
    from s2s_sd.drill import DrillReport
    from s2s_sd.status import StatusReport


class SystemdEngine(EngineAdmin):
    kind = EngineKind.SYSTEMD
    options = frozenset({"break_lock", "force"})

    def __init__(self, defs: Definitions, basedir: Path, host: str,
                 progress: Callable[[str], None], on_warning: Callable[[str], None],
                 timings: Timings | None = None) -> None:
        super().__init__(defs, basedir, host, progress, on_warning, timings)
        self._admin: Admin | None = None

    def admin(self) -> Admin:
        if self._admin is None:
            require_member(self.defs, self.host)
            self._admin = Admin(self.defs, self.basedir, self.host, progress=self.progress,
                                on_warning=self.on_warning, watch_starts=True,
                                timings=self.timings)
        return self._admin

    def move(self, group: str, to: str, options: RunOptions, dry_run: bool = False
             ) -> list[str]:
        if options.given() - self.options:
            raise BadInput("--timeout/--lifetime/--keep-constraint are Pacemaker-engine options")
        return [describe(step) for step in self.admin().move(
            group, to, dry_run=dry_run, force=options.force, break_lock=options.break_lock)]

    def start(self, group: str, options: RunOptions) -> str:
        return self.admin().start(group, options.break_lock)

    def stop(self, group: str, options: RunOptions) -> list[str]:
        return self.admin().stop(group, options.break_lock)

    def recover(self, group: str, options: RunOptions) -> str:
        return self.admin().recover(group, options.break_lock)

    def status(self) -> StatusReport:
        return self.admin().status()

    def drill_target(self, group: str, host: str) -> DrillReport:
        from s2s_sd.hosts.drill_run import run_drill

        admin = self.admin()
        return run_drill(admin.transport, admin.defs, admin.basedir, admin.host, [group],
                         [host])

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
