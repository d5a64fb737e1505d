"""Commands on the definitions: check, generate, apply, guard, init, service new."""

from __future__ import annotations

import re
from pathlib import Path

import click

from s2s_sd.cli.common import (
    basedir_option,
    echo_warnings,
    host_option,
    load_checked,
    local_host,
)
from s2s_sd.engines.systemd import install_units, package_file
from s2s_sd.errors import BadInput, Refused
from s2s_sd.hosts.state import read_assignments
from s2s_sd.load import GROUPS_DIR, MAIN_FILE
from s2s_sd.plan import boot_groups
from s2s_sd.render.systemd import UnitSettings, render_units
from s2s_sd.validate import IDENTIFIER
from s2s_sd.writer import write_file_atomic, write_output_dir


@click.command()
@basedir_option
@host_option
def check(basedir: Path, host: str | None) -> None:
    """Validate the definitions: every problem at once, as FILE:LINE: KEY: message.
    Service kits on the disks mounted here are checked too (bash -n, executable)."""
    definitions, warnings = load_checked(basedir, host, kits=True)
    echo_warnings(warnings)
    services = sum(len(g.services) for g in definitions.groups)
    click.echo(f"{basedir}: host group {definitions.hostgroup.name} "
               f"({definitions.hostgroup.engine} engine): {len(definitions.groups)} groups, "
               f"{services} services: OK" + (f" ({len(warnings)} warnings)" if warnings else ""))


def settings_for(basedir: Path, target_basedir: str | None) -> UnitSettings:
    return UnitSettings.installed(target_basedir or str(basedir.absolute()))


target_basedir_option = click.option(
    "--target-basedir", default=None, metavar="DIR",
    help="Base dir path on the hosts, written into the units (default: --basedir, "
         "absolute; sync keeps the same path on every host).")


@click.command("systemd")
@basedir_option
@host_option
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="Output directory; replaced as a whole, atomically.")
@target_basedir_option
def generate_systemd(basedir: Path, host: str | None, out: Path,
                     target_basedir: str | None) -> None:
    """Write the units of every group into OUT (drop-ins in UNIT.d/)."""
    definitions, warnings = load_checked(basedir, host)
    echo_warnings(warnings)
    files = render_units(definitions, settings_for(basedir, target_basedir))
    write_output_dir(out, files)
    click.echo(f"{out}: {len(files)} files for {len(definitions.groups)} groups")


@click.command("systemd")
@basedir_option
@host_option
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), default=Path("/"),
              show_default=True, help="Install below this root (for images and tests).")
@target_basedir_option
def apply_systemd(basedir: Path, host: str | None, root: Path,
                  target_basedir: str | None) -> None:
    """Install units, helpers and boot links on this host; reload systemd."""
    this_host = host or local_host()
    definitions, warnings = load_checked(basedir, this_host)
    echo_warnings(warnings)
    if this_host not in definitions.hostgroup.host_names:
        raise Refused(f"host {this_host} is not in host group {definitions.hostgroup.name} "
                      f"({', '.join(definitions.hostgroup.host_names)})")
    settings = settings_for(basedir, target_basedir)
    assignments = read_assignments(definitions.hostgroup.name)
    boot = boot_groups(definitions, this_host, assignments)
    report = install_units(root, render_units(definitions, settings), settings, boot,
                           [g.name for g in definitions.groups])
    for label, items in (("written", report.written), ("removed", report.removed),
                         ("boot: enabled", report.boot_enabled),
                         ("boot: disabled", report.boot_disabled)):
        for item in items:
            click.echo(f"{label}: {item}")
    click.echo(f"{this_host}: {len(report.written)} written, {len(report.unchanged)} unchanged, "
               f"{len(report.removed)} removed; starts at boot: {', '.join(boot) or 'nothing'}"
               + ("; systemd reloaded" if report.reloaded else ""))


@click.command()
@basedir_option
@click.option("--name", "cluster", default="c01", show_default=True,
              help="Host group (cluster) name.")
@click.option("--hosts", default=None, help="Comma-separated host names (default: this host).")
def init(basedir: Path, cluster: str, hosts: str | None) -> None:
    """Create a base dir skeleton with templates for new services."""
    if not IDENTIFIER.match(cluster):
        raise BadInput(f"--name {cluster!r}: letters, digits and _, starting with a letter")
    names = [h.strip() for h in (hosts or local_host()).split(",") if h.strip()]
    if (basedir / MAIN_FILE).exists():
        raise BadInput(f"{basedir / MAIN_FILE} exists already: nothing was changed")
    for sub in ("init.d", "sysconfig", "hooks", GROUPS_DIR, "init.tpl", "sysconfig.tpl"):
        (basedir / sub).mkdir(parents=True, exist_ok=True)
    write_file_atomic(basedir / "init.tpl" / "script",
                      package_file("templates", "init.tpl", "script"), 0o755)
    write_file_atomic(basedir / "sysconfig.tpl" / "config",
                      package_file("templates", "sysconfig.tpl", "config"), 0o644)
    skeleton = package_file("templates", "skeleton", "s2s.toml")
    skeleton = skeleton.replace("@CLUSTER@", cluster).replace(
        "@HOSTS@", ", ".join(f'"{h}"' for h in names))
    write_file_atomic(basedir / MAIN_FILE, skeleton, 0o644)
    click.echo(f"{basedir}: skeleton for host group {cluster} ({', '.join(names)})")


@click.group()
def service() -> None:
    """Scaffold services."""


_GROUP_HEADER = r"^\s*\[\s*groups\s*\.\s*{name}\s*\]"


def _group_file(basedir: Path, group: str) -> tuple[Path, str]:
    """The file defining the group, and the header a new service gets in it."""
    group_file = basedir / GROUPS_DIR / f"{group}.toml"
    if group_file.is_file():
        return group_file, "[[services]]"
    main = basedir / MAIN_FILE
    if re.search(_GROUP_HEADER.format(name=re.escape(group)), main.read_text(encoding="utf-8"),
                 re.MULTILINE):
        return main, f"[[groups.{group}.services]]"
    raise BadInput(f"group '{group}' is not defined in {basedir} (neither [groups.{group}] in "
                   f"{MAIN_FILE} nor {GROUPS_DIR}/{group}.toml)")


@service.command("new")
@basedir_option
@click.argument("name")
@click.option("--group", "group", required=True, help="Group the service joins (last member).")
@click.option("--type", "kind", type=click.Choice(["script"]), default="script",
              show_default=True, help="Service type to scaffold.")
def service_new(basedir: Path, name: str, group: str, kind: str) -> None:
    """Scaffold an s2s init script and its sysconfig file from the templates and add the
    service to the group's definition file."""
    if not IDENTIFIER.match(name):
        raise BadInput(f"service name {name!r}: letters, digits and _, starting with a letter")
    definitions, _ = load_checked(basedir, None, files=False)
    existing = definitions.group(group)
    if existing is None:
        raise BadInput(f"group '{group}' is not defined in {basedir}")
    if any(s.name == name for s in existing.services):
        raise BadInput(f"group '{group}' already has a service '{name}'")
    script, config = f"init.d/{name}", f"sysconfig/{name}"
    for relpath in (script, config):
        if (basedir / relpath).exists():
            raise BadInput(f"{basedir / relpath} exists already: nothing was changed")
    templates = {script: basedir / "init.tpl" / "script",
                 config: basedir / "sysconfig.tpl" / "config"}
    for template in templates.values():
        if not template.is_file():
            raise BadInput(f"{template} is missing: run `s2s-sd init` or restore it")
    definition_file, header = _group_file(basedir, group)
    original = definition_file.read_text(encoding="utf-8")
    block = (f"\n{header}\n"
             f'name   = "{name}"\n'
             f'type   = "{kind}"\n'
             f'script = "{script}"\n'
             f'config = "{config}"\n')
    written: list[Path] = []
    try:
        for relpath, template in templates.items():
            text = template.read_text(encoding="utf-8")
            text = text.replace("@NAME@", name).replace("@GROUP@", group)
            write_file_atomic(basedir / relpath, text, 0o755 if relpath == script else 0o644)
            written.append(basedir / relpath)
        write_file_atomic(definition_file, original.rstrip("\n") + "\n" + block,
                          definition_file.stat().st_mode & 0o777)
        load_checked(basedir, None)
    except BaseException:
        # leave the base dir as it was: the new files go, the definition file comes back
        write_file_atomic(definition_file, original, definition_file.stat().st_mode & 0o777)
        for path in written:
            path.unlink(missing_ok=True)
        raise
    click.echo(f"{group}: added service {name} ({kind}): {script}, {config}, "
               f"{definition_file.relative_to(basedir)}")


