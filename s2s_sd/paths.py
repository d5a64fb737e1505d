"""Every place s2s-sd is installed in or keeps things in, and the variable that moves it.

Pure: it reads the environment and how this Python runs (sys.prefix, sys.executable),
never the file system; whether a path exists is the host side's question
(engines/systemd/units.py `require_program`).

Two layouts:
  the package     /usr/bin/s2s-sd, helpers in /usr/lib/s2s-sd, OCF agents in
                  /usr/lib/ocf/resource.d/s2s (shipped by the .deb, also found by Pacemaker)
  a venv          its own console script (VENV/bin/s2s-sd, next to the venv's python) and
                  helpers in /usr/local/lib/s2s-sd (written by `apply`/`sync`); the venv
                  must sit at the same path on every host, as the package does
S2S_SD_PROGRAM names the program explicitly (any other kind of install). The units, the
OCF agents' `command` and the remote command of the ssh transport all use `program()`.
"""

from __future__ import annotations

import os
import posixpath
import sys
from collections.abc import Mapping
from dataclasses import dataclass

PROGRAM_NAME = "s2s-sd"
PACKAGE_PROGRAM = "/usr/bin/s2s-sd"
PACKAGE_HELPER_DIR = "/usr/lib/s2s-sd"
LOCAL_HELPER_DIR = "/usr/local/lib/s2s-sd"


@dataclass(frozen=True)
class Location:
    """One install or runtime location: its variable, its default and what it holds
    (the last two also feed the FILES and ENVIRONMENT sections of s2s-sd(8))."""

    env: str
    default: str
    holds: str

    def path(self, environ: Mapping[str, str] | None = None) -> str:
        value = (os.environ if environ is None else environ).get(self.env)
        return value or self.default


PROGRAM = Location(
    "S2S_SD_PROGRAM", PACKAGE_PROGRAM,
    "the s2s-sd program the units, the OCF agents and the other hosts run; "
    "VENV/bin/s2s-sd when s2s-sd runs from a venv")
HELPER_DIR = Location(
    "S2S_SD_HELPER_DIR", PACKAGE_HELPER_DIR,
    "helper programs the units and sessions call (s2s-mount, s2s-guard, "
    f"s2s-agent-connect); {LOCAL_HELPER_DIR} for a venv install")
OCF_DIR = Location(
    "S2S_SD_OCF_DIR", "/usr/lib/ocf/resource.d/s2s",
    "the OCF agents ocf:s2s:script, ocf:s2s:hook and ocf:s2s:kits")
UNIT_DIR = Location(
    "S2S_SD_UNIT_DIR", "/etc/systemd/system",
    "the generated units, their drop-ins and boot links (manifest .s2s-sd-manifest)")
BASEDIR = Location(
    "S2S_SD_BASEDIR", "/etc/s2s-sd",
    "the definitions: s2s.toml, groups/, init.d/, sysconfig/, hooks/ (also --basedir)")
STATE_DIR = Location(
    "S2S_SD_STATEDIR", "/var/lib/s2s-sd",
    "per host group: assignments, move journals, generations and their backups, the "
    "admin lock")
LOG_DIR = Location(
    "S2S_SD_LOGDIR", "/var/log/s2s-sd",
    "actions.log (every action on this host) and hooks.log (rotated by logrotate)")
RUN_DIR = Location(
    "S2S_SD_RUNDIR", "/run/s2s-sd",
    "runtime state: ssh control sockets, the agent server's socket (agent.sock), kits "
    "records, hook results, records of the IPv6 VIPs added here (vips/), the guard's "
    "move tokens (guard-vouched/) (tmpfiles.d)")
REMOTE_COMMAND = Location(
    "S2S_SD_REMOTE_COMMAND", PACKAGE_PROGRAM,
    "the program run over ssh on the other hosts; by default this host's own program")

LOCATIONS = (PROGRAM, HELPER_DIR, OCF_DIR, UNIT_DIR, BASEDIR, STATE_DIR, LOG_DIR, RUN_DIR,
             REMOTE_COMMAND)


@dataclass(frozen=True)
class Interpreter:
    """How this Python runs: enough to tell a venv from the system's python3."""

    executable: str
    prefix: str
    base_prefix: str

    @classmethod
    def current(cls) -> Interpreter:
        return cls(sys.executable, sys.prefix, sys.base_prefix)

    @property
    def in_venv(self) -> bool:
        return self.prefix != self.base_prefix


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def program(environ: Mapping[str, str] | None = None,
            interpreter: Interpreter | None = None) -> str:
    """The installed program's path: S2S_SD_PROGRAM, else the venv's own console script
    (its python's directory; not sys.argv[0], which is a symlink or a test runner as
    often as not), else the package's /usr/bin/s2s-sd."""
    explicit = _environ(environ).get(PROGRAM.env)
    if explicit:
        return explicit
    interpreter = interpreter or Interpreter.current()
    if interpreter.in_venv and interpreter.executable:
        return posixpath.join(posixpath.dirname(interpreter.executable), PROGRAM_NAME)
    return PACKAGE_PROGRAM


def helper_dir(environ: Mapping[str, str] | None = None,
               interpreter: Interpreter | None = None) -> str:
    """Where the units' helpers are: the package's own, or /usr/local/lib/s2s-sd, which
    `apply` fills, for every other install."""
    explicit = _environ(environ).get(HELPER_DIR.env)
    if explicit:
        return explicit
    packaged = program(environ, interpreter) == PACKAGE_PROGRAM
    return PACKAGE_HELPER_DIR if packaged else LOCAL_HELPER_DIR


def remote_command(environ: Mapping[str, str] | None = None,
                   interpreter: Interpreter | None = None) -> str:
    """What runs on the other hosts: the same program as here (installs are symmetric)."""
    return _environ(environ).get(REMOTE_COMMAND.env) or program(environ, interpreter)


def agent_socket(environ: Mapping[str, str] | None = None) -> str:
    """Where the warm agent server (s2s-agent.service) listens."""
    return posixpath.join(run_dir(environ), "agent.sock")


def agent_connector(environ: Mapping[str, str] | None = None,
                    interpreter: Interpreter | None = None) -> str:
    """The helper a session's remote command runs to reach the warm agent server."""
    return posixpath.join(helper_dir(environ, interpreter), "s2s-agent-connect")


def ocf_agent(name: str, environ: Mapping[str, str] | None = None) -> str:
    """ocf:s2s:NAME's path."""
    return posixpath.join(OCF_DIR.path(environ), name)


def unit_dir(environ: Mapping[str, str] | None = None) -> str:
    return UNIT_DIR.path(environ)


def basedir(environ: Mapping[str, str] | None = None) -> str:
    return BASEDIR.path(environ)


def state_dir(environ: Mapping[str, str] | None = None) -> str:
    return STATE_DIR.path(environ)


def log_dir(environ: Mapping[str, str] | None = None) -> str:
    return LOG_DIR.path(environ)


def run_dir(environ: Mapping[str, str] | None = None) -> str:
    return RUN_DIR.path(environ)
