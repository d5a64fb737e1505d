"""Benchmark: definitions -> Pacemaker CIB for 1,000 groups x 8 services, against the
baseline of creating resources one by one with `pcs -f FILE resource create`.

In one run:
  1. write a synthetic base dir (pacemaker engine, 3 hosts, 1,000 groups x 8 members of
     every type) and run the real `s2s-sd generate pacemaker` on it (load, validate, file
     checks, render, write): the time per resource;
  2. crm_verify -x on the 8,000-resource CIB: its time;
  3. the same first 20 resources (same agents, parameters, ops, groups) created one by one
     with `pcs -f FILE resource create ... --group G`: the time per resource;
and prints the per-resource times and their ratio (target: s2s-sd >= 1,000x faster).

    .venv/bin/python bench/cib.py [--groups 1000] [--services 8] [--baseline 20]

Exit 0 when the target is met, 1 when not, 2 when a tool is missing or fails.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner
from lxml import etree
from synthetic import HOSTS, write_hostgroup

from s2s_sd.cli import main
from s2s_sd.run import run

TARGET_RATIO = 1000.0


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        print(f"bench: {name} is not installed (scripts/setup test)", file=sys.stderr)
        sys.exit(2)
    return path


def pcs_commands(cib: etree._Element, count: int, cib_file: Path) -> list[list[str]]:
    """`pcs -f` commands creating the first `count` primitives of the generated CIB, with
    the same agents, parameters, ops and groups."""
    commands: list[list[str]] = []
    for group in cib.iterfind("configuration/resources/group"):
        for prim in group.iterfind("primitive"):
            if len(commands) == count:
                return commands
            agent = ":".join(p for p in (prim.get("class"), prim.get("provider"),
                                         prim.get("type")) if p)
            params = [f"{nv.get('name')}={nv.get('value')}"
                      for nv in prim.iterfind("instance_attributes/nvpair")]
            ops: list[str] = []
            for op in prim.iterfind("operations/op"):
                ops += [str(op.get("name")), f"interval={op.get('interval')}",
                        f"timeout={op.get('timeout')}"]
            # --force: ocf:s2s:script and the bench's systemd units are not installed here
            commands.append([tool("pcs"), "-f", str(cib_file), "resource", "create",
                             str(prim.get("id")), agent, *params, "op", *ops,
                             "--group", str(group.get("id")), "--no-default-ops", "--force"])
    return commands


def main_bench() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--services", type=int, default=8)
    parser.add_argument("--baseline", type=int, default=20,
                        help="resources created one by one with pcs -f")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="s2s-bench-cib.") as tmp:
        base, out = Path(tmp) / "base", Path(tmp) / "out"
        write_hostgroup(base, args.groups, args.services, engine="pacemaker")
        resources = args.groups * args.services

        start = time.perf_counter()
        result = CliRunner().invoke(main, ["generate", "pacemaker", "--basedir", str(base),
                                           "--out", str(out), "--host", HOSTS[0]])
        generate_s = time.perf_counter() - start
        if result.exit_code != 0:
            print(result.output, file=sys.stderr)
            return 2
        cib_path = out / "cib.xml"
        cib = etree.parse(str(cib_path)).getroot()
        made = len(cib.findall("configuration/resources/group/primitive"))
        assert made == resources, (made, resources)

        start = time.perf_counter()
        verify = run([tool("crm_verify"), "-x", str(cib_path)], check=False)
        verify_s = time.perf_counter() - start
        if not verify.ok:
            print(f"bench: crm_verify rejected the CIB:\n{verify.stderr}", file=sys.stderr)
            return 2

        baseline_file = Path(tmp) / "pcs-cib.xml"
        baseline_file.write_text(run([tool("cibadmin"), "--empty"]).stdout)
        commands = pcs_commands(cib, args.baseline, baseline_file)
        start = time.perf_counter()
        for command in commands:
            created = run(command, check=False)
            if not created.ok:
                print(f"bench: {' '.join(command)}\n{created.stderr}", file=sys.stderr)
                return 2
        pcs_s = time.perf_counter() - start
        pcs_made = len(etree.parse(str(baseline_file)).getroot().findall(
            "configuration/resources/group/primitive"))
        assert pcs_made == len(commands), (pcs_made, len(commands))

    ours = generate_s / resources
    theirs = pcs_s / len(commands)
    ratio = theirs / ours
    print(f"s2s-sd generate pacemaker: {resources} resources ({args.groups} groups x "
          f"{args.services}) in {generate_s:.3f} s -> {ours * 1e6:.1f} us per resource "
          f"(load, validate, file checks, render, write)")
    print(f"crm_verify -x on that CIB ({cib_path.name}, {made} primitives): {verify_s:.3f} s")
    print(f"pcs -f resource create, one by one: {len(commands)} resources in {pcs_s:.3f} s "
          f"-> {theirs * 1e3:.1f} ms per resource")
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"ratio per resource: {ratio:,.0f}x faster than pcs -f "
          f"(target >= {TARGET_RATIO:,.0f}x: {verdict})")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main_bench())
