"""Property-based: whatever a host answers, the admin reads it as findings or refuses it
as bad input, never with a traceback; any names given to the drill give a plan or bad
input (make fuzz runs many more examples)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.drill import Finding, VipAnswer, drill_plan
from s2s_sd.errors import BadInput
from s2s_sd.load import load_definitions
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

DEFS = load_definitions(EXAMPLES, "n1")
_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=10),
                     lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_FIELDS = st.sampled_from(["host", "group", "member", "level", "check", "reason", "address",
                           "mac"])
_ANSWER = st.dictionaries(_FIELDS, _JSON | st.sampled_from(["OK", "WARN", "FAIL", "n1"]),
                          max_size=8)


@given(_JSON | _ANSWER)
def test_any_answer_is_a_finding_or_bad_input(raw: object) -> None:
    for parse in (Finding.from_dict, VipAnswer.from_dict):
        try:
            parsed = parse(raw)
        except BadInput:
            continue
        assert json.loads(json.dumps(parsed.as_dict())) == parsed.as_dict()


@given(st.lists(st.sampled_from(["censhare", "ora", "web", "nosuch", ""]), max_size=4),
       st.lists(st.sampled_from(["n1", "n2", "n3", "n9"]), max_size=3))
def test_any_names_give_a_plan_or_bad_input(groups: list[str], hosts: list[str]) -> None:
    try:
        plan = drill_plan(DEFS, groups, hosts)
    except BadInput:
        return
    for host, asked in plan.items():
        assert not hosts or host in hosts
        for name in asked:
            group = DEFS.group(name)
            assert group is not None and host in group.hosts
            assert not groups or name in groups
