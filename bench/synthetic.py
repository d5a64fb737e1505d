"""A synthetic host group for the benchmarks: 3 hosts, N groups x M members of every
type, each group preferring another host first."""

from __future__ import annotations

from pathlib import Path

MEMBER_TYPES = ("mount", "ip", "script", "systemd", "exec", "mount", "script", "exec")
HOSTS = ("h1", "h2", "h3")


def _quoted(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def write_hostgroup(base: Path, groups: int, services: int,
                    engine: str = "systemd") -> None:
    for sub in ("init.d", "sysconfig", "groups"):
        (base / sub).mkdir(parents=True)
    for name in ("app_a", "app_b"):
        script = base / "init.d" / name
        script.write_text("#!/bin/bash\ncase $1 in start|stop) exit 0;; *) exit 3;; esac\n")
        script.chmod(0o755)
        (base / "sysconfig" / name).write_text("X=1\n")
    main = f'[hostgroup]\nname = "bench"\nengine = "{engine}"\nhosts = [{_quoted(HOSTS)}]\n'
    if engine == "pacemaker":
        main += "\n[fencing]\nenabled = false\n"
    (base / "s2s.toml").write_text(main)
    for g in range(groups):
        order = [HOSTS[(g + i) % len(HOSTS)] for i in range(len(HOSTS))]
        lines = [f'description = "synthetic group {g}"', f"hosts = [{_quoted(order)}]", ""]
        for s in range(services):
            kind = MEMBER_TYPES[s % len(MEMBER_TYPES)]
            lines += ["[[services]]", f'name = "m{s}"', f'type = "{kind}"']
            if kind == "mount":
                lines += [f'device = "/dev/mapper/g{g}_m{s}"',
                          f'mountpoint = "/disk/g{g:04d}/{s:02d}"', 'fstype = "ext4"']
            elif kind == "ip":
                lines += [f'address = "10.{g // 250}.{g % 250}.{s + 10}/16"']
            elif kind == "script":
                name = "app_a" if s % 2 else "app_b"
                lines += [f'script = "init.d/{name}"', f'config = "sysconfig/{name}"',
                          "start_timeout = 90"]
            elif kind == "systemd":
                lines += [f'unit = "bench-g{g:04d}-m{s}.service"']
            else:
                lines += [f'command = ["/usr/bin/sleep", "{g}{s}"]', "monitor_interval = 15"]
            lines.append("")
        (base / "groups" / f"g{g:04d}.toml").write_text("\n".join(lines))
