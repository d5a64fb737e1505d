"""The running cluster through its own tools (crm_mon, cibadmin, crm_resource,
crm_attribute): read its status, place and remove constraints, switch target-role and
maintenance mode, clean up failures, wait for it to settle, and the one polling loop every
wait on it uses (wait_until).

Every call goes through run.py with an argv list. Nothing here decides anything: the
decisions are in engines/pacemaker/runtime.py, migrate.py and apply_live.py.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from lxml import etree

from s2s_sd.engines.pacemaker.crm_mon import (
    CliConstraint,
    ClusterStatus,
    cli_constraints,
    format_crm_date,
    parse_crm_mon,
)
from s2s_sd.errors import OperationFailed, exit_status
from s2s_sd.naming import CLI_PREFIX, prefer_id
from s2s_sd.run import Result, run

TOOL_TIMEOUT = 60.0
Seen = TypeVar("Seen")
# the whole picture (status, failures, fail counts) and, for polling, just the resources
CRM_MON_ALL = ["crm_mon", "--one-shot", "--inactive", "--output-as=xml",
               "--include=all"]
CRM_MON_RESOURCES = ["crm_mon", "--one-shot", "--inactive", "--output-as=xml",
                     "--exclude=all", "--include=summary,resources,failures"]


def _tool(argv: Sequence[str], timeout: float = TOOL_TIMEOUT, input: str | None = None
          ) -> Result:
    try:
        return run(list(argv), check=False, timeout=timeout, input=input)
    except OperationFailed as exc:  # not installed, timed out
        raise OperationFailed(f"{argv[0]}: {exc}") from exc


def _fail(result: Result, what: str) -> OperationFailed:
    detail = (result.stderr or result.stdout).strip().splitlines()
    return OperationFailed(f"{what} failed ({exit_status(result.returncode)})"
                           + (f": {detail[-1]}" if detail else ""))


def status(full: bool = True) -> ClusterStatus:
    """crm_mon's view from this node (raises when the cluster stack is not running)."""
    result = _tool(CRM_MON_ALL if full else CRM_MON_RESOURCES)
    if not result.stdout.strip().startswith("<"):
        raise OperationFailed("cannot read the cluster status (is Pacemaker running on this "
                              f"host?): {(result.stderr or result.stdout).strip()[-300:]}")
    return parse_crm_mon(result.stdout)


def constraints_xml() -> str:
    result = _tool(["cibadmin", "--query", "--scope", "constraints"])
    if not result.ok:
        raise _fail(result, "cibadmin --query --scope constraints")
    return result.stdout


def cli_constraints_of(resources: Sequence[str] | None = None) -> list[CliConstraint]:
    found = cli_constraints(constraints_xml())
    if resources is None:
        return found
    wanted = set(resources)
    return [c for c in found if c.rsc in wanted]


# -- the move constraint -------------------------------------------------------------------


def prefer_constraint(group: str, node: str, expires: dt.datetime | None = None) -> str:
    """<rsc_location> preferring `node` for `group` with INFINITY, as crm_resource --move
    writes it (with a lifetime: a rule that ends at `expires`)."""
    cid = prefer_id(group)
    element = etree.Element("rsc_location", id=cid, rsc=group, role="Started")
    if expires is None:
        element.set("node", node)
        element.set("score", "INFINITY")
    else:
        rule = etree.SubElement(element, "rule", {"id": f"{CLI_PREFIX}prefer-rule-{group}",
                                                  "score": "INFINITY", "boolean-op": "and"})
        etree.SubElement(rule, "expression", id=f"{CLI_PREFIX}prefer-expr-{group}",
                         attribute="#uname", operation="eq", value=node, type="string")
        etree.SubElement(rule, "date_expression",
                         id=f"{CLI_PREFIX}prefer-lifetime-end-{group}", operation="lt",
                         end=format_crm_date(expires))
    return etree.tostring(element, encoding="unicode")


def create_constraint(xml: str) -> bool:
    """Add a constraint; False when one of that id exists already (the CIB checks that
    atomically, so two admins cannot both create it)."""
    cid = etree.fromstring(xml.encode()).get("id", "")
    result = _tool(["cibadmin", "--create", "--scope", "constraints", "--xml-text", xml])
    if result.ok:
        return True
    if constraint_exists(cid):
        return False
    raise _fail(result, f"cibadmin --create {cid}")


def constraint_exists(cid: str) -> bool:
    result = _tool(["cibadmin", "--query", "--scope", "constraints", "--xpath",
                    f"//rsc_location[@id='{cid}']"])
    return result.ok and f'id="{cid}"' in result.stdout


def delete_constraint(cid: str) -> bool:
    """Remove a constraint by id; False when there was none."""
    result = _tool(["cibadmin", "--delete", "--scope", "constraints", "--xml-text",
                    f'<rsc_location id="{cid}"/>'])
    if result.ok:
        return True
    if not constraint_exists(cid):
        return False
    raise _fail(result, f"cibadmin --delete {cid}")


# -- switches ------------------------------------------------------------------------------

def set_target_role(rsc: str, role: str) -> None:
    set_meta(rsc, "target-role", role)


def set_meta(rsc: str, name: str, value: str | None) -> None:
    """Set a meta attribute of a resource, or (value None) delete it so that the
    default applies again."""
    argv = ["crm_resource", "--resource", rsc, "--meta"]
    argv += (["--delete-parameter", name] if value is None
             else ["--set-parameter", name, "--parameter-value", value])
    result = _tool(argv)
    if not result.ok:
        raise _fail(result, f"crm_resource --resource {rsc} {name}="
                    + (value if value is not None else "(deleted)"))


def member_target_roles(group: str) -> dict[str, str]:
    """target-role meta attributes set on a group's members themselves (they win over the
    group's own), read from the configuration (crm_resource would show the inherited one)."""
    result = _tool(["cibadmin", "--query", "--scope", "resources", "--xpath",
                    f"//group[@id='{group}']"])
    if not result.ok:
        return {}
    roles = {}
    for primitive in etree.fromstring(result.stdout.encode()).iterfind("primitive"):
        for nvpair in primitive.iterfind("meta_attributes/nvpair[@name='target-role']"):
            roles[primitive.get("id", "")] = nvpair.get("value", "")
    return roles


def set_maintenance(on: bool) -> None:
    value = "true" if on else "false"
    result = _tool(["crm_attribute", "--type", "crm_config", "--name", "maintenance-mode",
                    "--update", value])
    if not result.ok:
        raise _fail(result, f"crm_attribute maintenance-mode={value}")


def cleanup(rsc: str, node: str | None = None) -> str:
    argv = ["crm_resource", "--cleanup", "--resource", rsc]
    if node:
        argv += ["--node", node]
    result = _tool(argv, timeout=120)
    if not result.ok:
        raise _fail(result, f"crm_resource --cleanup --resource {rsc}")
    return result.stdout.strip()


def refresh(node: str | None = None) -> None:
    """Forget all resource history (of one node) and probe again."""
    argv = ["crm_resource", "--refresh"] + (["--node", node] if node else [])
    result = _tool(argv, timeout=120)
    if not result.ok:
        raise _fail(result, "crm_resource --refresh")


def wait_idle(timeout: float) -> bool:
    """Until the cluster has no pending actions (crm_resource --wait); False on timeout."""
    seconds = max(1, int(timeout))
    result = _tool(["crm_resource", "--wait", f"--timeout={seconds}s"], timeout=seconds + 30)
    return result.ok


# -- waiting -------------------------------------------------------------------------------

POLL_INTERVAL = 0.1


@dataclass(frozen=True)
class Waited(Generic[Seen]):
    """How a wait ended: the last thing seen, and why_not: "" when the condition was met,
    else why the wait gave up (the failure it saw, or "timeout after N s")."""

    last: Seen
    why_not: str = ""

    @property
    def met(self) -> bool:
        return not self.why_not


def _no_failure(_seen: object) -> str:
    return ""


def wait_until(look: Callable[[], Seen], done: Callable[[Seen], bool], timeout: float, *,
               failed: Callable[[Seen], str] = _no_failure, interval: float = POLL_INTERVAL,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep) -> Waited[Seen]:
    """The one polling loop: look() every `interval` s until done(seen); until failed(seen)
    names a failure (waiting longer would not help); or until `timeout` s have passed. It
    looks at least once, and once more after the deadline's last sleep, so a condition met
    just in time counts."""
    deadline = clock() + timeout
    while True:
        seen = look()
        if done(seen):
            return Waited(seen)
        why_not = failed(seen)
        if why_not:
            return Waited(seen, why_not)
        if clock() >= deadline:
            return Waited(seen, f"timeout after {timeout:.0f} s")
        sleep(interval)


def resource_status() -> ClusterStatus:
    """crm_mon's resources, failures and summary only: what a wait looks at, quickly."""
    return status(full=False)
