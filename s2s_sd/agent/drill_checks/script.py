"""script members and the files they use: the host's own twin (NAME.HOST where it exists)
must be an executable that passes `bash -n` on this host, its config readable; shellcheck
findings are warnings. Hooks use the same checks (hooks.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.checks import shellcheck_findings
from s2s_sd.drill import Finding, fail, ok, warn
from s2s_sd.kits.runner import bash_syntax
from s2s_sd.model import Group, ScriptService
from s2s_sd.shebang import is_shell_script


def program_findings(facts: HostFacts, group: Group, member: str | None, check: str,
                     relpath: str) -> list[Finding]:
    """The file the definitions name as RELPATH, as this host resolves it (its twin):
    present, executable, and for shell scripts `bash -n` clean (shellcheck: warnings)."""
    name = facts.defs.resolved(relpath)
    path = facts.basedir / name
    found = []
    if not path.is_file():
        return [fail(facts.host, group.name, member, check,
                     f"{name}: no such file in {facts.basedir}")]
    if not os.access(path, os.X_OK):
        found.append(fail(facts.host, group.name, member, check,
                          f"{name}: not executable (chmod +x {path})"))
    if is_shell_script(path):
        error = bash_syntax(str(path))
        if error:
            found.append(fail(facts.host, group.name, member, check,
                              f"{name}: bash -n: {error}"))
        elif shutil.which("shellcheck", path=facts.search_path):
            found += [warn(facts.host, group.name, member, f"{check}.shellcheck", text)
                      for text in shellcheck_findings(path, name)]
    if not found:
        found.append(ok(facts.host, group.name, member, check,
                        f"{name}: executable" + (", bash -n clean" if is_shell_script(path)
                                                 else "")))
    return found


def config_findings(facts: HostFacts, group: Group, service: ScriptService) -> list[Finding]:
    if service.config is None:
        return []
    name = facts.defs.resolved(service.config)
    path = Path(facts.basedir / name)
    check = "script.config"
    if not path.is_file():
        return [fail(facts.host, group.name, service.name, check,
                     f"{name}: no such file in {facts.basedir}")]
    if not os.access(path, os.R_OK):
        return [fail(facts.host, group.name, service.name, check, f"{name}: not readable")]
    if is_shell_script(path):  # the script sources it
        error = bash_syntax(str(path))
        if error:
            return [fail(facts.host, group.name, service.name, check,
                         f"{name}: bash -n: {error}")]
    return [ok(facts.host, group.name, service.name, check, f"{name}: readable")]


def check_script(facts: HostFacts, group: Group, service: ScriptService) -> list[Finding]:
    return (program_findings(facts, group, service.name, "script.file", service.script)
            + config_findings(facts, group, service))
