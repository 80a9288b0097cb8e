"""Errors that stop a run before any container starts, and the not-evaluated signal."""

from __future__ import annotations

from pathlib import Path

from obsgate.core.causes import Cause


class InputError(Exception):
    """Bad input (compose file, config, policy): one message naming file, key and fix.

    ``line`` and ``column`` (1-based) say where in the file when a parser knows it, so nobody
    has to read them back out of the message.
    """

    def __init__(self, file: str | Path, key: str, problem: str, fix: str,
                 line: int | None = None, column: int | None = None) -> None:
        self.file, self.key, self.problem, self.fix = str(file), key, problem, fix
        self.line, self.column = line, column
        at = f"{file}:{line}{f':{column}' if column else ''}" if line else str(file)
        super().__init__(f"{at}: {key}: {problem} (fix: {fix})")


class NotEvaluated(Exception):
    """A check cannot run (no Docker, image unavailable): reported, scored 0, never a pass.

    ``reason`` is the check's short one-line reason; ``cause`` what groups it in the reports, given
    where the failure is known (an image, Docker) and kept by whoever wraps it; without one the
    reason is its own cause. Permanent: a wait whose probe raises it ends at once (obsgate.core.wait).
    """

    permanent = True

    def __init__(self, reason: str, cause: Cause | None = None) -> None:
        self.reason = reason
        self.cause = cause if cause is not None else Cause.of_reason(reason)
        super().__init__(reason)

    def explained(self) -> str:
        """The reason with the cause's raw error and fix: what a command stopping on it prints
        (a gate run's reports show them once per cause instead)."""
        detail = f" ({self.cause.detail})" if self.cause.detail else ""
        fix = f" — {self.cause.hint}" if self.cause.hint else ""
        return f"{self.reason}{detail}{fix}"
