"""The one table of operations this host answers, assembled from the modules of each
concern (core_ops: the host group's records; group_ops: the systemd engine's groups;
pacemaker_ops; kits_ops; drill_ops), and the one place a request is decoded and handed to
its handler. The modules of the concerns never import this one, so the table has no
import cycle; the transport's in-process handler (built by the engines' admins and
`s2s-sd agent`) calls `dispatch`.

core_ops and group_ops answer most requests (a move's, a status'); the others are imported
when a request is not one of its, so an agent session starts without them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from s2s_sd.agent.core_ops import OPERATIONS as RECORD_OPERATIONS
from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.agent.group_ops import GROUP_OPERATIONS
from s2s_sd.errors import BadInput
from s2s_sd.hosts.protocol import Operation, decode


def _one_table(*tables: Mapping[str, Operation[Any]]) -> Mapping[str, Operation[Any]]:
    """The tables merged; a name two concerns claim is a programming error (a silent
    override would answer a request with the wrong handler)."""
    merged: dict[str, Operation[Any]] = {}
    for table in tables:
        for name, operation in table.items():
            if name in merged:
                raise RuntimeError(f"agent operation {name!r} is defined twice")
            merged[name] = operation
    return merged


@cache
def operations() -> Mapping[str, Operation[Any]]:
    """Every operation of every concern: the one table."""
    from s2s_sd.agent.drill_ops import DRILL_OPERATIONS
    from s2s_sd.agent.kits_ops import KITS_OPERATIONS
    from s2s_sd.agent.pacemaker_ops import CLUSTER_OPERATIONS

    return _one_table(CORE_OPERATIONS, CLUSTER_OPERATIONS, KITS_OPERATIONS, DRILL_OPERATIONS)


# what a move's and a status' sessions ask: imported with the agent, looked up first
CORE_OPERATIONS = _one_table(RECORD_OPERATIONS, GROUP_OPERATIONS)


def operation(op: str) -> Operation[Any]:
    """The operation named OP; an unknown name is bad input (exit 2, nothing done)."""
    found = CORE_OPERATIONS.get(op) or operations().get(op)
    if found is None:
        raise BadInput(f"request: unknown operation {op[:40]!r}")
    return found


def dispatch(ctx: AgentContext, op: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Decode the request (every field checked), then run its handler."""
    found = operation(op)
    return found.handler(ctx, decode(found.request, args))
