"""The one table of agent operations (agent/dispatch.py): every concern's operations in it
once, an unknown name refused as bad input, and an agent session that is asked only the
host group's own operations starting without the other concerns' modules."""

from __future__ import annotations

import subprocess
import sys

import pytest

from s2s_sd.agent import core_ops, dispatch, drill_ops, group_ops, kits_ops, pacemaker_ops
from s2s_sd.errors import BadInput
from s2s_sd.hosts.protocol import Operation
from tests.conftest import REPO

pytestmark = pytest.mark.unit


def test_every_concern_is_in_the_one_table_once() -> None:
    tables = [core_ops.OPERATIONS, group_ops.GROUP_OPERATIONS, pacemaker_ops.CLUSTER_OPERATIONS,
              kits_ops.KITS_OPERATIONS, drill_ops.DRILL_OPERATIONS]
    table = dispatch.operations()
    assert len(table) == sum(len(t) for t in tables)
    for concern in tables:
        assert all(table[name] is operation for name, operation in concern.items())
    assert all(dispatch.operation(name) is table[name] for name in table)


def test_a_name_two_concerns_claim_is_an_error() -> None:
    same = Operation(dict, lambda _ctx, _request: {})  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="'state' is defined twice"):
        dispatch._one_table({"state": same}, {"state": same})


def test_an_unknown_operation_is_bad_input() -> None:
    with pytest.raises(BadInput, match="request: unknown operation 'format_disk'"):
        dispatch.operation("format_disk")


def test_the_host_groups_own_operations_need_no_other_concern() -> None:
    probe = ("import sys; from s2s_sd.agent import dispatch; dispatch.operation('state');"
             "print(sorted(m for m in sys.modules if m.startswith('s2s_sd.agent.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    # the records and the group operations: what a move's and a status' sessions ask
    assert loaded.strip() == ("['s2s_sd.agent.core_ops', 's2s_sd.agent.dispatch', "
                              "'s2s_sd.agent.group_ops']")
