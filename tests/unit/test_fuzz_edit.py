"""Property: a list edit changes that list and nothing else, in any layout."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_sd.edit import add_to_list, remove_from_list, toml_string

pytestmark = pytest.mark.unit

NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), unique=True,
                 max_size=6)
QUOTES = st.sampled_from(['"', "'"])
COMMENTS = st.sampled_from(["", "  # a comment", " #"])


@st.composite
def layouts(draw: st.DrawFn) -> tuple[str, list[str]]:
    names = draw(NAMES)
    multiline = draw(st.booleans())
    trailing = draw(st.booleans()) and bool(names)
    quote = draw(QUOTES)
    items = [f"{quote}{name}{quote}" for name in names]
    if multiline:
        indent = draw(st.sampled_from(["  ", "    ", "\t"]))
        lines = [f"{indent}{item}{',' if n < len(items) - 1 or trailing else ''}"
                 f"{draw(COMMENTS)}" for n, item in enumerate(items)]
        value = "[\n" + "".join(f"{line}\n" for line in lines) + "]"
    else:
        space = draw(st.sampled_from(["", " "]))
        value = ("[" + space + ("," + space).join(items) + ("," if trailing else "") + space
                 + "]")
    return value, names


def document(value: str) -> tuple[str, str, str]:
    head = "# the site\n[hostgroup]\nname = \"c\"\n"
    tail = "\nengine = \"systemd\"   # keep\n\n[groups.g]\nhosts = [\"x\"]\n"
    return head, f"hosts = {value}", tail


@given(layouts(), st.from_regex(r"[a-z][a-z0-9.-]{0,10}", fullmatch=True))
def test_fuzz_add_then_remove(layout: tuple[str, list[str]], new: str) -> None:
    value, names = layout
    head, statement, tail = document(value)
    text = head + statement + tail
    if new in names:
        return
    added = add_to_list(text, ("hostgroup",), "hosts", new)
    assert tomllib.loads(added)["hostgroup"]["hosts"] == [*names, new]
    assert added.startswith(head) and added.endswith(tail)
    assert toml_string(new) in added
    removed = remove_from_list(added, ("hostgroup",), "hosts", new)
    assert tomllib.loads(removed) == tomllib.loads(text)
    assert removed.startswith(head) and removed.endswith(tail)


@given(layouts())
def test_fuzz_remove_each(layout: tuple[str, list[str]]) -> None:
    value, names = layout
    head, statement, tail = document(value)
    text = head + statement + tail
    for name in names:
        removed = remove_from_list(text, ("hostgroup",), "hosts", name)
        assert tomllib.loads(removed)["hostgroup"]["hosts"] == [n for n in names if n != name]
        assert removed.startswith(head) and removed.endswith(tail)
