"""Shell completion from the definitions: group names and host names.

click's completion (the script `_S2S_SD_COMPLETE=bash_source s2s-sd` prints, shipped by the
package) calls back into s2s-sd, which reads the base dir of the command line being
completed (--basedir, S2S_SD_BASEDIR or the default) without validating it: half-edited
definitions still complete. A completer never prints and never fails: what it cannot read
completes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from s2s_sd.load import load_raw
from s2s_sd.load_files import default_basedir
from s2s_sd.model import Definitions


def _definitions(ctx: click.Context) -> Definitions | None:
    basedir = ctx.params.get("basedir") or default_basedir()
    try:
        definitions, _ = load_raw(Path(basedir), os.uname().nodename)
    except Exception:  # completion must never show a traceback in the user's shell
        return None
    return definitions


def complete_groups(ctx: click.Context, param: click.Parameter,
                    incomplete: str) -> list[CompletionItem]:
    definitions = _definitions(ctx)
    if definitions is None:
        return []
    return [CompletionItem(g.name, help=g.description or None)
            for g in definitions.groups if g.name.startswith(incomplete)]


def complete_hosts(ctx: click.Context, param: click.Parameter,
                   incomplete: str) -> list[CompletionItem]:
    """The hosts of the group being moved when it is known, else of the host group."""
    definitions = _definitions(ctx)
    if definitions is None:
        return []
    # with `--to` still waiting for its value, click may leave GROUP among the unparsed args
    named = [str(ctx.params.get("group") or ""), *ctx.args]
    group = next((g for g in map(definitions.group, named) if g is not None), None)
    hosts = group.hosts if group is not None else definitions.hostgroup.host_names
    return [CompletionItem(h) for h in hosts if h.startswith(incomplete)]
