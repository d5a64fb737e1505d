"""exec members: the program exists and is executable on this host, and the user it runs
as exists."""

from __future__ import annotations

import os
import pwd
import shutil

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.drill import Finding, fail, ok
from s2s_sd.model import ExecService, Group


def check_exec(facts: HostFacts, group: Group, service: ExecService) -> list[Finding]:
    host, member = facts.host, service.name
    program = service.command[0]
    found = []
    path = program if "/" in program else shutil.which(program, path=facts.search_path)
    if path is None:
        found.append(fail(host, group.name, member, "exec.program",
                          f"{program}: not found on {facts.search_path}"))
    elif not os.path.isfile(path):
        found.append(fail(host, group.name, member, "exec.program",
                          f"{path}: no such program"))
    elif not os.access(path, os.X_OK):
        found.append(fail(host, group.name, member, "exec.program",
                          f"{path}: not executable"))
    else:
        found.append(ok(host, group.name, member, "exec.program", f"{path}: executable"))
    if service.user is not None:
        try:
            pwd.getpwnam(service.user)
        except KeyError:
            found.append(fail(host, group.name, member, "exec.user",
                              f"user {service.user!r} does not exist"))
        else:
            found.append(ok(host, group.name, member, "exec.user",
                            f"user {service.user} exists"))
    return found
