"""Definitions -> systemd units, {relative path: text} (pure, deterministic).

Per group GROUP with members m1..mn:
  s2s-GROUP.target          Wants= and After= every member, Requires= the guard;
                            WantedBy=multi-user.target. Not bound to the members: one
                            member's local restart must not take the whole group down
  s2s-GROUP-mI.service      BindsTo= the target (stopping the group stops every member);
                            m1 Requires= the guard, mI Requires= and After= m(I-1): start in
                            order, stop in reverse, and a restart of mI restarts the members
                            after it (systemd propagates a restart along Requires=)
  s2s-guard@.service        one template: `s2s-sd guard GROUP` before the first member
                            (through the helper s2s-guard, which a move's token spares it)
Per host: s2s-watch.service (systemd engine: the watcher) and s2s-agent.service (both
engines: the warm agent server the other hosts' sessions go through).
  UNIT.d/s2s-GROUP.conf     for `systemd` members: binds the existing unit into the chain;
                            s2s-GROUP-mI.service is then a proxy bound to that unit
Health (systemd engine, hosts/health.py): mount, ip, script and kits members run
`s2s-sd member run GROUP MEMBER` as their main process (Type=notify): it starts the
member, checks it is ready, sends READY=1 and then checks it every monitor_interval,
exiting with the reason when it fails. Exec members are watched by systemd itself and
made ready by `s2s-sd member ready` (ExecStartPost=). Every member is Restart=on-failure;
its ExecStopPost= `s2s-sd member failed` decides after a failure: restart (systemd does
it), hold (frozen group) or give up (the group is stopped on this host).
With the pacemaker engine Pacemaker orders and places members, so only the units it
calls (exec members, driven by `ocf:s2s:unit`) are generated, bound to nothing.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from s2s_sd import paths, service_settings
from s2s_sd.errors import BadInput, printable
from s2s_sd.kits.layout import kit_timeout, kits_disks
from s2s_sd.model import (
    DEFAULT_MONITOR_INTERVAL,
    DEFAULT_SETTLE,
    Definitions,
    Engine,
    ExecService,
    Group,
    IpService,
    KitsService,
    MountService,
    ScriptService,
    Service,
    SystemdService,
)
from s2s_sd.naming import (
    AGENT_UNIT,
    GUARD_TEMPLATE,
    WATCH_UNIT,
    dropin_path,
    guard_unit,
    member_unit,
    target_name,
)

if TYPE_CHECKING:  # jinja2 is imported where units are rendered: the commands the units
    import jinja2  # run (member, vip, guard) import this module for its names only

# The package's layout: what golden files and `generate` without a host show.
DEFAULT_COMMAND = paths.PACKAGE_PROGRAM
DEFAULT_LIBEXEC = paths.PACKAGE_HELPER_DIR
OCF_SCRIPT_AGENT = posixpath.join(paths.OCF_DIR.default, "script")


@dataclass(frozen=True)
class UnitSettings:
    """Where things are on the hosts (identical on every host: config is symmetric)."""

    basedir: str = paths.BASEDIR.default
    command: str = DEFAULT_COMMAND
    libexec: str = DEFAULT_LIBEXEC
    script_agent: str = OCF_SCRIPT_AGENT

    @classmethod
    def installed(cls, basedir: str) -> UnitSettings:
        """The locations of the s2s-sd that runs now (package, venv or S2S_SD_PROGRAM)."""
        return cls(basedir=basedir, command=paths.program(), libexec=paths.helper_dir(),
                   script_agent=paths.ocf_agent("script"))


def kits_agent(settings: UnitSettings) -> str:
    """ocf:s2s:kits, installed next to the script agent."""
    return posixpath.join(posixpath.dirname(settings.script_agent), "kits")


_NEEDS_QUOTES = re.compile(r"[\s'\";]")
# what a path written bare into a unit line (Documentation=, the guard's Environment=
# and ExecStart=) may contain: no blanks, quotes, backslashes, specifiers or variables
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9_./@+,:=~-]*\Z")


def _escape(arg: str, expand_variables: bool) -> str:
    """arg with systemd's escapes (systemd.syntax(7), systemd.service(5)): backslash and
    double quote C-escaped, % doubled against specifier expansion, $ doubled where the
    line expands $VARIABLES (Exec*=), and anything unprintable (newline, control
    characters, Unicode separators) as a C escape, so a value never leaves its line."""
    out: list[str] = []
    for ch in arg:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "%":
            out.append("%%")
        elif ch == "$" and expand_variables:
            out.append("$$")
        elif not ch.isprintable() and ch != " ":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else
                       f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def _quoted(arg: str, expand_variables: bool) -> str:
    escaped = _escape(arg, expand_variables)
    if not escaped or _NEEDS_QUOTES.search(arg):
        return f'"{escaped}"'
    return escaped


def quote(arg: str) -> str:
    """One argument of an Exec*= line: systemd's own quoting, no shell involved."""
    return _quoted(arg, expand_variables=True)


def command_line(argv: Sequence[str]) -> str:
    return " ".join(quote(arg) for arg in argv)


def env_assignment(name: str, value: str) -> str:
    # Environment= expands specifiers but not $VARIABLES: a $ stays single
    return "Environment=" + _quoted(f"{name}={value}", expand_variables=False)


def unit_line_text(text: str) -> str:
    """Free text (Description=) on one unit line: blanks of any kind (newlines, U+2028)
    collapsed, unprintable characters shown as escapes, % doubled (specifiers), and no
    trailing backslash (it would continue the line into the next directive)."""
    one_line = printable(" ".join(str(text).split()))
    return one_line.replace("%", "%%").rstrip("\\ ")


def check_unit_paths(settings: UnitSettings) -> None:
    """The host paths written bare into unit lines must be plain (BadInput otherwise)."""
    for what, path in (("base dir", settings.basedir), ("s2s-sd program", settings.command),
                       ("helper directory", settings.libexec)):
        if not _PLAIN_PATH.match(path) or len(path) > 4095:
            raise BadInput(f"{what} {printable(path)!r}: units need an absolute path of "
                           "letters, digits and _ . / @ + , : = ~ - (no blanks, quotes, %, $ "
                           "or backslashes); for the base dir give one with --target-basedir")


@cache
def _templates() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("s2s_sd", "units"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # unit files are not HTML
    )
    # a description must stay on its line and must not start specifier expansion
    env.filters["unitline"] = unit_line_text
    return env


def _timeouts(service: Service) -> list[str]:
    lines = []
    if service.start_timeout:
        lines.append(f"TimeoutStartSec={service.start_timeout}")
    if service.stop_timeout:
        lines.append(f"TimeoutStopSec={service.stop_timeout}")
    return lines


@dataclass(frozen=True)
class MemberCommands:
    """What a mount, ip, script or kits member runs: its start, stop and status commands
    (status: 0 runs, anything else not) and their environment (name, value). The unit
    and its monitor loop (`s2s-sd member run`, hosts/health.py) use the same."""

    start: tuple[str, ...]
    stop: tuple[str, ...]
    status: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    detail: str  # for the unit's description


def member_commands(service: Service, settings: UnitSettings, group: Group | None = None
                    ) -> MemberCommands | None:
    """The commands of a member run by a monitor loop; None for exec and systemd members
    (systemd runs and watches those itself)."""
    if isinstance(service, MountService):
        args = (service.device, service.mountpoint, service.fstype,
                service.options or "defaults")
        mount = f"{settings.libexec}/s2s-mount"
        # TERM, then KILL after the grace period: leave the grace within the stop timeout
        grace = max(1, min(10, (service.stop_timeout or 90) // 3))
        return MemberCommands((mount, "start", *args), (mount, "stop", *args),
                              (mount, "status", *args), (("S2S_MOUNT_GRACE", str(grace)),),
                              f"{service.device} on {service.mountpoint}")
    if isinstance(service, IpService):
        vip = (settings.command, "vip")
        ref = (service.group, service.name)
        return MemberCommands((*vip, "up", *ref), (*vip, "down", *ref),
                              (*vip, "status", "--check", *ref),
                              (("S2S_SD_BASEDIR", settings.basedir),), service.address)
    if isinstance(service, ScriptService):
        env = [("OCF_RESKEY_script", f"{settings.basedir}/{service.script}")]
        timeouts = [t for t in (service.start_timeout, service.stop_timeout) if t]
        if timeouts:
            # the agent bounds its own wait for the script by the action's timeout (ms)
            env.append(("OCF_RESKEY_CRM_meta_timeout", str(max(timeouts) * 1000)))
        if service.config:
            env.append(("OCF_RESKEY_config", f"{settings.basedir}/{service.config}"))
        agent = settings.script_agent
        return MemberCommands((agent, "start"), (agent, "stop"), (agent, "monitor"),
                              tuple(env), service.script)
    if isinstance(service, KitsService):
        if group is None:
            raise TypeError("a kits member's commands need its group")
        disks = " ".join(d.mountpoint for d in kits_disks(group, service))
        agent = kits_agent(settings)
        return MemberCommands(
            (agent, "start"), (agent, "stop"), (agent, "monitor"),
            (("OCF_RESOURCE_INSTANCE", f"{service.group}_{service.name}"),
             ("OCF_RESKEY_disks", disks), ("OCF_RESKEY_kit_timeout", str(kit_timeout(service))),
             ("OCF_RESKEY_command", settings.command)), disks)
    return None


def _member_cli(settings: UnitSettings, action: str, service: Service) -> list[str]:
    return [settings.command, "--basedir", settings.basedir, "member", action, service.group,
            service.name]


def _recovery(service: Service, settings: UnitSettings) -> list[str]:
    """Restart on failure, decided after each failure by `s2s-sd member failed` (run only
    when the member did not stop cleanly: a clean stop costs no extra process). `+`: as
    root whatever User= the member runs as. systemd's own start limit stays out of the
    way: the decision counts failures itself (migration_threshold, failure_timeout)."""
    decide = _unless_stopped_cleanly("member-failed", _member_cli(settings, "failed", service))
    return ["Restart=on-failure", "RestartSec=1", f"ExecStopPost=+{decide}"]


def _unless_stopped_cleanly(name: str, argv: Sequence[str]) -> str:
    """A command line that runs ARGV only when the unit did not stop cleanly (its result,
    $SERVICE_RESULT, is not success); NAME is the shell's $0, for messages."""
    return command_line(["/bin/sh", "-c", 'test "$SERVICE_RESULT" = success || exec "$@"',
                         name, *argv])


def _stop_lines(service: Service, commands: MemberCommands) -> list[str]:
    """How a monitored member is stopped. An ip member's `member run` takes its VIP down
    itself when systemd sends it SIGTERM (it has the definitions read and netlink loaded:
    no Python start on a move's way); `vip down` runs as a program only after a stop that
    was not clean (that process died or failed, or the member failed), as ExecStop= would
    have; `-`: systemd runs no further ExecStopPost= after one that fails, and `member
    failed` (_recovery) must run all the same. The others' stop is ExecStop=, run while
    the main process still lives."""
    if isinstance(service, IpService):
        return [f"ExecStopPost=-{_unless_stopped_cleanly('vip-down', commands.stop)}"]
    return [f"ExecStop={command_line(commands.stop)}"]


def _service_section(service: Service, settings: UnitSettings,
                     groups: Mapping[str, Group] | None = None, health: bool = True
                     ) -> tuple[list[str], str]:
    """The [Service] lines of a member and a short detail for its description. health:
    the systemd engine's readiness, monitoring and local recovery (Pacemaker's units
    get readiness only: the cluster monitors and recovers)."""
    groups = groups or {}
    commands = member_commands(service, settings, groups.get(service.group))
    if commands is not None:
        env = [env_assignment(name, value) for name, value in commands.env]
        if not health:
            raise TypeError(f"no Pacemaker unit for {service.TYPE} members")
        # the loop stops checking when systemd stops the unit (ExecStop= runs while it
        # lives; an ip member's loop is stopped by SIGTERM itself)
        lines = ["Type=notify", *env,
                 f"ExecStart={command_line(_member_cli(settings, 'run', service))}",
                 *_stop_lines(service, commands), *_recovery(service, settings)]
        return lines, commands.detail
    if isinstance(service, SystemdService):
        # a proxy: up while the bound unit is up, so the chain and status see the member
        return ["Type=oneshot", "RemainAfterExit=yes", "ExecStart=/bin/true"], service.unit
    if isinstance(service, ExecService):
        lines = [f"Type={'notify' if service.notify else 'exec'}",
                 f"ExecStart={command_line(service.command)}"]
        # Pacemaker's ocf:s2s:unit has a settle of its own (0.2 s): its units wait only
        # for what the definition declares; `settle = 0` without `ready` declares that
        # the member counts as started when its process is (nothing to wait for)
        default_settle = DEFAULT_SETTLE if health else 0
        settle = default_settle if service.settle is None else service.settle
        if not service.notify and (service.ready is not None or settle > 0):
            # the start job completes only when the member is ready (its check passed, or
            # its main process lived through the settle period)
            lines.append("ExecStartPost=+" + command_line(_member_cli(settings, "ready",
                                                                       service)))
        if service.user:
            lines.append(f"User={service.user}")
        lines.append("KillMode=control-group")
        lines += _recovery(service, settings) if health else ["Restart=no"]
        if health and service.ready is not None:
            # `member ready` leaves a watcher that repeats the check every interval and
            # pings the watchdog; a failed check triggers it: SIGTERM, result 'watchdog'
            interval = service.monitor_interval or DEFAULT_MONITOR_INTERVAL
            lines += ["NotifyAccess=all", f"WatchdogSec={3 * interval}",
                      "WatchdogSignal=SIGTERM"]
        # the definitions' own settings last; none of them can be one of the lines above
        lines += [f"{name}=" + " ".join(_quoted(word, expand_variables=False)
                                        for word in words)
                  for name, words in service_settings.lines(service.service_settings)]
        return lines, ""
    raise TypeError(f"no systemd rendering for {type(service).__name__}")


def _description(service: Service, detail: str) -> str:
    kind = f"{service.TYPE} {detail}" if detail else service.TYPE
    return f"s2s group {service.group}: {service.name} ({kind})"


def _chain_lines(group: Group, index: int) -> list[str]:
    """Ordering and binding of member `index` to its predecessor (or the guard)."""
    if index == 0:
        guard = guard_unit(group.name)
        return [f"Requires={guard}", f"After={guard}"]
    previous = member_unit(group.name, group.services[index - 1].name)
    return [f"Requires={previous}", f"After={previous}"]


def _group_units(group: Group, settings: UnitSettings) -> dict[str, str]:
    env = _templates()
    files: dict[str, str] = {}
    members = [member_unit(group.name, s.name) for s in group.services]
    description = f"s2s group {group.name}" + (f": {group.description}" if group.description
                                                else "")
    files[target_name(group.name)] = env.get_template("group.target.j2").render(
        group=group, members=members, settings=settings, description=description,
        guard=guard_unit(group.name))
    for index, service in enumerate(group.services):
        service_lines, detail = _service_section(service, settings, {group.name: group})
        # systemd's start limit would count the restarts the members after a failed one
        # share with it: `s2s-sd member failed` counts failures per member instead
        chain = [*_chain_lines(group, index), "StartLimitIntervalSec=0"]
        if isinstance(service, SystemdService):
            # the timeouts belong to the real unit, which does the work
            files[dropin_path(service)] = env.get_template("member.conf.j2").render(
                service=service, unit_lines=chain, service_lines=_timeouts(service))
            unit_lines = [f"BindsTo={service.unit}", f"After={service.unit}"]
        else:
            unit_lines = chain
            service_lines += _timeouts(service)
        files[members[index]] = env.get_template("member.service.j2").render(
            service=service, settings=settings, description=_description(service, detail),
            bound=True, unit_lines=unit_lines, service_lines=service_lines)
    return files


def _pacemaker_units(group: Group, settings: UnitSettings) -> dict[str, str]:
    env = _templates()
    files: dict[str, str] = {}
    for service in group.services:
        if isinstance(service, ExecService):
            service_lines, detail = _service_section(service, settings, health=False)
            files[member_unit(group.name, service.name)] = env.get_template(
                "member.service.j2").render(
                service=service, settings=settings, description=_description(service, detail),
                bound=False,
                unit_lines=["# started, stopped and monitored by Pacemaker"],
                service_lines=service_lines + _timeouts(service))
    return files


def render_units(defs: Definitions, settings: UnitSettings | None = None) -> Mapping[str, str]:
    """All unit files for the host group, identical for every host."""
    settings = settings or UnitSettings()
    check_unit_paths(settings)
    files: dict[str, str] = {}
    if defs.groups:  # both engines' admins reach every host in agent sessions
        files[AGENT_UNIT] = _templates().get_template("agent.service.j2").render(
            settings=settings)
    if defs.hostgroup.engine is Engine.PACEMAKER:
        for group in defs.groups:
            files.update(_pacemaker_units(group, settings))
    else:
        if defs.groups:
            files[GUARD_TEMPLATE] = _templates().get_template("guard@.service.j2").render(
                settings=settings)
            files[WATCH_UNIT] = _templates().get_template("watch.service.j2").render(
                settings=settings)
        for group in defs.groups:
            files.update(_group_units(group, settings))
    return dict(sorted(files.items()))


def boot_links(groups: Sequence[str]) -> Mapping[str, str]:
    """multi-user.target.wants entries (link path -> unit) for the groups to start at boot."""
    return {f"multi-user.target.wants/{target_name(g)}": target_name(g) for g in sorted(groups)}
