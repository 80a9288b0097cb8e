"""Polling with a deadline: the only way the harness waits (no fixed sleeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from obsgate.core import progress, stop

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """What was awaited did not happen in time; the message says what and shows evidence."""


def permanent(error: BaseException) -> bool:
    """Whether an error says that waiting cannot change it: one with ``permanent`` set true (a
    client's ServiceError for a refusal such as Loki's 400 for a query over a limit)."""
    return getattr(error, "permanent", False) is True


@progress.reports_wait     # a background thread's wait shows on the console while a check waits on it
def poll(
    probe: Callable[[], T | None],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.25,
    evidence: Callable[[], str] | None = None,
    fatal: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``probe`` until it returns something truthy; raise WaitTimeout after ``timeout_s``.

    ``evidence`` is called once on timeout (e.g. a container's log tail) and appended.
    Exceptions in ``fatal`` and permanent ones (see ``permanent``: a service's refusal, quoted as the
    service gave it) end the wait at once; any other exception means "not yet".
    An interrupted run (obsgate.core.stop) ends it too, with RunStopped, before the next probe.
    """
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while True:
        stop.check()
        try:
            value = probe()
            if value:
                return value
        except fatal:
            raise
        except Exception as exc:  # noqa: BLE001 - a failing probe is "not yet", unless it says otherwise
            if permanent(exc):
                exc.add_note(f"(a permanent answer: ended the wait for {what} after "
                             f"{timeout_s - (deadline - time.monotonic()):.1f}s of {timeout_s:.0f}s)")
                raise
            last_error = f"{type(exc).__name__}: {exc}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            message = f"timed out after {timeout_s:.0f}s waiting for {what}"
            if last_error:
                message += f"; last error: {last_error}"
            if evidence is not None:
                try:
                    message += "\n" + evidence()
                except Exception as exc:  # noqa: BLE001 - the timeout is the news, not this
                    message += f"\n(no evidence: {type(exc).__name__}: {exc})"
            raise WaitTimeout(message)
        stop.pause(min(interval_s, remaining))
