"""Helpers of the fire-drill lab tests: run `s2s-sd drill --json` on n1 and read it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from lab.backend import LabNodes
from tests.lab.runtime_support import s2s

Failure = tuple[str, str, str | None, str]  # host, group, member, check


def drill(lab: LabNodes, *args: str) -> tuple[int, dict[str, Any]]:
    result = s2s(lab, "n1", "drill", "--json", *args, timeout=120)
    assert result.stdout.startswith("{"), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def failures(report: dict[str, Any]) -> set[Failure]:
    return {(f["host"], f["group"], f["member"], f["check"]) for f in report["findings"]
            if f["level"] == "FAIL"}


def reason(report: dict[str, Any], host: str, check: str) -> str:
    return next(f["reason"] for f in report["findings"]
                if f["host"] == host and f["check"] == check and f["level"] == "FAIL")


def sh(lab: LabNodes, node: str, script: str) -> None:
    lab.exec(node, ["sh", "-c", script])


@contextlib.contextmanager
def broken(lab: LabNodes, node: str, breaking: str, repairing: str) -> Iterator[None]:
    """NODE broken by the shell script BREAKING for the block, repaired by REPAIRING
    afterwards, whatever happened in between."""
    sh(lab, node, breaking)
    try:
        yield
    finally:
        sh(lab, node, repairing)
