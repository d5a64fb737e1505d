"""Reaching a new host the way the transport will, and proving who answered.

`host add` must not record a host it cannot verify. It runs ssh as every s2s-sd
connection does (BatchMode, strict host key checking, as root, S2S_SD_SSH_OPTIONS) but
without connection sharing, so the key exchange really happens now, and verbose, so ssh
itself reports which key the host presented and which known_hosts entry matched it. The
remote command is `s2s-sd --version` at the path the transport will run. Reading ssh's
report (`parse_probe`) is pure and tested on output captured in the lab.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from enum import StrEnum

from s2s_sd.hosts.transport import remote_command, ssh_command
from s2s_sd.run import run

PROBE_TIMEOUT = 30.0
# ssh's exit code when the connection itself failed (and not the remote command)
SSH_FAILED = 255

_SERVER_KEY = re.compile(r"debug1: Server host key: (\S+) (\S+)")
_FOUND_KEY = re.compile(r"debug1: Found key in (\S+):(\d+)")
_OFFENDING = re.compile(r"Offending \S+ key in (\S+):(\d+)")
_VERSION = re.compile(r"version (\S+)")
# what ssh -v says besides its debug lines on every connection, successful or not
_CHATTER = ("OpenSSH_", "Authenticated to ", "Transferred: ", "Bytes per second: ")


class Outcome(StrEnum):
    VERIFIED = "verified"  # host key matched a known_hosts entry, s2s-sd answered
    UNKNOWN_KEY = "unknown host key"
    CHANGED_KEY = "changed host key"
    DENIED = "root's key not accepted"
    UNREACHABLE = "unreachable"
    NO_PROGRAM = "s2s-sd not answering"


@dataclass(frozen=True)
class Probe:
    """What one ssh to the new host showed."""

    address: str
    program: str  # the s2s-sd the transport runs there
    outcome: Outcome
    key_type: str | None = None  # "ssh-ed25519": the key the host presented
    fingerprint: str | None = None  # "SHA256:..."
    known_hosts: str | None = None  # "FILE:LINE" of the entry that matched (or offended)
    version: str | None = None  # the remote s2s-sd's version
    detail: str = ""  # ssh's or the program's last complaint

    @property
    def host_key(self) -> str | None:
        """The recorded form: "ssh-ed25519 SHA256:..."."""
        if self.key_type and self.fingerprint:
            return f"{self.key_type} {self.fingerprint}"
        return None


def parse_probe(address: str, program: str, returncode: int, stdout: str,
                stderr: str) -> Probe:
    """Classify one `ssh -v ADDRESS -- PROGRAM --version` by its exit code and ssh's own
    report on stderr."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    plain = [line for line in lines if not line.startswith(("debug", *_CHATTER))]
    server = next((m for m in map(_SERVER_KEY.search, lines) if m), None)
    found = next((m for m in map(_FOUND_KEY.search, lines) if m), None)
    offending = next((m for m in map(_OFFENDING.search, lines) if m), None)
    key_type = server.group(1) if server else None
    fingerprint = server.group(2) if server else None
    detail = plain[-1] if plain else (lines[-1] if lines else "")

    def probe(outcome: Outcome, where: re.Match[str] | None = None,
              version: str | None = None) -> Probe:
        return Probe(address, program, outcome, key_type, fingerprint,
                     f"{where.group(1)}:{where.group(2)}" if where else None, version, detail)

    text = "\n".join(plain)
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or ("Host key for" in text and \
            "has changed" in text):
        return probe(Outcome.CHANGED_KEY, offending)
    if "host key is known for" in text or "Host key verification failed" in text:
        return probe(Outcome.UNKNOWN_KEY)
    if returncode == SSH_FAILED:
        if "Permission denied" in text:
            return probe(Outcome.DENIED, found)
        return probe(Outcome.UNREACHABLE)
    version = _VERSION.search(stdout)
    if returncode != 0 or version is None:
        detail = (stdout.strip().splitlines() or plain or [f"exit code {returncode}"])[-1]
        return Probe(address, program, Outcome.NO_PROGRAM, key_type, fingerprint,
                     f"{found.group(1)}:{found.group(2)}" if found else None, None, detail)
    return probe(Outcome.VERIFIED, found, version.group(1))


def probe_argv(address: str, program: str) -> list[str]:
    # no ControlMaster: a shared connection would skip the key exchange we want to see
    return [*ssh_command(["-o", "ControlMaster=no", "-o", "ControlPath=none"]), "-v",
            address, "--", shlex.join([program, "--version"])]


def probe(address: str) -> Probe:
    program = remote_command()
    result = run(probe_argv(address, program), check=False, timeout=PROBE_TIMEOUT)
    return parse_probe(address, program, result.returncode, result.stdout, result.stderr)


def user_known_hosts(ssh_config: str) -> str:
    """The known_hosts file ssh adds keys to, from `ssh -G` output."""
    for line in ssh_config.splitlines():
        key, _, value = line.partition(" ")
        if key == "userknownhostsfile" and value.split():
            return value.split()[0]
    return "~/.ssh/known_hosts"


def known_hosts_file(address: str) -> str:
    """The user known_hosts file of ssh as s2s-sd runs it (S2S_SD_SSH_OPTIONS may set
    UserKnownHostsFile)."""
    result = run([*ssh_command([]), "-G", address], check=False, timeout=PROBE_TIMEOUT)
    return user_known_hosts(result.stdout)


def fix_for(probe: Probe, name: str, known_hosts: str = "~/.ssh/known_hosts") -> str:
    """What the administrator does about a probe that was not verified."""
    address = probe.address
    presented = (f"the host presented {probe.host_key}; " if probe.host_key else "")
    check = ("compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` run on "
             f"{name}'s console (out of band, not over this network)")
    if probe.outcome is Outcome.UNKNOWN_KEY:
        return (f"{presented}{check}, then accept it: "
                f"ssh-keyscan {address} >> {known_hosts}")
    if probe.outcome is Outcome.CHANGED_KEY:
        entry = f" (entry {probe.known_hosts})" if probe.known_hosts else ""
        stale = probe.known_hosts.rpartition(":")[0] if probe.known_hosts else known_hosts
        return (f"{presented}it differs from the known one{entry}: a reinstalled host or "
                f"someone in between. {check}; only when it matches: "
                f"ssh-keygen -f {stale} -R {address} && "
                f"ssh-keyscan {address} >> {known_hosts}")
    if probe.outcome is Outcome.DENIED:
        return f"root's ssh key must be accepted there: ssh-copy-id root@{address}"
    if probe.outcome is Outcome.NO_PROGRAM:
        return (f"install s2s-sd on {name} so that {probe.program} runs there "
                f"(or set S2S_SD_REMOTE_COMMAND)")
    return f"check that {address} is up and its sshd reachable from here"
