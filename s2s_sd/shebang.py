"""Which scripts s2s-sd runs with a shell: the ones whose first line names sh, bash, dash or
ksh (directly or through env), and the ones without a shebang line (s2s-sd runs those with
the shell). Both the definitions' file checks and the kits' checks ask it before `bash -n`.
"""

from __future__ import annotations

from pathlib import Path


def is_shell_script(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    if not first.startswith(b"#!"):
        return True  # s2s runs shebang-less scripts with the shell
    interpreter = first[2:].strip().split(b"/")[-1].split()
    names = {b"sh", b"bash", b"dash", b"ksh"}
    return bool(interpreter) and (
        interpreter[0] in names or (interpreter[0] == b"env" and len(interpreter) > 1
                                    and interpreter[1] in names))
