"""Running the service kits of a `kits` member on this host (the layout rules are in
layout.py).

start   checks every kit's scripts (`bash -n`, executable), refuses to start anything when
        one is broken (naming the kit), then runs every DISK/*/sbin/start in path order,
        each bounded by the kit timeout, and waits for its sbin/state to say it runs. A kit
        that fails stops the kits started before it again (reverse order): the member is
        either up with every kit or down, the group semantics.
stop    runs every sbin/stop in the reverse order (a kit whose state says stopped (3) is
        skipped), waits for the state to leave "running", and reports every failure.
monitor the kits this member started here (a record in RUNDIR/kits/INSTANCE.json) must all
        say running; without a record, the member counts as running when any kit does.

Kit scripts run with their output in a file, not a pipe (a daemon a kit starts keeps its
output open), forwarded line by line to the log; in a session of their own, so that a
timeout kills everything the script started. The results are OCF exit codes, because the
OCF agent (ocf/kits) execs `s2s-sd kits`.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from s2s_sd import paths
from s2s_sd.errors import OperationFailed, Problem, exit_status
from s2s_sd.kits.layout import DEFAULT_KIT_TIMEOUT, KIT_ACTIONS, is_kit_name, kits_disks
from s2s_sd.model import Definitions, KitsService
from s2s_sd.run import Finished, run, run_logged
from s2s_sd.shebang import is_shell_script
from s2s_sd.writer import write_file_atomic

RUNDIR_ENV = paths.RUN_DIR.env

OCF_SUCCESS = 0
OCF_ERR_GENERIC = 1
OCF_ERR_ARGS = 2
OCF_ERR_INSTALLED = 5
OCF_ERR_CONFIGURED = 6
OCF_NOT_RUNNING = 7

STATE_RUNNING = 0
STATE_STOPPED = 3  # LSB "program is not running"
STATE_TIMEOUT = 30  # seconds a state script may take

Log = Callable[[str], None]


def _stderr(text: str) -> None:
    import sys

    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Kit:
    name: str
    disk: str
    path: str

    def script(self, action: str) -> str:
        return os.path.join(self.path, "sbin", action)

    def has(self, action: str) -> bool:
        return os.path.lexists(self.script(action))

    @staticmethod
    def at(path: str) -> Kit:
        path = os.path.normpath(path)
        return Kit(os.path.basename(path), os.path.dirname(path), path)


@dataclass(frozen=True)
class KitProblem:
    kit: Kit
    message: str
    warning: bool = False

    def __str__(self) -> str:
        prefix = "warning: " if self.warning else ""
        return f"kit {self.kit.name} ({self.kit.path}): {prefix}{self.message}"


def find_kits(disks: Iterable[str]) -> list[Kit]:
    """Every DISK/NAME/sbin/start: disks in the given order, names sorted."""
    kits = []
    for disk in disks:
        try:
            names = sorted(os.listdir(disk))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for name in names:
            path = os.path.join(disk, name)
            if not is_kit_name(name) or os.path.islink(path) or not os.path.isdir(path):
                continue
            kit = Kit(name, disk, path)
            if kit.has("start"):
                kits.append(kit)
    return kits


def bash_syntax(path: str) -> str | None:
    """The first error of `bash -n path`, None when it passes."""
    result = run(["bash", "-n", path], check=False, timeout=30)
    if result.ok:
        return None
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    return lines[0].replace(f"{path}: ", "") if lines else exit_status(result.returncode)


def kit_problems(kit: Kit) -> list[KitProblem]:
    """What would make start, stop or state of this kit fail before it even runs."""
    found = []
    for action in KIT_ACTIONS:
        script = kit.script(action)
        rel = f"sbin/{action}"
        if not os.path.lexists(script):
            if action == "stop":
                found.append(KitProblem(kit, f"no {rel}: the kit cannot be stopped"))
            elif action == "state":
                found.append(KitProblem(kit, f"no {rel}: whether it runs cannot be told",
                                        warning=True))
            continue
        try:
            info = os.stat(script)
        except OSError as exc:
            found.append(KitProblem(kit, f"{rel}: {exc.strerror}"))
            continue
        if not stat.S_ISREG(info.st_mode):
            found.append(KitProblem(kit, f"{rel}: not a regular file"))
            continue
        if not os.access(script, os.X_OK):
            found.append(KitProblem(kit, f"{rel}: not executable (chmod +x {script})"))
        if is_shell_script(Path(script)):
            error = bash_syntax(script)
            if error:
                found.append(KitProblem(kit, f"{rel}: bash -n: {error}"))
    return found


def check_disks(disks: Sequence[str]) -> list[KitProblem]:
    return [p for kit in find_kits(disks) for p in kit_problems(kit)]


def rundir() -> Path:
    return Path(paths.run_dir())


@dataclass(frozen=True)
class KitState:
    kit: Kit
    code: int | None  # exit code of sbin/state; None: no sbin/state
    output: str
    started_here: bool

    @property
    def label(self) -> str:
        if self.code is None:
            return "unknown (no sbin/state)"
        if self.code == STATE_RUNNING:
            return "running"
        if self.code == STATE_STOPPED:
            return "stopped"
        return f"not running (state exit {self.code})"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.kit.name, "path": self.kit.path, "disk": self.kit.disk,
                "state": self.code, "running": self.code == STATE_RUNNING if self.code
                is not None else None, "label": self.label, "output": self.output,
                "started_here": self.started_here}


def kit_env(kit: Kit, action: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCF_")}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update({"KIT_NAME": kit.name, "KIT_DIR": kit.path, "KIT_ACTION": action})
    return env


def call_kit(kit: Kit, action: str, timeout: float, log: Log | None = None
             ) -> tuple[Finished, str]:
    """Run one kit script; its output is logged (when log is given) and returned."""
    fd, output = tempfile.mkstemp(prefix="s2s-kit.", dir=os.environ.get("TMPDIR") or "/tmp")
    os.close(fd)
    try:
        finished = run_logged([kit.script(action)], output=output, timeout=timeout,
                              env=kit_env(kit, action), cwd=kit.path)
        with open(output, encoding="utf-8", errors="replace") as handle:
            text = handle.read(64 * 1024)
    finally:
        os.unlink(output)
    if log is not None:
        for line in text.splitlines():
            log(f"{kit.name} {action}: {line}")
    return finished, text.strip()


class KitRunner:
    """start / stop / monitor of one kits member on this host."""

    def __init__(self, disks: Sequence[str], instance: str = "kits",
                 timeout: float = DEFAULT_KIT_TIMEOUT, log: Log = _stderr,
                 poll: float = 0.5) -> None:
        self.disks = list(disks)
        self.instance = instance
        self.timeout = timeout
        self.log = log
        self.poll = poll

    # -- the record of what this member started here ------------------------------------
    @property
    def record(self) -> Path:
        return rundir() / "kits" / f"{self.instance}.json"

    def started(self) -> list[Kit] | None:
        try:
            data = json.loads(self.record.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self.log(f"unreadable record {self.record}: {exc}")
            return []
        return [Kit.at(str(p)) for p in data.get("kits", [])]

    def _write_record(self, kits: Sequence[Kit]) -> None:
        self.record.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file_atomic(self.record, json.dumps(
            {"instance": self.instance, "disks": self.disks, "since": time.time(),
             "kits": [k.path for k in kits]}, indent=1) + "\n", 0o600)

    def _drop_record(self) -> None:
        self.record.unlink(missing_ok=True)

    # -- single kits --------------------------------------------------------------------
    def state(self, kit: Kit, quiet: bool = True) -> tuple[int | None, str]:
        if not kit.has("state"):
            return None, ""
        finished, output = call_kit(kit, "state", min(self.timeout, STATE_TIMEOUT),
                                    None if quiet else self.log)
        if finished.timed_out:
            self.log(f"{kit.name}: sbin/state did not answer within "
                     f"{min(self.timeout, STATE_TIMEOUT):.0f} s")
            return 4, output  # LSB: unknown
        return finished.returncode, output

    def _wait_state(self, kit: Kit, running: bool, budget: float) -> int | None:
        deadline = time.monotonic() + budget
        while True:
            code, _ = self.state(kit)
            if code is None or (code == STATE_RUNNING) == running:
                return code
            if time.monotonic() >= deadline:
                return code
            time.sleep(self.poll)

    def _start_one(self, kit: Kit) -> bool:
        began = time.monotonic()
        finished, _ = call_kit(kit, "start", self.timeout, self.log)
        if finished.timed_out:
            self.log(f"{kit.name}: sbin/start killed after {self.timeout:.0f} s")
            return False
        if finished.returncode != 0:
            self.log(f"{kit.name}: sbin/start failed (exit {finished.returncode})")
            return False
        left = max(1.0, self.timeout - (time.monotonic() - began))
        code = self._wait_state(kit, running=True, budget=left)
        if code not in (None, STATE_RUNNING):
            self.log(f"{kit.name}: started, but sbin/state still says exit {code}")
            return False
        self.log(f"{kit.name}: started ({kit.path}, {finished.seconds:.1f} s)")
        return True

    def _stop_one(self, kit: Kit) -> bool:
        code, _ = self.state(kit)
        if code == STATE_STOPPED:
            self.log(f"{kit.name}: already stopped")
            return True
        finished, _ = call_kit(kit, "stop", self.timeout, self.log)
        if finished.timed_out:
            self.log(f"{kit.name}: sbin/stop killed after {self.timeout:.0f} s")
            return False
        code = self._wait_state(kit, running=False, budget=min(self.timeout, 30))
        if code == STATE_RUNNING:
            self.log(f"{kit.name}: still running after sbin/stop (exit "
                     f"{finished.returncode})")
            return False
        if finished.returncode != 0 and code is None:
            self.log(f"{kit.name}: sbin/stop failed (exit {finished.returncode})")
            return False
        if finished.returncode != 0:
            self.log(f"{kit.name}: sbin/stop exit {finished.returncode}, but sbin/state says "
                     f"it is not running (exit {code})")
        self.log(f"{kit.name}: stopped ({finished.seconds:.1f} s)")
        return True

    def _available_disks(self) -> list[str]:
        return [d for d in self.disks if os.path.isdir(d)]

    # -- actions (OCF exit codes) -------------------------------------------------------
    def check(self) -> int:
        problems = check_disks(self._available_disks())
        for problem in problems:
            self.log(str(problem))
        return OCF_ERR_CONFIGURED if any(not p.warning for p in problems) else OCF_SUCCESS

    def start(self) -> int:
        missing = [d for d in self.disks if not os.path.isdir(d)]
        if missing:
            self.log(f"disk(s) not available on this host: {', '.join(missing)}")
            return OCF_ERR_INSTALLED
        kits = find_kits(self.disks)
        problems = [p for kit in kits for p in kit_problems(kit)]
        for problem in problems:
            self.log(str(problem))
        broken = sorted({p.kit.name for p in problems if not p.warning})
        if broken:
            self.log(f"nothing started: broken kit(s) {', '.join(broken)}")
            return OCF_ERR_CONFIGURED
        up: list[Kit] = []
        self._write_record(up)
        for kit in kits:
            code, _ = self.state(kit)
            if code == STATE_RUNNING:
                self.log(f"{kit.name}: already running")
            elif not self._start_one(kit):
                if up:
                    self.log(f"stopping the kits started before {kit.name}: "
                             + ", ".join(k.name for k in reversed(up)))
                for started in reversed(up):
                    self._stop_one(started)
                self._stop_one(kit)  # what it started before failing
                self._drop_record()
                return OCF_ERR_GENERIC
            up.append(kit)
            self._write_record(up)
        self.log(f"{len(up)} kit(s) up: {', '.join(k.name for k in up) or 'none found'}")
        return OCF_SUCCESS

    def stop(self) -> int:
        kits = find_kits(self._available_disks())
        recorded = self.started() or []
        # a kit started here whose directory went away can still be asked to stop
        paths = {k.path for k in kits}
        kits += [k for k in recorded if k.path not in paths and k.has("stop")]
        failed = [kit.name for kit in reversed(kits) if not self._stop_one(kit)]
        self._drop_record()
        if failed:
            self.log(f"stop failed for kit(s) {', '.join(failed)}")
            return OCF_ERR_GENERIC
        return OCF_SUCCESS

    def states(self) -> list[KitState]:
        recorded = {k.path for k in (self.started() or [])}
        kits = find_kits(self._available_disks())
        result = []
        for kit in kits:
            code, output = self.state(kit)
            result.append(KitState(kit, code, output, kit.path in recorded))
        return result

    def monitor(self, probe: bool = False) -> int:
        recorded = self.started()
        if recorded is None:
            running = [s.kit.name for s in self.states() if s.code == STATE_RUNNING]
            if running:
                self.log(f"kit(s) {', '.join(running)} run here although this member did "
                         "not start them here")
                return OCF_SUCCESS
            return OCF_NOT_RUNNING
        down = []
        for kit in recorded:
            code, _ = self.state(kit)
            if code not in (None, STATE_RUNNING):
                down.append(f"{kit.name} (state exit {code})")
        if down and probe and len(down) == len(recorded):
            return OCF_NOT_RUNNING
        if down:
            self.log(f"kit(s) started here no longer run: {', '.join(down)}")
            return OCF_ERR_GENERIC
        return OCF_SUCCESS


def require_absolute(disks: Sequence[str]) -> None:
    for disk in disks:
        if not disk.startswith("/"):
            raise OperationFailed(f"disk '{disk}' is not an absolute path")


def check_members(defs: Definitions) -> list[Problem]:
    """`s2s-sd check`: the kits on the disks of every kits member that are available on
    this host (mounted here), each problem naming the kit."""
    from s2s_sd.validate import service_path

    found = []
    for group in defs.groups:
        for service in group.services:
            if not isinstance(service, KitsService):
                continue
            disks = [d.mountpoint for d in kits_disks(group, service)
                     if os.path.isdir(d.mountpoint)]
            for problem in check_disks(disks):
                found.append(Problem(service.origin.file, service.origin.line,
                                     service_path(service), str(problem).replace(
                                         "warning: ", ""), problem.warning))
    return found
