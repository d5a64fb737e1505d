"""The CIB's tools: reading the CIB (cibadmin --query; CIB_file semantics for files),
checking it (crm_verify), the versioned patch between two CIBs (crm_diff) and pushing it
(cibadmin --patch), and the installed CIB schema. Every message of a tool is shown with
the secrets scrubbed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from s2s_sd.engines.pacemaker.secrets import scrub
from s2s_sd.errors import BadInput, OperationFailed, exit_status
from s2s_sd.run import run

CIB_FILE_ENV = "CIB_file"
CRM_EX_OLD = 103  # cibadmin: the CIB changed since the patch was computed
TOOL_TIMEOUT = 120.0
PARSER = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True,
                          huge_tree=True)


def parse_cib(text: str, source: str) -> etree._Element:
    try:
        root = etree.fromstring(text.encode("utf-8"), PARSER)
    except etree.XMLSyntaxError as exc:
        raise OperationFailed(f"{source}: not a CIB: {exc}") from exc
    if root.tag != "cib" or root.find("configuration") is None:
        raise OperationFailed(f"{source}: not a CIB (no <cib><configuration>)")
    return root


_SCHEMA = re.compile(r"pacemaker-\d+\.\d+\Z")


def installed_schema() -> str | None:
    """The newest CIB schema of the installed Pacemaker (what `cibadmin --empty`, and
    so pcs, writes), None without the tools or when it says something unexpected."""
    try:
        result = run(["cibadmin", "--empty"], check=False, timeout=TOOL_TIMEOUT,
                     env=_tool_env())
    except OperationFailed:  # not installed
        return None
    try:
        schema = etree.fromstring(result.stdout.encode(), PARSER).get("validate-with", "")
    except etree.XMLSyntaxError:
        return None
    return schema if result.ok and _SCHEMA.match(schema) else None


def check_schema(schema: str) -> str:
    """A schema name given on the command line, or BadInput."""
    if not _SCHEMA.match(schema):
        raise BadInput(f"--validate-with {schema!r}: not a Pacemaker schema name "
                       "(pacemaker-X.Y, e.g. pacemaker-3.9)")
    return schema


def _env(cib_file: Path | None) -> dict[str, str]:
    return {CIB_FILE_ENV: str(cib_file)} if cib_file is not None else {}


def query(cib_file: Path | None) -> etree._Element:
    """The current CIB: the live cluster's, or the file's."""
    if cib_file is not None and not cib_file.is_file():
        raise BadInput(f"CIB file {cib_file}: no such file")
    result = run(["cibadmin", "--query"], check=False, extra_env=_env(cib_file),
                 timeout=TOOL_TIMEOUT)
    if not result.ok:
        where = f"CIB file {cib_file}" if cib_file else "the cluster (is Pacemaker running?)"
        raise OperationFailed(f"cannot read the CIB of {where}: "
                              f"{(result.stderr or result.stdout).strip()}")
    return parse_cib(result.stdout, str(cib_file or "cibadmin --query"))


def verify(cib: etree._Element, secrets: Iterable[str]) -> tuple[bool, str]:
    """crm_verify on the configuration (fed on stdin): (valid, messages, secrets masked).

    The status section is left out: what is judged is the configuration, not whether
    some node is unclean right now. Warnings do not make it invalid; errors do."""
    copy = etree.fromstring(etree.tostring(cib), PARSER)
    status = copy.find("status")
    if status is not None:
        copy.remove(status)
    etree.SubElement(copy, "status")
    text = etree.tostring(copy, encoding="unicode")
    result = run(["crm_verify", "--xml-pipe", "-V"], input=text, check=False,
                 timeout=TOOL_TIMEOUT, env=_tool_env())
    messages = scrub((result.stderr + result.stdout).strip(), secrets)
    if result.ok:
        return True, messages
    warnings_only = ("Warnings found during check" in messages
                     and "Errors found during check" not in messages
                     and "error:" not in messages)
    return warnings_only, messages


def _tool_env() -> dict[str, str]:
    """The environment without CIB_file: tools given a document must not read another."""
    return {k: v for k, v in os.environ.items() if k != CIB_FILE_ENV}


def make_patch(old: etree._Element, new: etree._Element, workdir: Path) -> str:
    """crm_diff's versioned patch from old to new ("" when there is no difference)."""
    old_path, new_path = workdir / "old.xml", workdir / "new.xml"
    for path, element in ((old_path, old), (new_path, new)):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(etree.tostring(element, encoding="unicode"))
    result = run(["crm_diff", "--original", str(old_path), "--new", str(new_path)],
                 check=False, timeout=TOOL_TIMEOUT, env=_tool_env())
    if result.returncode == 0:
        return ""
    if result.returncode == 1 and result.stdout.strip():
        return result.stdout
    raise OperationFailed(f"crm_diff failed ({exit_status(result.returncode)}): "
                          f"{result.stderr.strip()}")


def push(patch: str, cib_file: Path | None, secrets: Iterable[str]) -> int:
    """cibadmin --patch; returns 0, or CRM_EX_OLD when the CIB changed meanwhile."""
    result = run(["cibadmin", "--patch", "--xml-pipe"], input=patch, check=False,
                 extra_env=_env(cib_file), timeout=TOOL_TIMEOUT)
    if result.ok:
        return 0
    if result.returncode == CRM_EX_OLD:
        return CRM_EX_OLD
    message = scrub((result.stderr or result.stdout).strip(), secrets)
    raise OperationFailed(f"cibadmin --patch failed ({exit_status(result.returncode)}): {message}")
