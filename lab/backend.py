"""What every lab backend offers (nspawn here, Vagrant VMs for KVM users), so tests written
against it run on both."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from typing import Protocol

from s2s_sd.run import Result


class LabNodes(Protocol):
    """The node operations tests may rely on, whatever runs the nodes."""

    nodes: tuple[str, ...]
    cluster: bool

    def exec(self, node: str, argv: Sequence[str], *, input: str | None = None,
             check: bool = True, timeout: float = 120.0) -> Result: ...

    def ssh(self, source: str, target: str, argv: Sequence[str], *, check: bool = True,
            timeout: float = 60.0) -> Result: ...

    def client(self, argv: Sequence[str], *, input: str | None = None, check: bool = True,
               timeout: float = 60.0) -> Result: ...

    def address(self, node: str) -> str: ...

    def system_state(self, node: str) -> str: ...

    def failed_units(self, node: str) -> list[str]: ...

    def wait_running(self, node: str, timeout: float = 120.0) -> str: ...

    def wait_quorum(self, nodes: Sequence[str] | None = None,
                    timeout: float = 120.0) -> str: ...

    def is_running(self, node: str) -> bool: ...

    def stop(self, node: str, timeout: float = 60.0) -> None: ...

    def kill(self, node: str) -> None: ...

    def start(self, node: str, *, wait: bool = True) -> str: ...

    def partition(self, node: str) -> None: ...

    def heal(self, node: str) -> None: ...


SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=5")


def quorate_online_nodes(crm_mon_xml: str) -> set[str]:
    """Online node names from `crm_mon --output-as=xml`; none without a DC with quorum."""
    try:
        tree = ElementTree.fromstring(crm_mon_xml)
    except ElementTree.ParseError:
        return set()
    dc = tree.find("./summary/current_dc")
    if dc is None or dc.get("present") != "true" or dc.get("with_quorum") != "true":
        return set()
    return {
        n.get("name", "")
        for n in tree.findall("./nodes/node")
        if n.get("online") == "true"
    }
