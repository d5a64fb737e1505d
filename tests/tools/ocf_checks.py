"""The static checks every OCF agent of s2s-sd passes (tools tier): shellcheck, the
resource-agents DTD, and pcs's own metadata parser with its RelaxNG schema."""

from __future__ import annotations

import shutil
from pathlib import Path

from s2s_sd.run import run

DTD = Path("/usr/share/resource-agents/ra-api-1.dtd")
PCS_RNG = Path("/usr/share/pcs/data/ocf-1.0.rng")
PCS_PYTHON = "/usr/bin/python3"  # pcs is a Python package of the system interpreter


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed: run scripts/setup test"
    return path


def assert_shellcheck_clean(agent: Path) -> None:
    result = run([tool("shellcheck"), "--severity=style", str(agent)], check=False)
    assert result.ok, result.stdout + result.stderr


def meta_data(agent: Path) -> str:
    return run([str(agent), "meta-data"], env={"PATH": "/usr/bin:/bin"}).stdout


def assert_meta_data_valid(agent: Path, name: str) -> tuple[list[str], list[str]]:
    """DTD, pcs's parser and RelaxNG schema; returns (parameters, actions) as pcs sees
    them, sorted."""
    text = meta_data(agent)
    assert '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">' in text
    assert DTD.is_file(), "resource-agents is not installed"
    dtd = run([tool("xmllint"), "--noout", "--dtdvalid", str(DTD), "-"], input=text,
              check=False)
    assert dtd.ok, dtd.stderr
    # pcs's own code path: parse, pick the schema by <version>, assertValid, then parse
    # the agent as `pcs resource describe` would
    check = (
        "import sys\n"
        "from pcs.lib.resource_agent.xml import _metadata_xml_to_dom, parse_metadata\n"
        "from pcs.lib.resource_agent.types import ResourceAgentName\n"
        "dom = _metadata_xml_to_dom(sys.stdin.read())\n"
        f"agent = parse_metadata(ResourceAgentName('ocf', 's2s', {name!r}), dom)\n"
        "print(' '.join(sorted(p.name for p in agent.parameters)))\n"
        "print(' '.join(sorted(a.name for a in agent.actions)))\n"
    )
    assert shutil.which("pcs"), "pcs is not installed: run scripts/setup test"
    result = run([PCS_PYTHON, "-c", check], input=text, check=False)
    assert result.ok, result.stderr
    params, actions = result.stdout.splitlines()
    # and the same schema file through xmllint, as a second, independent reader
    assert PCS_RNG.is_file()
    rng = run([tool("xmllint"), "--noout", "--relaxng", str(PCS_RNG), "-"], input=text,
              check=False)
    assert rng.ok, rng.stderr
    return params.split(), actions.split()
