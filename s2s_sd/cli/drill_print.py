"""Printing a fire drill's report: the table (or JSON) of `s2s-sd drill`, and the one cell
`move --dry-run` shows after its plan."""

from __future__ import annotations

import json

import click

from s2s_sd.drill import DrillReport, render_table


def show(report: DrillReport, as_json: bool, show_ok: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        click.echo(render_table(report, show_ok=show_ok), nl=False)


def show_drill_target(report: DrillReport) -> bool:
    """move --dry-run: the drill of the group on the target host, shown after the plan;
    True when it found a failure."""
    click.echo("")
    show(report, as_json=False, show_ok=False)
    return report.failed
