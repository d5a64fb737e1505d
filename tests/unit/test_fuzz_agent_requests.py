"""Malformed agent requests, for every operation of the protocol: each is answered as bad
input (exit 2, kind bad_input), never as an internal error, and nothing is written.

The valid request of each operation is built from its declared request class; one
mutation (a wrong type, NaN/inf, a huge or out-of-range number, a bool for an int, deep
JSON, a missing or extra field, an over-long string, control characters, a path trick)
makes it invalid. Which bad values fit a field is read from the field's check (its kind,
range, pattern), so a new operation or field is fuzzed without touching this file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.agent import dispatch, pacemaker_ops
from s2s_sd.agent.core_ops import AgentContext
from s2s_sd.cli.runtime import answer_request
from s2s_sd.hosts import protocol
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

DEEP = "__DEEP_JSON__"
HOST = "n1"
GROUP = "censhare"
HOSTGROUP = "c07"

TABLES: Mapping[str, protocol.Operation[Any]] = dispatch.operations()
OPS = sorted(TABLES)

# A valid value for each field name (what the admin host sends); records are built from
# their dataclass, so fields another change adds to a lock or journal are covered too.
VALID_FIELDS: dict[str, Any] = {
    "hostgroup": HOSTGROUP, "group": GROUP, "groups": [GROUP], "scripts": True,
    "generation": 3, "epoch": 4, "assignments": {GROUP: HOST}, "digest": "ab12",
    "archive": "AAAA", "units": False, "token": "tok-1", "break_token": "tok-0",
    "pid": 4242, "which": "pre_move", "source": "n2", "target": HOST, "clear": False,
    "active": True, "action": "tombstone", "name": "svc", "links": {"00": None},
    "path": "/opt/app/etc", "stable": "/service/00/svc/opt/app/etc", "undo": True,
    "started": 123456, "boot_id": "00000000-0000-0000-0000-000000000000",
    "version": "0.1.0", "expected": {"/etc/systemd/system/s2s-censhare.target": "0" * 64},
    "probe": [[GROUP, "vip"]], "frozen": True, "by": HOST,
    "health": True,
}
_BY_TYPE = {str: "x", int: 1, float: 1.0, bool: False}


def _record_example(cls: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    example = {}
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        kind = next((t for t in typing.get_args(hint) if t is not type(None)), hint)
        example[field.name] = VALID_FIELDS.get(field.name, _BY_TYPE[kind])
    example["since"] = 1.7e9
    # a journal's `started` is a time, a lock's its holder's process start (clock ticks)
    example["started"] = 123456 if int in typing.get_args(hints.get("started")) else 1.7e9
    return {k: v for k, v in example.items() if k in hints}


def valid_args(op: str) -> dict[str, Any]:
    args = {}
    for name, check in protocol.field_checks(TABLES[op].request).items():
        inner = getattr(check, "inner", check)
        args[name] = (_record_example(inner.cls) if isinstance(inner, protocol.Record)
                      else VALID_FIELDS[name])
    return args


# -- bad values, by what a field's check accepts ----------------------------------------------

NOT_A_STRING = st.sampled_from([1, 0.5, True, False, [], {}, ["x"], {"a": "b"}])
BAD_TEXT = st.sampled_from(["a\x00b", "a\nb", "tab\there", "\x7f", "line\u2028sep", "\ud800",
                            "\x1b[31m", "a\rb"])


def _bad_numbers(check: Any) -> st.SearchStrategy[Any]:
    low, high = check.low, check.high
    choices = [math.nan, math.inf, -math.inf, True, False, "1", [1], {"n": 1}, None,
               10**25, -(10**25), int(high) + 1, int(low) - 1, high * 2 + 1.5]
    if check.kind == "int":
        choices += [1.5, 2.0, 1e300]
    return st.sampled_from([c for c in choices if c is not None])


def _bad_text(check: Any) -> st.SearchStrategy[Any]:
    max_length = getattr(check, "max_length", 255)
    options = [NOT_A_STRING, BAD_TEXT]
    if max_length < 100_000:
        options.append(st.just("a" * (max(max_length, 4096) + 1)))
    pattern = getattr(check, "pattern", None)
    if pattern is not None:
        forms = ["1abc", "a-b", "a b", "\u00e4", "../etc", "-x", "a/b", "!!", "_x"]
        options.append(st.sampled_from([f for f in forms if not pattern.match(f)]))
    if getattr(check, "allow_empty", True) is False:
        options.append(st.just(""))
    return st.one_of(*options)


def bad_value(check: Any) -> st.SearchStrategy[Any]:
    """A value CHECK refuses (None, which optional fields accept, is never drawn here)."""
    inner = getattr(check, "inner", check)
    kind = inner.kind
    if kind in ("int", "float"):
        return _bad_numbers(inner)
    if kind == "bool":
        return st.sampled_from([0, 1, "true", "false", [], {}, 1.0])
    if kind == "choice":
        return st.one_of(NOT_A_STRING, BAD_TEXT, st.sampled_from(["", "PRE_MOVE", "other"]))
    if kind == "path":
        return st.one_of(NOT_A_STRING, st.sampled_from([
            "relative/path", "/a/../b", "/a/./b", "/x\x00y", "/x\ny", "", "..", "/..",
            "/" + "a" * 5000]))
    if kind == "list":
        return st.one_of(st.sampled_from(["x", 1, {}, True]),
                         bad_value(inner.item).map(lambda v: [v]),
                         st.just(["a"] * (inner.max_items + 1)))
    if kind == "object":
        return st.one_of(st.sampled_from(["x", 1, [], True]),
                         bad_value(inner.value).map(lambda v: {"00": v}),
                         bad_value(inner.key).filter(lambda k: isinstance(k, str))
                         .map(lambda k: {k: None}))
    if kind == "record":
        return st.sampled_from(["x", 1, [], True])
    return _bad_text(inner)


# -- mutations --------------------------------------------------------------------------------

@st.composite
def malformed_request(draw: st.DrawFn) -> str:
    """The JSON text of one request with exactly one kind of defect."""
    op = draw(st.sampled_from(OPS))
    args: Any = valid_args(op)
    request: dict[str, Any] = {"version": protocol.PROTOCOL_VERSION, "op": op, "args": args}
    checks = protocol.field_checks(TABLES[op].request)
    required = [n for n, c in checks.items() if not isinstance(c, protocol.Nullable)]
    records = [n for n, c in checks.items() if isinstance(c, protocol.Record)]
    defects = ["extra", "args", "version", "top", "op"]
    if checks:
        defects += ["value", "value", "value", "deep"]
    if required:
        defects.append("missing")
    if records:
        defects += ["record", "record"]
    defect = draw(st.sampled_from(defects))
    if defect == "extra":
        args[draw(st.sampled_from(["extra", "Group", "hostgroup_", "__class__"]))] = 1
    elif defect == "args":
        request["args"] = draw(st.sampled_from([[], "x", 0, 1, True, 1.5, [args]]))
    elif defect == "version":
        request["version"] = draw(st.sampled_from(
            [True, 1.0, "1", 2, 0, -1, None, math.nan, [1], {"v": 1}, 10**30]))
    elif defect == "top":
        request[draw(st.sampled_from(["extra", "Op", "argz"]))] = {}
    elif defect == "op":
        request["op"] = draw(st.sampled_from([None, 1, True, [], "", "nope", "kits_nope",
                                              "__init__", op.upper(), op + "\x00"]))
    elif defect == "missing":
        del args[draw(st.sampled_from(required))]
    elif defect == "deep":
        args[draw(st.sampled_from(sorted(checks)))] = DEEP
    elif defect == "record":
        name = draw(st.sampled_from(records))
        record = args[name]
        field = draw(st.sampled_from(sorted(record)))
        how = draw(st.sampled_from(["drop", "extra", "bad"]))
        if how == "drop":  # a field the record cannot do without
            cls = getattr(checks[name], "inner", checks[name]).cls
            hints = typing.get_type_hints(cls)
            del record[draw(st.sampled_from(sorted(
                f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and type(None) not in
                typing.get_args(hints[f.name]))))]
        elif how == "extra":
            record["unexpected"] = "x"
        else:
            record[field] = draw(st.sampled_from(
                [math.nan, math.inf, -math.inf, 10**25, True, [], {}, "a\x00b", -1,
                 "a" * 5000, 2**64] if not isinstance(record[field], bool)
                else [0, 1, "true", [], None if field in ("forced",) else "x"]))
            if record[field] is None:
                record[field] = "x"
    else:
        name = draw(st.sampled_from(sorted(checks)))
        args[name] = draw(bad_value(checks[name]))
    text = json.dumps(request, allow_nan=True)
    depth = draw(st.sampled_from([protocol.MAX_DEPTH, 50, 5000, 200_000]))
    return text.replace(json.dumps(DEEP), "[" * depth + "]" * depth)


# -- the agent, on a copy of the examples, with every place it may write in tmp ---------------

@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentContext, Path]]:
    root = tmp_path_factory.mktemp("agent-fuzz")
    basedir = root / "base"
    shutil.copytree(EXAMPLES, basedir)
    env = {"S2S_SD_STATEDIR": root / "state", "S2S_SD_LOGDIR": root / "log",
           "S2S_SD_SERVICE_ROOT": root / "service", "S2S_SD_LOCAL_DISKS": root / "local"}
    saved = {k: os.environ.get(k) for k in env}
    patch = pytest.MonkeyPatch()
    for key, value in env.items():
        patch.setenv(key, str(value))
    patch.setattr(pacemaker_ops, "HOOK_STATE_DIR", root / "hooks")
    patch.setattr(pacemaker_ops, "TOMBSTONE_DIR", root / "tombstones")
    context = AgentContext(basedir=basedir, host=HOST)
    context.defs()
    yield context, root
    patch.undo()
    assert {k: os.environ.get(k) for k in env} == saved


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            info = os.lstat(os.path.join(directory, name))
            found[os.path.join(directory, name)] = (info.st_mode, info.st_size,
                                                    info.st_mtime_ns)
    return found


def assert_bad_input(context: AgentContext, root: Path, raw: bytes) -> dict[str, Any]:
    before = snapshot(root)
    line, code = answer_request(context.basedir, context, raw)
    answer = json.loads(line)
    assert (code, answer["kind"]) == (2, "bad_input"), (raw[:300], answer)
    assert "internal error" not in answer["message"]
    assert "\n" not in line
    assert snapshot(root) == before, raw[:300]
    return dict(answer)


@given(request=malformed_request())
def test_fuzz_malformed_requests_are_bad_input_and_write_nothing(
        sandbox: tuple[AgentContext, Path], request: str) -> None:
    context, root = sandbox
    assert_bad_input(context, root, request.encode("utf-8", "surrogatepass"))


@given(raw=st.binary(max_size=200))
def test_fuzz_garbage_lines_are_bad_input(sandbox: tuple[AgentContext, Path],
                                          raw: bytes) -> None:
    context, root = sandbox
    assert_bad_input(context, root, b"\xff" + raw)
