"""edit.py: one change per edit, every other byte of the administrator's file kept."""

from __future__ import annotations

import tomllib

import pytest

from s2s_sd.edit import add_table, add_to_list, insert_block, remove_from_list, remove_table
from s2s_sd.errors import BadInput
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.unit

HG = ("hostgroup",)

# (layout before, after adding "n3") for the host list, one case per layout
ADD_CASES = [
    ('hosts = ["n1", "n2"]\n', 'hosts = ["n1", "n2", "n3"]\n'),
    ('hosts = ["n1","n2"]   # ours\n', 'hosts = ["n1","n2", "n3"]   # ours\n'),
    ('hosts = [ "n1", ]\n', 'hosts = [ "n1", "n3", ]\n'),
    ("hosts = ['n1']\n", "hosts = ['n1', \"n3\"]\n"),
    ("hosts = []\n", 'hosts = ["n3"]\n'),
    ('hosts = [\n  "n1",\n  "n2",\n]\n', 'hosts = [\n  "n1",\n  "n2",\n  "n3",\n]\n'),
    ('hosts = [\n    "n1",  # db\n    "n2"  # app\n]\n',
     'hosts = [\n    "n1",  # db\n    "n2",  # app\n    "n3"\n]\n'),
    ('hosts = [\n  "n1", "n2"]\n', 'hosts = [\n  "n1", "n2", "n3"]\n'),
    ('hosts = [\n  # the rack\n  "n1",\n\n]\n', 'hosts = [\n  # the rack\n  "n1",\n  "n3",\n\n]\n'),
]


def document(hosts_line: str) -> str:
    return ('# site c07\n\n[hostgroup]  # the hosts\nname = "c07"\n' + hosts_line +
            'engine = "systemd"\n\n# per host\n[hosts.n1]\naddress = "10.0.0.1"\n\n'
            '[groups.web]\nhosts = ["n1", "n2"]\n\n  [[groups.web.services]]\n'
            '  name = "vip"\n  type = "ip"\n  address = "192.0.2.5/24"\n')


@pytest.mark.parametrize(("before", "after"), ADD_CASES)
def test_add_to_list_keeps_the_layout(before: str, after: str) -> None:
    assert add_to_list(document(before), HG, "hosts", "n3") == document(after)


@pytest.mark.parametrize(("before", "after"), ADD_CASES)
def test_remove_from_list_undoes_add(before: str, after: str) -> None:
    removed = remove_from_list(document(after), HG, "hosts", "n3")
    assert tomllib.loads(removed) == tomllib.loads(document(before))
    # outside the list, nothing moved
    head, tail = document(before).split("hosts = ", 1)[0], document(before).split("engine", 1)[1]
    assert removed.startswith(head) and removed.endswith(tail)


def test_remove_from_list_takes_its_own_line() -> None:
    text = document('hosts = [\n  "n1",  # db\n  "n3",  # gone\n  "n2",\n]\n')
    assert remove_from_list(text, HG, "hosts", "n3") == \
        document('hosts = [\n  "n1",  # db\n  "n2",\n]\n')


def test_remove_first_and_only() -> None:
    assert remove_from_list(document('hosts = ["n3", "n1"]\n'), HG, "hosts", "n3") == \
        document('hosts = ["n1"]\n')
    assert remove_from_list(document('hosts = ["n3"]\n'), HG, "hosts", "n3") == \
        document('hosts = []\n')


def test_list_of_another_table_and_top_level() -> None:
    text = document('hosts = ["n1", "n2"]\n')
    changed = remove_from_list(text, ("groups", "web"), "hosts", "n2")
    assert tomllib.loads(changed)["groups"]["web"]["hosts"] == ["n1"]
    assert tomllib.loads(changed)["hostgroup"]["hosts"] == ["n1", "n2"]
    group_file = '# db\ndescription = "x"\nhosts = ["a", "b"]\n\n[[services]]\nname = "s"\n'
    assert remove_from_list(group_file, (), "hosts", "a") == group_file.replace('"a", ', "")


def test_refusals_change_nothing() -> None:
    text = document('hosts = ["n1", "n2"]\n')
    with pytest.raises(BadInput, match=r"not in hostgroup\.hosts"):
        remove_from_list(text, HG, "hosts", "n9")
    with pytest.raises(BadInput, match="no hosts"):
        add_to_list('[hostgroup]\nname = "x"\n', HG, "hosts", "n9")
    with pytest.raises(BadInput, match="not a list"):
        add_to_list('[hostgroup]\nhosts = "n1"\n', HG, "hosts", "n9")
    with pytest.raises(BadInput, match="not valid TOML"):
        add_to_list('[hostgroup]\nhosts = ["n1"\n', HG, "hosts", "n9")
    # a layout the edits do not know is refused, never written wrong
    with pytest.raises(BadInput):
        add_to_list('hostgroup.hosts = ["n1"]\n', HG, "hosts", "n9")


def test_add_table_after_its_family() -> None:
    text = document('hosts = ["n1", "n2"]\n')
    added = add_table(text, ("hosts", "n3"), [("address", "10.0.0.3"), ("host_key", "K")],
                      after=[("hosts",), HG])
    assert added == text.replace(
        'address = "10.0.0.1"\n',
        'address = "10.0.0.1"\n\n[hosts.n3]\naddress = "10.0.0.3"\nhost_key = "K"\n')
    assert remove_table(added, ("hosts", "n3")) == text


def test_add_table_without_family_goes_after_the_fallback() -> None:
    text = '[hostgroup]\nname = "c"\nhosts = ["a"]\n# about groups\n[groups.x]\nhosts = ["a"]\n'
    added = add_table(text, ("hosts", "a.example.com"), [("host_key", "K")],
                      after=[("hosts",), HG])
    assert added == ('[hostgroup]\nname = "c"\nhosts = ["a"]\n\n[hosts."a.example.com"]\n'
                     'host_key = "K"\n\n# about groups\n[groups.x]\nhosts = ["a"]\n')
    with pytest.raises(BadInput, match="exists already"):
        add_table(added, ("hosts", "a.example.com"), [("host_key", "K")], after=[HG])


def test_remove_table_keeps_comments_of_what_follows() -> None:
    text = '[hostgroup]\nhosts = ["a"]\n\n[hosts.a]\naddress = "x"\n# next\n[groups.g]\nk = 1\n'
    assert remove_table(text, ("hosts", "a")) == \
        '[hostgroup]\nhosts = ["a"]\n\n# next\n[groups.g]\nk = 1\n'
    with pytest.raises(BadInput, match=r"no \[hosts\.b\]"):
        remove_table(text, ("hosts", "b"))


def test_insert_block_with_its_group() -> None:
    text = document('hosts = ["n1"]\n') + "\n[groups.db]\nhosts = [\"n1\"]\n"
    block = "  # [[groups.web.services]]\n  # name = \"x\"\n"
    changed = insert_block(text, block, ("groups", "web"))
    assert changed == text.replace('/24"\n\n[groups.db]', '/24"\n\n' + block + '\n[groups.db]')


def test_examples_round_trip() -> None:
    text = (EXAMPLES / "s2s.toml").read_text()
    added = add_to_list(text, HG, "hosts", "n4")
    assert remove_from_list(added, HG, "hosts", "n4") == text
    changed = [line for line in added.splitlines() if line not in text.splitlines()]
    assert len(changed) == 1 and '"n4"' in changed[0]
