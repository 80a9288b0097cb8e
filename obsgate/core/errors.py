"""Errors that stop a run before any container starts, and the not-evaluated signal."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad input (compose file, config, policy): one message naming file, key and fix."""

    def __init__(self, file: str | Path, key: str, problem: str, fix: str) -> None:
        self.file, self.key, self.problem, self.fix = str(file), key, problem, fix
        super().__init__(f"{file}: {key}: {problem} (fix: {fix})")


class NotEvaluated(Exception):
    """A check cannot run (no Docker, image unavailable): reported, scored 0, never a pass."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)
