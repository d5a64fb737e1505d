"""Fence devices' secrets: read from the files the definitions name, and scrubbed from
every text shown (the tools' messages).

A secret goes to the tools on stdin or in a private temporary directory and is never
shown: the CIB shown has every stonith parameter masked (cib.py), and a tool's message
has every secret value replaced by the mask.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from lxml import etree

from s2s_sd.errors import BadInput
from s2s_sd.load_files import read_referenced
from s2s_sd.model import Definitions
from s2s_sd.render.pacemaker import SECRET_MASK, secret_refs


def read_secrets(defs: Definitions, basedir: Path) -> dict[tuple[str, str], str]:
    """(device, parameter) -> value, read from the files the definitions name."""
    secrets: dict[tuple[str, str], str] = {}
    for device, param, relpath in secret_refs(defs):
        try:
            raw = read_referenced(basedir, relpath)
        except OSError as exc:
            raise BadInput(f"fencing.devices.{device}.secret_params.{param}: cannot read "
                           f"{basedir / relpath}: {exc.strerror}") from exc
        try:
            value = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as exc:
            raise BadInput(f"fencing.devices.{device}.secret_params.{param}: "
                           f"{basedir / relpath} is not UTF-8 text") from exc
        if not value or "\n" in value:
            raise BadInput(f"fencing.devices.{device}.secret_params.{param}: "
                           f"{basedir / relpath} must hold exactly one non-empty line")
        secrets[(device, param)] = value
    return secrets


def stonith_parameters(element: etree._Element) -> Iterator[etree._Element]:
    """Every parameter (instance attribute) of every stonith resource in ELEMENT."""
    for primitive in element.iter("primitive"):
        if primitive.get("class") == "stonith":
            yield from primitive.iterfind(".//instance_attributes/nvpair")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Text safe to show: every secret value replaced by the mask."""
    for value in sorted(set(secrets), key=len, reverse=True):
        if value:
            text = text.replace(value, SECRET_MASK)
    return text
