"""Commands on the definitions: check, generate, apply, init, service new, group new."""

from __future__ import annotations

from pathlib import Path

import click

from s2s_sd.cli.changes import Change
from s2s_sd.cli.common import (
    basedir_option,
    echo_warnings,
    host_option,
    load_checked,
    local_host,
    require_named_host,
)
from s2s_sd.edit import insert_block, toml_string
from s2s_sd.engines.systemd.units import install_units, package_file
from s2s_sd.errors import BadInput, InvalidDefinitions, Refused
from s2s_sd.hosts.state import read_assignments
from s2s_sd.load import load_raw
from s2s_sd.load_files import GROUPS_DIR, MAIN_FILE
from s2s_sd.model import Definitions, Group
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
    require_named_host(definitions, host)
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
    require_named_host(definitions, host)
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
    require_named_host(definitions, host)
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


# example member names in a new group's file, one per type
_EXAMPLE_NAMES = {"mount": "data", "ip": "vip", "script": "daemon", "exec": "app",
                  "systemd": "unit", "kits": "kits"}
# types written as a working [[services]] table (its files are made from the templates);
# the others as a commented template: their keys name a device, an address, a program,
# the disks of kits, that only the administrator knows
_FILLED = ("script",)
_SERVICE_TYPES = tuple(_EXAMPLE_NAMES)
_SCAFFOLD_MARK = "# s2s-sd service new {name}"


def service_table(kind: str, name: str, group: str, header: str,
                  commented: str | None = None) -> str:
    """A [[services]] table of one type with every key: the required ones set, the
    optional ones commented. commented: the whole table is commented out (one level of
    #), under this line."""
    body = package_file("templates", "services", kind) + package_file(
        "templates", "services", "common")
    lines = [header, *body.replace("@NAME@", name).replace("@GROUP@", group).splitlines()]
    if commented is None:
        return "".join(f"{line}\n" for line in lines)
    return f"{commented}\n" + "".join(f"# {line}\n" for line in lines)


def _group_where(basedir: Path, group: str) -> tuple[Definitions, Group]:
    """The definitions as they are (not validated: a group `group new` just made has no
    services yet) and the group."""
    definitions, problems = load_raw(basedir, local_host())
    if definitions is None:
        raise InvalidDefinitions(problems)
    found = definitions.group(group)
    if found is None:
        raise BadInput(f"group '{group}' is not defined in {basedir} (neither [groups.{group}] "
                       f"in {MAIN_FILE} nor {GROUPS_DIR}/{group}.toml)")
    return definitions, found


def _empty_groups(definitions: Definitions) -> set[str]:
    return {g.name for g in definitions.groups if not g.services}


@service.command("new")
@basedir_option
@click.argument("name")
@click.option("--group", "group", required=True, help="Group the service joins (last member).")
@click.option("--type", "kind", type=click.Choice(_SERVICE_TYPES), default="script",
              show_default=True,
              help="Service type. script: an init script and its sysconfig file from the "
                   "templates, ready to run; the others: a commented template of the "
                   "type's keys to fill in.")
def service_new(basedir: Path, name: str, group: str, kind: str) -> None:
    """Add service NAME to GROUP's definition file, after its last service."""
    if not IDENTIFIER.match(name):
        raise BadInput(f"service name {name!r}: letters, digits and _, starting with a letter")
    definitions, found = _group_where(basedir, group)
    definition_file = found.origin.file
    change = Change(basedir)
    if any(s.name == name for s in found.services) or \
            f"{_SCAFFOLD_MARK.format(name=name)} " in change.text(definition_file):
        raise BadInput(f"group '{group}' already has a service '{name}' in {definition_file}")
    in_main = definition_file == MAIN_FILE
    header = f"[[groups.{group}.services]]" if in_main else "[[services]]"
    block = service_table(kind, name, group, header, None if kind in _FILLED else
                          f"{_SCAFFOLD_MARK.format(name=name)} --type {kind}: fill in, "
                          "then remove one level of #")
    made = []
    if kind == "script":
        for relpath, template, mode in ((f"init.d/{name}", "init.tpl/script", 0o755),
                                        (f"sysconfig/{name}", "sysconfig.tpl/config", 0o644)):
            source = basedir / template
            if not source.is_file():
                raise BadInput(f"{source} is missing: run `s2s-sd init` or restore it")
            text = source.read_text(encoding="utf-8").replace("@NAME@", name)
            change.create(relpath, text.replace("@GROUP@", group), mode)
            made.append(relpath)
    change.edit(definition_file,
                lambda text: insert_block(text, block, ("groups", group) if in_main else ()))
    change.validate(tolerate_empty=_empty_groups(definitions))
    change.write()
    if kind in _FILLED:
        click.echo(f"{group}: added service {name} ({kind}) to {definition_file}"
                   + (f"; {', '.join(made)}" if made else ""))
        todo = f"edit {', '.join(made)}" if made else f"check {definition_file}"
    else:
        click.echo(f"{group}: template of service {name} ({kind}) added to {definition_file}, "
                   "commented out")
        todo = f"fill in {name} in {definition_file} and uncomment it"
    click.echo(f"next: {todo}, then s2s-sd check && s2s-sd sync")


@click.group("group")
def group_command() -> None:
    """Scaffold groups."""


@group_command.command("new")
@basedir_option
@click.argument("name")
@click.option("--hosts", default=None, metavar="H1,H2",
              help="Hosts the group may run on, in preference order (default: all).")
def group_new(basedir: Path, name: str, hosts: str | None) -> None:
    """Write groups/NAME.toml: the group, with a commented example of every service type."""
    if not IDENTIFIER.match(name):
        raise BadInput(f"group name {name!r}: letters, digits and _, starting with a letter")
    definitions, problems = load_raw(basedir, local_host())
    if definitions is None:
        raise InvalidDefinitions(problems)
    existing = definitions.group(name)
    if existing is not None:
        raise BadInput(f"group '{name}' exists already ({existing.origin.file}): "
                       "nothing was changed")
    known = definitions.hostgroup.host_names
    chosen = [h.strip() for h in (hosts or "").split(",") if h.strip()]
    unknown = [h for h in chosen if h not in known]
    if (hosts is not None and not chosen) or unknown:
        raise BadInput(f"--hosts {hosts!r}: {', '.join(unknown) or 'no host'} not in host group "
                       f"{definitions.hostgroup.name} ({', '.join(known)})")
    hosts_line = (f"hosts = [{', '.join(toml_string(h) for h in chosen)}]"
                  "   # allowed hosts in preference order" if chosen else
                  f"# hosts = [{', '.join(toml_string(h) for h in known)}]"
                  "   # allowed hosts in preference order; default: all")
    text = package_file("templates", "skeleton", "group.toml").replace(
        "@HOSTS@", hosts_line).replace("@NAME@", name)
    examples = "\n".join(
        service_table(kind, example, name, "[[services]]",
                      f"# example: type {kind}"
                      + (f" (`s2s-sd service new NAME --group {name}` makes its files)"
                         if kind in _FILLED else ""))
        for kind, example in _EXAMPLE_NAMES.items())
    relpath = f"{GROUPS_DIR}/{name}.toml"
    change = Change(basedir)
    change.create(relpath, f"{text}\n{examples}")
    change.validate(tolerate_empty={name, *_empty_groups(definitions)})
    change.write()
    click.echo(f"{relpath}: group {name} on {', '.join(chosen or known)}")
    click.echo(f"next: s2s-sd service new SERVICE --group {name} --type "
               f"{'|'.join(_SERVICE_TYPES)} (or fill in an example in {relpath}), "
               "then s2s-sd check && s2s-sd sync")
