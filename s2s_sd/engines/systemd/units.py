"""Installing generated units on a host and talking to its systemd (pystemd).

`install_units` makes /etc/systemd/system hold exactly the units s2s-sd generates (and
nothing else of s2s-sd's), the helper programs the units call, and the boot links of the
groups assigned to this host. It only ever removes files it wrote itself, listed in a
manifest, so the administrator's own units are never touched.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from s2s_sd import paths
from s2s_sd.errors import OperationFailed, Refused
from s2s_sd.naming import AGENT_UNIT, WATCH_UNIT, target_name
from s2s_sd.observation import SHOW_PROPERTIES, UnitHealth, parse_systemctl_show
from s2s_sd.render.systemd import UnitSettings, boot_links
from s2s_sd.writer import write_file_atomic

MANIFEST = ".s2s-sd-manifest"
OCF_SCRIPT_PACKAGE_FILE = ("ocf", "script")
# installed next to the script agent: the pacemaker engine's hook member (ocf:s2s:hook)
# and exec/systemd members (ocf:s2s:unit); ocf:s2s:kits, which the kits members' units
# run with either engine; the alert agent behind the pacemaker engine's notify hook
OCF_SIBLING_AGENTS = ("hook", "kits", "unit", "alert")
MOUNT_HELPER_PACKAGE_FILE = ("units", "s2s-mount")
GUARD_HELPER_PACKAGE_FILE = ("units", "s2s-guard")
AGENT_CONNECTOR_PACKAGE_FILE = ("units", "s2s-agent-connect")
# the services every host of a host group runs (enabled and started where installed)
HOST_SERVICES = (WATCH_UNIT, AGENT_UNIT)


@dataclass
class InstallReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    boot_enabled: list[str] = field(default_factory=list)
    boot_disabled: list[str] = field(default_factory=list)
    reloaded: bool = False


def package_file(*parts: str) -> str:
    return resources.files("s2s_sd").joinpath(*parts).read_text(encoding="utf-8")


def helper_files(settings: UnitSettings) -> dict[str, str]:
    """Absolute path -> content of the programs the units call."""
    files = {f"{settings.libexec}/s2s-mount": package_file(*MOUNT_HELPER_PACKAGE_FILE),
             f"{settings.libexec}/s2s-guard": package_file(*GUARD_HELPER_PACKAGE_FILE),
             f"{settings.libexec}/s2s-agent-connect": package_file(
                 *AGENT_CONNECTOR_PACKAGE_FILE)}
    agent = resources.files("s2s_sd").joinpath(*OCF_SCRIPT_PACKAGE_FILE)
    if agent.is_file():
        files[settings.script_agent] = agent.read_text(encoding="utf-8")
        for name in OCF_SIBLING_AGENTS:
            sibling = resources.files("s2s_sd").joinpath("ocf", name)
            if sibling.is_file():
                # Pacemaker passes no `command`: an agent's default program (ocf:s2s:kits
                # calls s2s-sd) must be this install's
                files[str(Path(settings.script_agent).parent / name)] = sibling.read_text(
                    encoding="utf-8").replace(paths.PACKAGE_PROGRAM, settings.command)
    return files


def _write_if_changed(path: Path, text: str, mode: int, report: InstallReport,
                      label: str) -> None:
    try:
        current = path.read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        current = None
    if current == text and (path.stat().st_mode & 0o777) == mode:
        report.unchanged.append(label)
        return
    write_file_atomic(path, text, mode)
    report.written.append(label)


def require_program(program: str, host: str | None = None) -> None:
    """Refuse to install units that would call a program this host does not have: they
    would fail at the group's next start, maybe in the middle of a failover."""
    if os.access(program, os.X_OK) and Path(program).is_file():
        return
    raise Refused(
        f"{program} is not installed on {host or os.uname().nodename} (missing or not "
        "executable) and the units would run it: install the s2s-sd package there (or the "
        f"same venv at the same path, or set {paths.PROGRAM.env}); no unit was installed")


def install_units(
    root: Path,
    units: Mapping[str, str],
    settings: UnitSettings,
    boot: Sequence[str],
    all_groups: Sequence[str],
) -> InstallReport:
    """Write units, helpers and boot links below root (normally /). On this host itself
    (root /) only when the program they call exists here; another root is an image being
    prepared, which gets its program installed by whoever builds it."""
    if root == Path("/"):
        require_program(settings.command)
    report = InstallReport()
    unit_dir = root / paths.unit_dir().lstrip("/")
    try:
        unit_dir.mkdir(parents=True, exist_ok=True)
        manifest_path = unit_dir / MANIFEST
        try:
            previous = set(manifest_path.read_text(encoding="utf-8").split())
        except FileNotFoundError:
            previous = set()
        for relpath, text in units.items():
            _write_if_changed(unit_dir / relpath, text, 0o644, report, relpath)
        for stale in sorted(previous - set(units)):
            path = unit_dir / stale
            if path.is_file() or path.is_symlink():
                path.unlink()
                report.removed.append(stale)
            _remove_empty_dropin_dir(path.parent, unit_dir)
        for abspath, text in sorted(helper_files(settings).items()):
            _write_if_changed(root / abspath.lstrip("/"), text, 0o755, report, abspath)
        _set_boot_links(unit_dir, boot, all_groups, report)
        wanted = {unit: _set_service_link(unit_dir, unit, unit in units, report)
                  for unit in HOST_SERVICES}
        write_file_atomic(manifest_path, "".join(f"{p}\n" for p in sorted(units)), 0o644)
    except OSError as exc:
        raise OperationFailed(f"cannot install units below {root}: {exc}") from exc
    if root == Path("/") and (report.written or report.removed or report.boot_enabled
                              or report.boot_disabled):
        report.reloaded = daemon_reload()
    if root == Path("/") and systemd_running():
        for unit, run_it in wanted.items():
            if run_it is not None:
                _run_service(unit, run_it, unit in report.written)
    return report


def install_boot_links(root: Path, boot: Sequence[str], all_groups: Sequence[str]
                       ) -> InstallReport:
    """Only the boot links (an assignment changed; the units are the synced generation's
    and stay as they are). No daemon-reload: a wants link is read at boot (and by
    `systemctl is-enabled`, from the disk); the running manager's copy of
    multi-user.target's wants decides nothing until then, and a start it would cause on
    a host the group is no longer assigned to is refused by the guard. A reload of every
    unit costs a move a fifth of a second on each host."""
    report = InstallReport()
    try:
        _set_boot_links(root / paths.unit_dir().lstrip("/"), boot, all_groups, report)
    except OSError as exc:
        raise OperationFailed(f"cannot set the boot links below {root}: {exc}") from exc
    return report


def _set_service_link(unit_dir: Path, unit: str, wanted: bool, report: InstallReport
                      ) -> bool | None:
    """Enable a host service (the watcher, the agent server) where its unit is installed,
    disable it where not; whether it should run now (None: it was never installed here,
    nothing to do)."""
    link = unit_dir / "multi-user.target.wants" / unit
    if wanted:
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(f"{paths.unit_dir()}/{unit}")
            report.boot_enabled.append(unit)
        return True
    if link.is_symlink() or link.exists():
        link.unlink()
        report.boot_disabled.append(unit)
        return False
    return None


def _run_service(unit: str, run_it: bool, changed: bool) -> None:
    """Start (or, with a new unit, restart) a host service, or stop it; never waits."""
    from s2s_sd.run import run

    action = ("restart" if changed else "start") if run_it else "stop"
    run(["systemctl", action, "--no-block", unit], check=False, timeout=30)


def _remove_empty_dropin_dir(directory: Path, unit_dir: Path) -> None:
    if directory != unit_dir and directory.name.endswith(".d") and not any(directory.iterdir()):
        directory.rmdir()


def _set_boot_links(unit_dir: Path, boot: Sequence[str], all_groups: Sequence[str],
                    report: InstallReport) -> None:
    wanted = boot_links(boot)
    for group in sorted(all_groups):
        link_rel = f"multi-user.target.wants/{target_name(group)}"
        link = unit_dir / link_rel
        if link_rel in wanted:
            destination = f"{paths.unit_dir()}/{target_name(group)}"
            if link.is_symlink() and os.readlink(link) == destination:
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(destination)
            report.boot_enabled.append(group)
        elif link.is_symlink() or link.exists():
            link.unlink()
            report.boot_disabled.append(group)


def systemd_running() -> bool:
    """Whether this host (or container) runs systemd as PID 1."""
    return Path("/run/systemd/system").is_dir()


def daemon_reload() -> bool:
    """Reload systemd's unit files; False when systemd is not PID 1 here."""
    if not systemd_running():
        return False
    from pystemd.systemd1 import Manager  # imported late: only hosts with systemd need it

    try:
        with Manager() as manager:
            manager.Manager.Reload()
    except Exception as exc:  # pystemd raises DBus errors of its own types
        raise OperationFailed(f"systemctl daemon-reload failed: {exc}") from exc
    return True


# -- runtime: unit states, start, stop ------------------------------------------------



def unit_states(patterns: Sequence[str]) -> dict[str, str]:
    """ActiveState of every loaded unit matching the glob patterns (one D-Bus call)."""
    if not systemd_running():
        raise OperationFailed("systemd is not running on this host (no /run/systemd/system)")
    from pystemd.systemd1 import Manager

    try:
        with Manager() as manager:
            listed = manager.Manager.ListUnitsByPatterns([], [p.encode() for p in patterns])
    except Exception as exc:  # pystemd raises DBus errors of its own types
        raise OperationFailed(f"cannot list units from systemd: {exc}") from exc
    states: dict[str, str] = {}
    for entry in listed:
        name, active = entry[0], entry[3]
        states[name.decode() if isinstance(name, bytes) else str(name)] = (
            active.decode() if isinstance(active, bytes) else str(active))
    return states


def systemctl(action: str, units: Sequence[str], timeout: float) -> tuple[bool, str]:
    """Start or stop units and wait for the jobs; (ok, what systemctl said)."""
    from s2s_sd.run import run

    result = run(["systemctl", action, *units], check=False, timeout=timeout)
    return result.ok, (result.stderr or result.stdout).strip()


# what systemd keeps of a unit's last transitions (CLOCK_MONOTONIC, microseconds)
_TIMESTAMPS = {
    "start": (b"InactiveExitTimestampMonotonic", b"ActiveEnterTimestampMonotonic"),
    "stop": (b"ActiveExitTimestampMonotonic", b"InactiveEnterTimestampMonotonic"),
}
_SYSTEMD = b"org.freedesktop.systemd1"
_UNIT_INTERFACE = b"org.freedesktop.systemd1.Unit"


def transition_seconds(units: Sequence[str], action: str) -> dict[str, float]:
    """How long each unit took for its last start (activating -> active) or stop
    (deactivating -> inactive), from systemd's own timestamps: what each member cost,
    measured where it ran. Units without both timestamps (never started, or still on
    their way) are left out; nothing here is worth failing an operation for."""
    if not systemd_running():
        return {}
    try:
        from pystemd.dbuslib import DBus, path_encode
    except ImportError:
        return {}
    began_property, ended_property = _TIMESTAMPS[action]
    seconds: dict[str, float] = {}
    try:
        with DBus() as bus:
            for unit in units:
                path = path_encode(b"/org/freedesktop/systemd1/unit", unit.encode())
                began = bus.get_property(_SYSTEMD, path, _UNIT_INTERFACE, began_property, b"t")
                ended = bus.get_property(_SYSTEMD, path, _UNIT_INTERFACE, ended_property, b"t")
                if began and ended and ended >= began:
                    seconds[unit] = (ended - began) / 1e6
    except Exception:  # pystemd raises DBus errors of its own types: timings are optional
        return seconds
    return seconds


_MANAGER_PATH = b"/org/freedesktop/systemd1"
_MANAGER_INTERFACE = b"org.freedesktop.systemd1.Manager"


def unit_jobs(action: str, units: Sequence[str], timeout: float) -> tuple[bool, str]:
    """What `systemctl start|stop UNITS` does, over D-Bus in this process: one job per
    unit (mode replace), then wait for systemd's JobRemoved signal of each; (ok, what
    went wrong). No process is started; nothing is polled."""
    from pystemd.dbuslib import DBus, apply_signature

    method = {"start": b"StartUnit", "stop": b"StopUnit"}[action]
    results: dict[bytes, tuple[str, str]] = {}

    def job_removed(message: Any, error: Any = None, userdata: Any = None) -> None:
        message.process_reply(False)
        _job_id, job_path, unit, result = message.body
        results[bytes(job_path)] = (_text(unit), _text(result))

    job_removed.metadata = {}  # type: ignore[attr-defined]  # pystemd keeps its userdata here
    with DBus() as bus:
        bus.match_signal(_SYSTEMD, _MANAGER_PATH, _MANAGER_INTERFACE, b"JobRemoved",
                         job_removed)
        # no Subscribe(): JobRemoved is broadcast to every listener that matches it
        jobs = [_job_path(bus.call_method(_SYSTEMD, _MANAGER_PATH, _MANAGER_INTERFACE,
                                          method, apply_signature(
                                              b"ss", [unit.encode(), b"replace"])).body)
                for unit in units]
        deadline = time.monotonic() + timeout
        while any(job not in results for job in jobs):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OperationFailed(f"systemd did not finish {action} of "
                                      f"{', '.join(units)} within {timeout:.0f} s")
            # one message per process(); the signal handler fills results; only when
            # nothing was left to read does it wait for the bus to become readable. Not
            # with pystemd's bus.wait(): it holds the GIL while it waits, and every other
            # thread of this process stood still until systemd's next message (the VIP
            # probe made ahead during a start waited for the whole start, net/probed_ahead.py)
            handled = bus.process()
            if any(job not in results for job in jobs) and handled.is_empty():
                select.select([bus.get_fd()], [], [], min(remaining, 1.0))
    failed = [f"{unit}: {result}" for unit, result in (results[j] for j in jobs)
              if result != "done"]
    if failed:
        return False, f"Job for {'; '.join(failed)} (see systemctl status)"
    return True, ""


def _job_path(body: Any) -> bytes:
    """A method's one return value, as pystemd hands it over (bare, or in a list)."""
    return bytes(body[0] if isinstance(body, (list, tuple)) else body)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def failed_units(units: Sequence[str]) -> list[str]:
    states = unit_states(list(units))
    return sorted(u for u, s in states.items() if s == "failed")


def reset_failed(units: Sequence[str]) -> None:
    """Forget the failed state of UNITS: over D-Bus in this process (pystemd), or with
    `systemctl reset-failed` where pystemd is not importable."""
    try:
        from pystemd.dbuslib import DBus, apply_signature
    except ImportError:
        from s2s_sd.run import run

        run(["systemctl", "reset-failed", *units], check=False, timeout=30)
        return
    with DBus() as bus:
        for unit in units:
            try:
                bus.call_method(_SYSTEMD, _MANAGER_PATH, _MANAGER_INTERFACE, b"ResetFailedUnit",
                                apply_signature(b"s", [unit.encode()]))
            except Exception:  # not loaded (nothing to reset) is what systemctl ignores too
                continue


def group_jobs(action: str, units: Sequence[str], timeout: float) -> tuple[bool, str]:
    """Start or stop UNITS and wait for the jobs: over D-Bus (unit_jobs, no process
    start) where pystemd is importable, else with `systemctl` (bench/systemd_jobs.py
    measures both)."""
    try:
        import pystemd.dbuslib  # noqa: F401  (only whether it is there)
    except ImportError:
        return systemctl(action, units, timeout)
    try:
        return unit_jobs(action, units, timeout)
    except OperationFailed:
        raise
    except Exception as exc:  # pystemd raises DBus errors of its own types
        return False, f"systemd refused to {action} {', '.join(units)}: {exc}"


def sd_notify(message: str) -> bool:
    """Tell systemd about this service (READY=1, STATUS=...), as sd_notify(3) does;
    False when not run by systemd as a Type=notify service."""
    import socket

    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(message.encode("utf-8", "replace"), address)
    return True


def unit_properties(unit: str, names: Sequence[str]) -> dict[str, str]:
    """Some properties of one unit (systemctl show), name -> value."""
    from s2s_sd.run import run

    result = run(["systemctl", "show", "--property=" + ",".join(names), unit], check=False,
                 timeout=30)
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        found[name] = value
    return found


def enqueue(action: str, unit: str, *, ignore_dependencies: bool = False) -> bool:
    """Queue a start or stop job without waiting for it (a unit's own process may call
    this: waiting would wait for itself)."""
    from s2s_sd.run import run

    argv = ["systemctl", "--no-block", action, unit]
    if ignore_dependencies:
        argv.insert(2, "--job-mode=ignore-dependencies")
    return run(argv, check=False, timeout=30).ok


def restart_counts(units: Sequence[str]) -> dict[str, int]:
    """How often systemd restarted each unit by itself (NRestarts), in one call."""
    return {unit: health.restarts for unit, health in unit_health(units).items()}


def unit_health(units: Sequence[str]) -> dict[str, UnitHealth]:
    """Restart count and last failure of each unit (one `systemctl show`); {} when
    systemd cannot say (a status line is then shown without them)."""
    from s2s_sd.run import run

    if not units:
        return {}
    result = run(["systemctl", "show", "-p", ",".join(SHOW_PROPERTIES), *units],
                 check=False, timeout=30)
    return parse_systemctl_show(result.stdout) if result.ok else {}


def system_booting() -> bool:
    """Whether this host is still booting (systemd's state "initializing" or "starting"):
    a start now was pulled in by the boot, not asked for by an operator."""
    from s2s_sd.run import run

    if not systemd_running():
        return False
    result = run(["systemctl", "is-system-running"], check=False, timeout=30)
    return result.stdout.strip() in ("initializing", "starting")
