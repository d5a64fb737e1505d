"""fstab parsing (pure) and the search for boot-time mounts of a group's device."""

from __future__ import annotations

import pytest

from s2s_sd.fstab import FstabEntry, automatic_entries, normalise_spec, parse_fstab

pytestmark = pytest.mark.unit

FSTAB = """\
# /etc/fstab: static file system information.
UUID=1b2c-aa / ext4 errors=remount-ro 0 1

/dev/mapper/censhare_data  /disk/censhare/00  ext4  noatime  0 2
LABEL="ora\\040data" /disk/ora/00 ext4 noauto,noatime 0 0
/dev/sdb1 /mnt/with\\040blank xfs defaults # trailing comment
tmpfs /tmp tmpfs
short-line
"""


def test_entries_with_their_lines_fields_and_defaults() -> None:
    entries = parse_fstab(FSTAB)
    assert [e.line for e in entries] == [2, 4, 5, 6, 7]
    assert entries[1] == FstabEntry(4, "/dev/mapper/censhare_data", "/disk/censhare/00",
                                    "ext4", ("noatime",))
    assert entries[3].mountpoint == "/mnt/with blank"
    assert entries[4].options == ("defaults",)
    assert not entries[2].automatic and entries[1].automatic


def test_a_device_mounted_at_boot_is_found_by_any_of_its_names() -> None:
    entries = parse_fstab(FSTAB)
    [found] = automatic_entries(entries, {"/dev/dm-3", "/dev/mapper/censhare_data"},
                                "/disk/censhare/00")
    assert found.line == 4
    # by UUID, case of the tag and quotes do not matter
    [root] = automatic_entries(entries, {'uuid="1b2c-aa"'}, "/nowhere")
    assert root.line == 2


def test_noauto_entries_and_other_devices_are_not_boot_mounts() -> None:
    entries = parse_fstab(FSTAB)
    assert automatic_entries(entries, {'LABEL=ora data'}, "/disk/ora/00") == []
    assert automatic_entries(entries, {"/dev/mapper/ora_redo"}, "/disk/ora/01") == []


def test_another_file_system_on_the_mountpoint_is_found_too() -> None:
    [found] = automatic_entries(parse_fstab(FSTAB), {"/dev/sdz"}, "/mnt/with blank/")
    assert found.spec == "/dev/sdb1"


@pytest.mark.parametrize(("spec", "normal"), [
    ("LABEL='x y'", "LABEL=x y"), ("label=x", "LABEL=x"), ("/dev/sda1/", "/dev/sda1"),
    ("/", "/"),
])
def test_spec_normalisation(spec: str, normal: str) -> None:
    assert normalise_spec(spec) == normal
