"""A member's health on this host (systemd engine), run by its own unit:

- `s2s-sd member run GROUP MEMBER` is the main process of mount, ip, script and kits
  members (Type=notify), as drbd-reactor's OCF wrapper runs an agent under systemd: it
  starts the member, checks that it is ready (its status says it runs), sends READY=1,
  then runs the status every monitor_interval and exits 1 with the reason when the
  member no longer runs (OCF_NOT_RUNNING and any other answer alike: both mean the
  member does not do its job here). ExecStop= stops the member; systemd then restarts it.
  An ip member's VIP is taken down by this process itself at SIGTERM (its unit has no
  ExecStop=; `vip down` runs from ExecStopPost= only after a stop that was not clean).
- `s2s-sd member ready GROUP MEMBER` (ExecStartPost= of exec members) returns when the
  member is ready: its `ready` check passes, or its main process lived through `settle`.
  Until then systemd's start job is not done; a member not ready within start_timeout,
  or whose process dies meanwhile, fails the start, and a move rolls back.
- `s2s-sd member failed GROUP MEMBER` (ExecStopPost=, only when the unit did not stop
  cleanly) logs the failure, runs the notify hook and decides (recovery.py): restart
  (Restart=on-failure does it), hold (frozen) or give up (the group is stopped here).

Run-time records in RUN_DIR/health/GROUP/ (gone at reboot and after `s2s-sd cleanup`):
MEMBER.ready (the unit's invocation id once it was ready), MEMBER.reason (why the
monitor loop ended), MEMBER.failures (one time per line), MEMBER.last (the last failure).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from s2s_sd import paths
from s2s_sd.engines.systemd.units import enqueue, sd_notify, unit_properties
from s2s_sd.errors import BadInput, OperationFailed, Refused, S2SError
from s2s_sd.hosts import events, freeze, state
from s2s_sd.model import (
    DEFAULT_MONITOR_INTERVAL,
    DEFAULT_SETTLE,
    Definitions,
    Engine,
    ExecService,
    Group,
    IpService,
    ReadyCheck,
    Service,
)
from s2s_sd.naming import member_unit, target_name
from s2s_sd.plan import assigned_host
from s2s_sd.recovery import Action, Situation, decide, in_window, thresholds
from s2s_sd.render.systemd import MemberCommands, UnitSettings, member_commands
from s2s_sd.run import run, run_logged

if TYPE_CHECKING:
    from s2s_sd.engines.net.vip import VipResult

READY_POLL = 0.2  # seconds between two tries of a readiness check
MONITOR_TIMEOUT_MIN = 20  # seconds a status check may take at least


def _member(defs: Definitions, group_name: str, member: str) -> tuple[Group, Service]:
    group = defs.group(group_name)
    service = next((s for s in group.services if s.name == member), None) if group else None
    if group is None or service is None:
        raise BadInput(f"no member {member!r} in group {group_name!r} of host group "
                       f"{defs.hostgroup.name}")
    return group, service


def records(group: str) -> Path:
    return Path(paths.run_dir()) / "health" / group


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _invocation() -> str:
    return os.environ.get("INVOCATION_ID", "")


def _mark_ready(group: str, member: str) -> None:
    _write(records(group) / f"{member}.ready", _invocation())


def _record_reason(group: str, member: str, reason: str) -> None:
    """Why the monitor loop ends, for `member failed` of the same run of the unit."""
    _write(records(group) / f"{member}.reason", f"{_invocation()} {reason}")
    sd_notify(f"STATUS={reason}")
    print(f"s2s-sd: {group}/{member}: {reason}", flush=True)


def last_failure(group: str, member: str) -> str | None:
    """The last failure of the member on this host: "TIME REASON", or None."""
    return _read(records(group) / f"{member}.last").strip() or None


def reset(group: str) -> None:
    """Forget the group's failures here (a start or move by the admin, `cleanup`)."""
    shutil.rmtree(records(group), ignore_errors=True)


# -- member run ---------------------------------------------------------------------------

def _stopping(unit: str) -> bool:
    """systemd is stopping the unit (its ExecStop= runs): a failed check is no failure."""
    return unit_properties(unit, ["ActiveState"]).get("ActiveState") != "active"


@dataclass(frozen=True)
class Outcome:
    """How one start, status or stop of a member ended: its exit code, or timed out."""

    code: int
    timed_out: bool = False

    def what(self) -> str:
        return "timed out" if self.timed_out else f"exit {self.code}"


MemberAction = Callable[[float], Outcome]  # start, status or stop, given its timeout (s)


@dataclass(frozen=True)
class MemberActions:
    start: MemberAction
    status: MemberAction
    stop: MemberAction


def _commands_actions(commands: MemberCommands) -> MemberActions:
    """The member's start, status and stop as the programs its unit names."""
    env = dict(os.environ, **dict(commands.env))

    def action(argv: tuple[str, ...]) -> MemberAction:
        def run_it(timeout: float) -> Outcome:
            finished = run_logged(argv, output=None, timeout=timeout, env=env)
            return Outcome(finished.returncode, finished.timed_out)
        return run_it

    return MemberActions(action(commands.start), action(commands.status),
                         action(commands.stop))


def _vip_actions(defs: Definitions, group: str, member: str) -> MemberActions:
    """An ip member's start, status and stop in this process (engines/vip_member.py): no
    Python start of `s2s-sd vip` on the way to ready, nor at every check. systemd's own
    start and stop timeouts bound them (a netlink call and the probe take a moment)."""
    from s2s_sd.engines import vip_member

    def changed(change: Callable[[Definitions, str, str], VipResult]) -> MemberAction:
        def run_it(timeout: float) -> Outcome:
            try:
                print(vip_member.journal_line(change(defs, group, member)), flush=True)
            except S2SError as exc:
                print(f"s2s-sd: {group}/{member}: {exc}", flush=True)
                return Outcome(3 if isinstance(exc, Refused) else 1)
            return Outcome(0)
        return run_it

    def status(timeout: float) -> Outcome:
        try:
            return Outcome(0 if vip_member.present(defs, group, member) else 3)
        except S2SError as exc:
            print(f"s2s-sd: {group}/{member}: {exc}", flush=True)
            return Outcome(1)

    return MemberActions(changed(vip_member.up), status, changed(vip_member.down))


def run_member(defs: Definitions, basedir: Path, group_name: str, member: str) -> int:
    """The main process of a monitored member: its exit code."""
    group, service = _member(defs, group_name, member)
    commands = member_commands(service, UnitSettings.installed(str(basedir)), group)
    if commands is None:
        raise BadInput(f"{group_name}/{member}: a {service.TYPE} member is watched by "
                       "systemd itself, not by `member run`")
    stops_itself = isinstance(service, IpService)  # its unit has no ExecStop= (render)
    actions = (_vip_actions(defs, group_name, member) if stops_itself
               else _commands_actions(commands))
    interval = service.monitor_interval or DEFAULT_MONITOR_INTERVAL
    check_timeout = max(MONITOR_TIMEOUT_MIN, interval)
    start_timeout = float(service.start_timeout or 90)
    stop_timeout = float(service.stop_timeout or 90)
    unit = member_unit(group_name, member)

    def vip_taken_down() -> int:
        """An ip member's exit code once it took its VIP down: 1 when that failed (then
        ExecStopPost= runs `vip down` again)."""
        return 0 if actions.stop(stop_timeout).code == 0 else 1

    def terminated(signum: int, frame: FrameType | None) -> None:
        """systemd stops the unit: the member's stop is ExecStop='s, or this process's
        own (ip members: the VIP down before the exit; a failed or unclean one makes
        ExecStopPost= run `vip down` again)."""
        if stops_itself:
            os._exit(vip_taken_down())
        os._exit(0)

    signal.signal(signal.SIGTERM, terminated)
    began = time.monotonic()
    started = actions.start(start_timeout)
    if started.code != 0 or started.timed_out:
        _record_reason(group_name, member, f"start failed ({started.what()})")
        actions.stop(stop_timeout)
        return 1
    ready = actions.status(check_timeout)
    if ready.code != 0 or ready.timed_out:
        _record_reason(group_name, member, f"not ready: its status says {ready.code} "
                       "after a successful start")
        actions.stop(stop_timeout)
        return 1
    _mark_ready(group_name, member)
    sd_notify(f"READY=1\nSTATUS=ready after {time.monotonic() - began:.1f} s; "
              f"checked every {interval} s")
    while True:
        time.sleep(interval)
        checked = actions.status(check_timeout)
        if checked.code == 0 and not checked.timed_out:
            continue
        if _stopping(unit):
            if stops_itself:  # a clean exit makes ExecStopPost= skip `vip down`
                return vip_taken_down()
            return 0
        what = ("did not answer within " f"{check_timeout} s" if checked.timed_out else
                f"says {checked.code}" + (" (not running)" if checked.code in
                                          (3, 7) else ""))
        _record_reason(group_name, member, f"monitor: its status {what}")
        return 1


# -- member ready -------------------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _check_passes(check: ReadyCheck) -> str | None:
    """What made the readiness check pass, or None when it does not (now)."""
    if check.tcp is not None:
        return f"{check.tcp[0]}:{check.tcp[1]} accepts connections" if _tcp_open(
            *check.tcp) else None
    if check.command is not None:
        with contextlib.suppress(OperationFailed):
            if run(list(check.command), check=False, timeout=30).ok:
                return f"{check.command[0]} exited 0"
    return None


def ready_member(defs: Definitions, group_name: str, member: str) -> str:
    """Return (with what made it ready) once the exec member is ready; OperationFailed
    when its main process ended first. systemd's start timeout bounds the wait. A member
    with a `ready` check then keeps it checked (`_watch`)."""
    _group, service = _member(defs, group_name, member)
    if not isinstance(service, ExecService):
        raise BadInput(f"{group_name}/{member} is a {service.TYPE} member, not exec")
    pid_text = os.environ.get("MAINPID", "")
    pid = int(pid_text) if pid_text.isdigit() else None

    def gone() -> bool:
        return pid is not None and not _alive(pid)

    check = service.ready
    began = time.monotonic()
    what = ""
    if service.notify:
        what = "it sent READY=1"
    elif check is None:
        settle = DEFAULT_SETTLE if service.settle is None else service.settle
        deadline = began + settle
        while time.monotonic() < deadline and not gone():
            time.sleep(min(READY_POLL, max(0.0, deadline - time.monotonic())))
        what = f"it stayed up for the settle period ({settle} s)"
    else:
        while not gone() and (passed := _check_passes(check)) is None:
            time.sleep(READY_POLL)
        what = "" if gone() else str(passed)
    if gone():
        raise OperationFailed(f"{group_name}/{member}: its main process (pid {pid}) ended "
                              f"{time.monotonic() - began:.1f} s after its start, before it "
                              "was ready")
    _mark_ready(group_name, member)
    # only the systemd engine's units have the watchdog (Pacemaker monitors its own)
    if (check is not None and pid is not None
            and defs.hostgroup.engine is Engine.SYSTEMD and os.environ.get("NOTIFY_SOCKET")):
        _watch(group_name, member, check, pid,
               service.monitor_interval or DEFAULT_MONITOR_INTERVAL)
    return what


def _watch(group: str, member: str, check: ReadyCheck, pid: int, interval: int) -> None:
    """Leave a watcher in the unit (a child that outlives ExecStartPost=, in the unit's
    cgroup, so the unit's stop ends it): every interval it repeats the readiness check and
    pings systemd's watchdog (WatchdogSec=, NotifyAccess=all); when the check fails it
    says why and triggers the watchdog, and systemd fails the unit as for a dead process
    (result 'watchdog') and recovers it."""
    if os.fork() != 0:
        return
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    try:
        while _alive(pid):
            time.sleep(interval)
            if not _alive(pid):
                break
            if _check_passes(check) is not None:
                sd_notify("WATCHDOG=1")
                continue
            if _stopping(member_unit(group, member)):
                break
            wanted = (f"{check.tcp[0]}:{check.tcp[1]} refuses connections" if check.tcp
                      else f"{(check.command or ('?',))[0]} fails")
            _record_reason(group, member, f"monitor: its readiness check failed ({wanted})")
            sd_notify("WATCHDOG=trigger")
            break
    finally:
        os._exit(0)


# -- member failed ------------------------------------------------------------------------

def _failure_reason(group: str, member: str) -> str:
    """Why the unit ended: the monitor loop's own words, else systemd's."""
    said = _read(records(group) / f"{member}.reason")
    invocation, _, reason = said.partition(" ")
    if invocation and invocation == _invocation() and reason:
        return reason.strip()
    result = os.environ.get("SERVICE_RESULT", "unknown")
    code = os.environ.get("EXIT_CODE", "")
    status = os.environ.get("EXIT_STATUS", "")
    if code == "exited":
        return f"{result}: exited with status {status}"
    if code in ("killed", "dumped"):
        return f"{result}: {code} by signal {status}"
    return result if not code else f"{result}: {code} {status}"


def member_failed(defs: Definitions, basedir: Path, host: str, group_name: str,
                  member: str) -> str:
    """After the member's unit ended with a failure: log, notify, decide, act."""
    group, _service = _member(defs, group_name, member)
    hostgroup = defs.hostgroup.name
    now = time.time()
    folder = records(group_name)
    threshold, window = thresholds(group)
    past = [float(word) for word in _read(folder / f"{member}.failures").split()
            if word.replace(".", "", 1).isdigit()]
    failures = (*in_window(past, now, window), now)
    _write(folder / f"{member}.failures", "".join(f"{t:.3f}\n" for t in failures))
    reason = _failure_reason(group_name, member)
    _write(folder / f"{member}.last", f"{int(now)} {reason}")
    target = unit_properties(target_name(group_name), ["ActiveState"])
    situation = Situation(
        was_ready=_read(folder / f"{member}.ready") == _invocation() != "",
        frozen=freeze.is_frozen(hostgroup, group_name),
        # the target stops before its members: inactive while the group is being stopped
        group_active=target.get("ActiveState") == "active",
        assigned_here=assigned_host(group, state.read_assignments(hostgroup)) == host,
        failures=failures, now=now)
    decision = decide(situation, threshold, window)
    hook = events.notify_hook(defs, basedir)

    def emit(kind: str, text: str) -> None:
        events.emit(hostgroup, events.Event(kind, group_name, member, host, text), hook,
                    basedir)

    emit("failure", reason)
    if decision.action is Action.RESTART:
        emit("restart", decision.reason)
    elif decision.action is Action.GIVE_UP:
        emit("give-up", f"{decision.reason}: stopping the group on {host}")
        # members bind to the target: its stop job also keeps systemd from restarting
        enqueue("stop", target_name(group_name))
    else:
        # a queued stop of only this unit keeps systemd from restarting it; the rest of
        # the group stays as it is (frozen: s2s-sd changes nothing of it)
        enqueue("stop", member_unit(group_name, member), ignore_dependencies=True)
    return f"{decision.action}: {decision.reason}"
