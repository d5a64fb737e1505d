"""A group's pre-move and post-move hooks: this host runs them when the group leaves or
arrives, so they must be executable (and `bash -n` clean) here."""

from __future__ import annotations

from s2s_sd.agent.drill_checks import HostFacts
from s2s_sd.agent.drill_checks.script import program_findings
from s2s_sd.drill import Finding
from s2s_sd.model import Group


def check_hooks(facts: HostFacts, group: Group) -> list[Finding]:
    found: list[Finding] = []
    for key in ("pre_move", "post_move"):
        relpath = getattr(group, key)
        if relpath:
            found += program_findings(facts, group, None, f"hooks.{key}", relpath)
    return found
