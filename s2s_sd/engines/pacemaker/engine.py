"""The Pacemaker engine behind the Engine protocol (engines/engine.py): a `ClusterAdmin`
per request, closed when it is answered; its warnings go to `on_warning` after a move
and a status, as they always did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from s2s_sd.drill import DrillReport
from s2s_sd.durations import parse_lifetime
from s2s_sd.engines.engine import EngineAdmin, RunOptions, require_member
from s2s_sd.engines.pacemaker.runtime import DEFAULT_MOVE_TIMEOUT, ClusterAdmin
from s2s_sd.engines.systemd.runtime import Admin
from s2s_sd.errors import BadInput
from s2s_sd.hosts.drill_run import run_drill
from s2s_sd.model import Engine as EngineKind
from s2s_sd.status import StatusReport


class PacemakerEngine(EngineAdmin):
    kind = EngineKind.PACEMAKER
    options = frozenset({"timeout", "lifetime", "keep_constraint"})

    @contextmanager
    def _admin(self) -> Iterator[ClusterAdmin]:
        require_member(self.defs, self.host)
        with ClusterAdmin(self.defs, self.basedir, self.host, progress=self.progress,
                          timings=self.timings) as admin:
            yield admin

    def _pass_warnings(self, admin: ClusterAdmin) -> None:
        for text in admin.warnings:
            self.on_warning(text)

    def move(self, group: str, to: str, options: RunOptions, dry_run: bool = False
             ) -> list[str]:
        if options.given() - self.options:
            raise BadInput("--force/--break-lock: the cluster decides with quorum and "
                           "fencing; they are systemd-engine options")
        life = parse_lifetime(options.lifetime) if options.lifetime else None
        with self._admin() as admin:
            steps = admin.move(group, to, timeout=options.timeout or DEFAULT_MOVE_TIMEOUT,
                               lifetime=life, keep_constraint=options.keep_constraint,
                               dry_run=dry_run)
            self._pass_warnings(admin)
        return steps

    def start(self, group: str, options: RunOptions) -> str:
        with self._admin() as admin:
            return admin.start(group, timeout=options.timeout or DEFAULT_MOVE_TIMEOUT)

    def stop(self, group: str, options: RunOptions) -> list[str]:
        with self._admin() as admin:
            return admin.stop(group, timeout=options.timeout or DEFAULT_MOVE_TIMEOUT)

    def recover(self, group: str, options: RunOptions) -> str:
        raise BadInput("recover: with the pacemaker engine the cluster recovers groups "
                       "itself; see `s2s-sd status`, then `s2s-sd cleanup GROUP`")

    def status(self) -> StatusReport:
        with self._admin() as admin:
            report = admin.status()
            self._pass_warnings(admin)
        return report

    def drill_target(self, group: str, host: str) -> DrillReport:
        # the fire drill asks the hosts through the host group's own transport
        require_member(self.defs, self.host)
        with Admin(self.defs, self.basedir, self.host, progress=self.progress,
                   on_warning=self.on_warning) as asking:
            return run_drill(asking.transport, asking.defs, asking.basedir, asking.host,
                             [group], [host])
