"""One change of the base dir by a workflow command (host add, group new, service new):
the new texts are staged, the whole base dir is validated with them, and only then are
they written, each atomically; a refused change leaves every file as it was."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from s2s_sd.cli.common import load_checked
from s2s_sd.errors import BadInput, InvalidDefinitions, Problem
from s2s_sd.model import Definitions
from s2s_sd.writer import write_file_atomic


def unfinished(problem: Problem, groups: Collection[str]) -> bool:
    """A group that has no services yet, as `group new` leaves it until its first
    `service new` (load: "has no [[services]]", validate: "has no services")."""
    return not problem.warning and any(
        problem.key == f"groups.{group}" and problem.message.endswith(
            (f"'{group}' has no [[services]]", f"'{group}' has no services"))
        for group in groups)


@dataclass
class Change:
    basedir: Path
    texts: dict[str, str] = field(default_factory=dict)  # definition files: relpath -> text
    files: dict[str, tuple[str, int]] = field(default_factory=dict)  # others: text, mode

    def text(self, relpath: str) -> str:
        """The file as this change has it so far (the file on disk when untouched)."""
        if relpath not in self.texts:
            self.texts[relpath] = (self.basedir / relpath).read_text(encoding="utf-8")
        return self.texts[relpath]

    def edit(self, relpath: str, edit: Callable[[str], str]) -> None:
        try:
            self.texts[relpath] = edit(self.text(relpath))
        except BadInput as exc:
            raise BadInput(f"{self.basedir / relpath}: {exc}; nothing was changed") from exc

    def create(self, relpath: str, text: str, mode: int = 0o644) -> None:
        if (self.basedir / relpath).exists():
            raise BadInput(f"{self.basedir / relpath} exists already: nothing was changed")
        if relpath.endswith(".toml"):
            self.texts[relpath] = text
        else:
            self.files[relpath] = (text, mode)

    def validate(self, tolerate_empty: Collection[str] = ()) -> Definitions | None:
        """The definitions as they will be, validated; None when the only problems are the
        tolerated empty groups. New scripts must exist to be checked: they are written
        first, and removed again when the change is refused."""
        written = self._write_files()
        try:
            return load_checked(self.basedir, None, staged=self.texts)[0]
        except InvalidDefinitions as exc:
            problems = [p for p in exc.problems if not unfinished(p, tolerate_empty)]
            if any(not p.warning for p in problems):
                for path in written:
                    path.unlink(missing_ok=True)
                raise InvalidDefinitions(problems) from None
            return None
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise

    def _write_files(self) -> list[Path]:
        written: list[Path] = []
        try:
            for relpath, (text, mode) in sorted(self.files.items()):
                path = self.basedir / relpath
                if path.exists():
                    raise BadInput(f"{path} exists already: nothing was changed")
                write_file_atomic(path, text, mode)
                written.append(path)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        return written

    def write(self) -> list[str]:
        """Write the definition texts (s2s.toml last: it names the hosts); the changed
        relative paths."""
        changed = []
        for relpath in sorted(self.texts, key=lambda r: (r == "s2s.toml", r)):
            path = self.basedir / relpath
            if path.exists() and path.read_text(encoding="utf-8") == self.texts[relpath]:
                continue
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            write_file_atomic(path, self.texts[relpath], mode)
            changed.append(relpath)
        return sorted([*changed, *self.files])
