"""Applying the rendered Pacemaker configuration to a CIB (live or a file), safely.

    live CIB (cibadmin --query; CIB_file semantics for files)
      -> merge: replace exactly the s2s-managed part (render/pacemaker.py says what that
         is), keep everything else byte for byte, keep the operators' switches
         (target-role, is-managed, maintenance) on s2s-sd's resources
      -> show the difference of the s2s-managed part (secrets masked)
      -> crm_verify the merged CIB; refuse an invalid one
      -> crm_diff against the live CIB and push that one versioned patch (cibadmin --patch);
         a CIB that changed meanwhile rejects it, and the whole cycle is tried again

Nothing is pushed when the s2s-managed part already matches the definitions. A file is
patched in a copy next to it and renamed over it, so it is replaced whole or not at all.
Secret fence parameters are read from their files (secrets.py), go to the tools on stdin
or in a private temporary directory, and are masked in everything shown. The tools
(cibadmin, crm_verify, crm_diff) are called in cib_tools.py.
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from s2s_sd.engines.pacemaker.cib_tools import (
    CIB_FILE_ENV,
    PARSER,
    make_patch,
    push,
    query,
    verify,
)
from s2s_sd.engines.pacemaker.secrets import read_secrets, stonith_parameters
from s2s_sd.errors import OperationFailed, Refused
from s2s_sd.model import Definitions
from s2s_sd.naming import CONSTRAINT_PREFIX, managed_alert_id, managed_tag_id
from s2s_sd.render.pacemaker import (
    LEGACY_MANAGED_META,
    PRESERVED_META,
    PROPERTY_SET,
    SECRET_MASK,
    STONITH_ENABLED,
    PacemakerSettings,
    managed_alert,
    managed_constraints,
    managed_resources,
    managed_tag,
    stonith_enabled,
    to_text,
)

PUSH_ATTEMPTS = 3


@dataclass
class Merge:
    """The merged CIB and what changed in the s2s-managed part."""

    cib: etree._Element
    changes: list[str] = field(default_factory=list)
    diff: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class ApplyResult:
    target: str  # "the live cluster" or the file
    changes: tuple[str, ...]
    diff: str
    pushed: bool
    dry_run: bool
    verify_messages: str
    warnings: tuple[str, ...] = ()


# -- secrets in what is shown ------------------------------------------------------------

def mask_secrets(element: etree._Element) -> etree._Element:
    """A copy of ELEMENT with the value of every stonith parameter masked.

    Which parameters of a fence agent are secret is the agent's business (password,
    passwd_script, key, community, identity files...), and a device that was renamed or
    removed has no secret_params left in the definitions to say so: all are masked."""
    copy = etree.fromstring(etree.tostring(element), PARSER)
    for nvpair in stonith_parameters(copy):
        nvpair.set("value", SECRET_MASK)
    return copy


def shown_secrets(live: etree._Element, merged: etree._Element, hostgroup: str,
                  secrets: Iterable[str]) -> list[str]:
    """What to scrub from the tools' messages: the secrets read from files, and every
    parameter value of s2s-sd's stonith resources in the live CIB (an old device's secret)
    that the definitions do not write as a plain parameter themselves."""
    def values(cib: etree._Element) -> set[str]:
        config = cib.find("configuration")
        owned = managed_ids(config, hostgroup) if config is not None else set()
        resources = cib.iterfind("configuration/resources/*")
        return {nvpair.get("value", "") for resource in resources
                if resource.get("id") in owned for nvpair in stonith_parameters(resource)}

    plain = values(merged) - set(secrets)
    return sorted((set(secrets) | values(live)) - plain - {""})


# -- reading and shaping XML -------------------------------------------------------------

def canonical(element: etree._Element) -> bytes:
    """Comparable form: white space, comments and the order of attributes, nvpairs,
    ops and blocks do not matter; the order of a group's members does."""
    copy = etree.fromstring(etree.tostring(element), PARSER)
    for comment in list(copy.iter(etree.Comment)):
        parent = comment.getparent()
        if parent is not None:
            parent.remove(comment)
    for node in list(copy.iter()):
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
        children = list(node)
        if len(children) > 1:
            ordered = sorted(children, key=lambda c: (
                c.tag == "primitive" and node.tag == "group", str(c.tag),
                "" if c.tag == "primitive" and node.tag == "group" else c.get("id", "")))
            node[:] = ordered
    return etree.tostring(copy, method="c14n")


def _child(parent: etree._Element, tag: str) -> etree._Element:
    found = parent.find(tag)
    if found is None:
        found = etree.SubElement(parent, tag)
    return found


def live_tags(config: etree._Element, hostgroup: str) -> list[etree._Element]:
    """The tag(s) s2s-sd-HOSTGROUP of a CIB's configuration (one, unless edited by hand)."""
    wanted = managed_tag_id(hostgroup)
    return [t for t in config.iterfind("tags/tag") if t.get("id") == wanted]


def live_alerts(config: etree._Element, hostgroup: str) -> list[etree._Element]:
    """The alert s2s-sd-HOSTGROUP-notify (the notify hook's); other alerts are not ours."""
    wanted = managed_alert_id(hostgroup)
    return [a for a in config.iterfind("alerts/alert") if a.get("id") == wanted]


def managed_ids(config: etree._Element, hostgroup: str) -> set[str]:
    """The ids of the top-level resources s2s-sd created for this host group: those in
    its tag, and those an earlier version marked with the meta attribute s2s-sd-managed
    (so the first apply of this version takes them over and drops the attribute)."""
    ids = {ref.get("id", "") for tag in live_tags(config, hostgroup)
           for ref in tag.iterfind("obj_ref")}
    for resource in config.iterfind("resources/*"):
        if any(nvpair.get("name") == LEGACY_MANAGED_META and nvpair.get("value") == hostgroup
               for nvpair in resource.iterfind("meta_attributes/nvpair")):
            ids.add(resource.get("id", ""))
    return ids


def _ids(elements: Iterable[etree._Element]) -> dict[str, etree._Element]:
    ids: dict[str, etree._Element] = {}
    for element in elements:
        for node in element.iter():
            node_id = node.get("id")
            if node_id is not None:
                ids[node_id] = node
    return ids


def _describe(node: etree._Element) -> str:
    top = node
    parent = top.getparent()
    while parent is not None and parent.tag not in (
            "resources", "constraints", "crm_config", "nodes", "configuration"):
        top, parent = parent, parent.getparent()
    return f"<{top.tag} id={top.get('id')!r}>"


def _preserve_operator_meta(live: etree._Element, new: etree._Element) -> None:
    """Carry target-role, is-managed, maintenance from the live element into the new one
    (for the resource itself and, in a group, its members of the same id)."""
    new_by_id = {n.get("id"): n for n in new.iter("primitive", "group")}
    for owner in live.iter("primitive", "group"):
        target = new_by_id.get(owner.get("id"))
        if target is None:
            continue
        for block in owner.iterfind("meta_attributes"):
            keep = [nv for nv in block.iterfind("nvpair") if nv.get("name") in PRESERVED_META]
            if not keep:
                continue
            into = next((b for b in target.iterfind("meta_attributes")
                         if b.get("id") == block.get("id")), None)
            if into is None:
                into = etree.SubElement(target, "meta_attributes", id=block.get("id", ""))
            for nvpair in keep:
                into.append(etree.fromstring(etree.tostring(nvpair), PARSER))


# -- merging -----------------------------------------------------------------------------

def merge(live: etree._Element, defs: Definitions, settings: PacemakerSettings | None = None,
          secrets: Mapping[tuple[str, str], str] | None = None) -> Merge:
    """The live CIB with its s2s-managed part replaced by the definitions' (a new tree)."""
    settings = settings or PacemakerSettings()
    cib = etree.fromstring(etree.tostring(live), PARSER)
    hostgroup = defs.hostgroup.name
    config = cib.find("configuration")
    assert config is not None  # parse_cib checked
    resources = _child(config, "resources")
    constraints = _child(config, "constraints")

    # the cluster's own nodes decide whether a group may run on every one of them
    others = tuple(sorted({str(n.get("uname")) for n in config.iterfind("nodes/node")
                           if n.get("uname")} - set(defs.hostgroup.host_names)))
    settings = replace(settings, other_nodes=others)
    new_resources = list(managed_resources(defs, settings, secrets))
    new_constraints = list(managed_constraints(defs, settings))
    new_tag = managed_tag(defs, new_resources)
    new_alert = managed_alert(defs, settings)
    new_rsc_ids = {r.get("id") for r in new_resources}

    owned_ids = managed_ids(config, hostgroup)
    live_managed = [r for r in resources if r.get("id") in owned_ids]
    live_managed_ids = {r.get("id") for r in live_managed}
    owned_rsc = live_managed_ids | new_rsc_ids
    live_constraints = [
        c for c in constraints
        if c.get("id", "").startswith(CONSTRAINT_PREFIX) and c.get("rsc") in owned_rsc
    ]

    for group in live_managed:
        if group.tag != "group":
            continue
        for member in group.iterfind("primitive"):
            if not member.get("id", "").startswith(f"{group.get('id')}_"):
                raise Refused(
                    f"resource {member.get('id')} was added to s2s-sd's group "
                    f"{group.get('id')} by hand; s2s-sd would remove it. Move it out of the "
                    "group (or into the definitions) first; nothing was changed")

    # ids are unique in the whole CIB: s2s-sd must not take one that is someone else's
    tags = live_tags(config, hostgroup)
    alerts = live_alerts(config, hostgroup)
    replaced = (set(map(id, live_managed)) | set(map(id, live_constraints))
                | set(map(id, tags)) | set(map(id, alerts)))
    foreign_ids = _ids(
        element for element in (*resources, *constraints, *config.iterfind("tags/*"),
                                *config.iterfind("alerts/*"))
        if id(element) not in replaced
    )
    foreign_ids.update(_ids(e for e in config
                            if e.tag not in ("resources", "constraints", "tags", "alerts")))
    stonith_nvpair = _stonith_nvpair(config)
    if stonith_nvpair is not None:
        foreign_ids.pop(stonith_nvpair.get("id", ""), None)
    clashes = sorted(set(_ids(new_resources + new_constraints
                              + ([new_tag] if new_tag is not None else [])
                              + ([new_alert] if new_alert is not None else [])))
                     & set(foreign_ids))
    if clashes:
        shown = ", ".join(f"{i} (in {_describe(foreign_ids[i])})" for i in clashes[:5])
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise Refused(
            f"the CIB already holds ids s2s-sd would create, in configuration it did not "
            f"create: {shown}{more}. Rename or remove those (or hand an existing resource "
            f"to s2s-sd: add it to the tag {managed_tag_id(hostgroup)}, e.g. `pcs tag update "
            f"{managed_tag_id(hostgroup)} add ID`); nothing was changed")

    result = Merge(cib)
    for element in live_managed:
        match = next((n for n in new_resources if n.get("id") == element.get("id")), None)
        if match is not None:
            _preserve_operator_meta(element, match)
    _merge_list(resources, live_managed, new_resources, "resource", result)
    _merge_list(constraints, live_constraints, new_constraints, "constraint", result)
    _merge_section(config, "tags", tags, new_tag, "tag", result)
    _merge_section(config, "alerts", alerts, new_alert, "alert", result)

    wanted = stonith_enabled(defs)
    if wanted is not None:
        nvpair = _stonith_nvpair(config)
        if nvpair is None:
            props = _property_set(config)
            nvpair = etree.SubElement(props, "nvpair", id=f"{PROPERTY_SET}-{STONITH_ENABLED}",
                                      name=STONITH_ENABLED, value=wanted)
            result.changes.append(f"set property {STONITH_ENABLED}={wanted}")
        elif nvpair.get("value") != wanted:
            result.changes.append(
                f"set property {STONITH_ENABLED}={wanted} (was {nvpair.get('value')})")
            nvpair.set("value", wanted)
    result.diff = managed_diff(live, cib, defs)
    if result.changed:
        epoch = int(cib.get("epoch", "0") or 0)
        cib.set("epoch", str(epoch + 1))
        cib.set("num_updates", "0")
    return result


def _merge_section(config: etree._Element, section: str, live: Sequence[etree._Element],
                   new: etree._Element | None, kind: str, result: Merge) -> None:
    """Replace s2s-sd's one element of a section (<tags>, <alerts>) that may also hold
    other elements (kept): the section is created for it, removed when left empty."""
    if not live and new is None:
        return
    _merge_list(_child(config, section), live, [new] if new is not None else [], kind,
                result)
    empty = config.find(section)
    if empty is not None and len(empty) == 0:
        config.remove(empty)


def _property_set(config: etree._Element) -> etree._Element:
    crm_config = config.find("crm_config")
    if crm_config is None:
        crm_config = etree.Element("crm_config")
        config.insert(0, crm_config)
    props = crm_config.find(f"cluster_property_set[@id='{PROPERTY_SET}']")
    if props is None:
        props = etree.Element("cluster_property_set", id=PROPERTY_SET)
        crm_config.insert(0, props)
    return props


def _stonith_nvpair(config: etree._Element) -> etree._Element | None:
    return config.find(f"crm_config/cluster_property_set[@id='{PROPERTY_SET}']"
                       f"/nvpair[@name='{STONITH_ENABLED}']")


def _merge_list(parent: etree._Element, live: Sequence[etree._Element],
                new: Sequence[etree._Element], kind: str, result: Merge) -> None:
    """Replace `live` (children of parent) by `new`: in place where the id stays,
    removed where it goes, appended where it is new. Unchanged elements stay as they
    were, byte for byte."""
    new_by_id = {n.get("id"): n for n in new}
    live_ids = set()
    for element in live:
        element_id = element.get("id")
        live_ids.add(element_id)
        replacement = new_by_id.get(element_id)
        label = f"{kind} {element_id}"
        if replacement is None:
            parent.remove(element)
            result.changes.append(f"remove {label}")
        elif canonical(replacement) != canonical(element):
            parent.replace(element, replacement)
            result.changes.append(f"update {label}")
    for element in new:
        if element.get("id") not in live_ids:
            parent.append(element)
            result.changes.append(f"add {kind} {element.get('id')}")


# -- showing the difference --------------------------------------------------------------

def managed_view(cib: etree._Element, defs: Definitions) -> list[str]:
    """The s2s-managed part of a CIB as text lines, secrets masked, sorted by id."""
    hostgroup = defs.hostgroup.name
    config = cib.find("configuration")
    if config is None:
        return []
    lines: list[str] = []
    nvpair = _stonith_nvpair(config)
    if stonith_enabled(defs) is not None and nvpair is not None:
        lines.append(f"property {STONITH_ENABLED}={nvpair.get('value')}")
    owned_ids = managed_ids(config, hostgroup)
    resources = [r for r in config.iterfind("resources/*") if r.get("id") in owned_ids]
    owned = {r.get("id") for r in resources}
    constraints = [c for c in config.iterfind("constraints/*")
                   if c.get("id", "").startswith(CONSTRAINT_PREFIX) and c.get("rsc") in owned]
    for element in sorted(resources, key=lambda e: e.get("id", "")):
        lines += to_text(mask_secrets(element)).splitlines()
    for element in sorted(constraints, key=lambda e: e.get("id", "")):
        copy = etree.fromstring(etree.tostring(element), PARSER)
        lines += to_text(copy).splitlines()
    for element in (*live_tags(config, hostgroup), *live_alerts(config, hostgroup)):
        lines += to_text(etree.fromstring(etree.tostring(element), PARSER)).splitlines()
    return lines


def managed_diff(old: etree._Element, new: etree._Element, defs: Definitions) -> str:
    """Unified diff of the s2s-managed parts ("" when equal), secrets masked."""
    lines = list(difflib.unified_diff(managed_view(old, defs), managed_view(new, defs),
                                      "CIB (s2s-sd part)", "definitions", lineterm=""))
    return "\n".join(lines) + "\n" if lines else ""


# -- apply -------------------------------------------------------------------------------

def apply(defs: Definitions, basedir: Path, settings: PacemakerSettings | None = None,
          cib_file: Path | None = None, dry_run: bool = False) -> ApplyResult:
    """Make the CIB's s2s-managed part match the definitions, as one patch.

    cib_file: a CIB file instead of the live cluster; None honours $CIB_file like the
    Pacemaker tools do.
    """
    if cib_file is None and os.environ.get(CIB_FILE_ENV):
        cib_file = Path(os.environ[CIB_FILE_ENV])
    target = str(cib_file) if cib_file is not None else "the live cluster"
    secrets = read_secrets(defs, basedir)
    for _attempt in range(PUSH_ATTEMPTS):
        live = query(cib_file)
        notes = node_warnings(live, defs)
        merged = merge(live, defs, settings, secrets)
        if not merged.changed:
            return ApplyResult(target, (), "", False, dry_run, "", notes)
        values = shown_secrets(live, merged.cib, defs.hostgroup.name, secrets.values())
        valid, messages = verify(merged.cib, values)
        if not valid:
            raise Refused(f"the merged CIB for {target} is invalid (crm_verify); nothing was "
                          f"changed:\n{messages}")
        if dry_run:
            return ApplyResult(target, tuple(merged.changes), merged.diff, False, True,
                               messages, notes)
        with tempfile.TemporaryDirectory(prefix="s2s-sd-cib.") as tmp:
            patch = make_patch(live, merged.cib, Path(tmp))
            if not patch:
                return ApplyResult(target, (), "", False, False, messages, notes)
            # the configuration must still be the one merged against; status updates in
            # the meantime only move num_updates, which the patch then starts from. The
            # CIB checks the version atomically: any change after this query rejects it.
            current = query(cib_file)
            if _config_version(current) != _config_version(live):
                continue
            patch = _retarget(patch, current.get("num_updates", "0"))
            if cib_file is None:
                status = push(patch, None, values)
            else:
                holds_secrets = bool(secrets) or \
                    next(stonith_parameters(merged.cib), None) is not None
                status = _push_file(patch, cib_file, values, holds_secrets)
        if status == 0:
            return ApplyResult(target, tuple(merged.changes), merged.diff, True, False,
                               messages, notes)
    raise OperationFailed(f"the CIB of {target} kept changing while s2s-sd applied its "
                          f"configuration ({PUSH_ATTEMPTS} attempts); nothing was changed")


def _config_version(cib: etree._Element) -> tuple[str | None, str | None]:
    return cib.get("admin_epoch"), cib.get("epoch")


def _retarget(patch: str, num_updates: str) -> str:
    """The patch with its source version's num_updates set to the current one."""
    root = etree.fromstring(patch.encode("utf-8"), PARSER)
    source = root.find("version/source")
    if source is not None:
        source.set("num_updates", num_updates)
    return etree.tostring(root, encoding="unicode")


def node_warnings(live: etree._Element, defs: Definitions) -> tuple[str, ...]:
    """Hosts of the definitions the CIB knows no node of: their groups cannot run there."""
    nodes = {n.get("uname") for n in live.iterfind("configuration/nodes/node")}
    missing = [h for h in defs.hostgroup.host_names if h not in nodes]
    if not missing:
        return ()
    return (f"the CIB has no node named {', '.join(missing)} (its nodes: "
            f"{', '.join(sorted(str(n) for n in nodes)) or 'none'}); groups cannot run on a "
            "host until it is a cluster node of that name",)


def _push_file(patch: str, cib_file: Path, secrets: Iterable[str], holds_secrets: bool) -> int:
    """Patch a copy next to the file, then rename it over the file: all or nothing.

    The copy lives in a private (0700) directory beside the file while the tools write it,
    so whatever mode they give it, nobody else reads it before it is in place. A file that
    holds secrets (fence parameters) ends up readable by its owner only; the file's mode
    is otherwise kept, and never widened."""
    directory = cib_file.absolute().parent
    original = cib_file.stat()
    mode = original.st_mode & 0o7777
    if holds_secrets:
        mode &= ~0o077
    private = Path(tempfile.mkdtemp(prefix=f".{cib_file.name}.", dir=directory))
    tmp = private / cib_file.name
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, cib_file.open("rb") as source:
            shutil.copyfileobj(source, out)
        status = push(patch, tmp, secrets)
        if status == 0:
            os.chmod(tmp, mode)
            if os.geteuid() == 0:
                os.chown(tmp, original.st_uid, original.st_gid)
            os.replace(tmp, cib_file)
        return status
    finally:
        shutil.rmtree(private, ignore_errors=True)
