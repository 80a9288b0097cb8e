"""What a static check reports: a Finding names file, key, line, problem and fix; a file that cannot be
checked at all raises ConfigUnreadable carrying the finding that says why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from obsgate.core.errors import InputError


@dataclass(frozen=True)
class Finding:
    """One policy violation: where it is (file, dotted key, line) and how to fix it."""

    file: str
    key: str
    line: int | None
    problem: str
    fix: str

    @classmethod
    def of(cls, error: InputError) -> Finding:
        """A file a reader could not read, as the finding of the check that needed it."""
        return cls(error.file, error.key, error.line, error.problem, error.fix)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.problem} (fix: {self.fix})"


class ConfigUnreadable(Exception):
    """A config file that cannot be checked at all; carries the finding that says why."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding
        super().__init__(str(finding))


def shown(path: Path) -> str:
    """A path as reports show it: relative to the working directory when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else str(resolved)
