"""Whether lines Loki acknowledged are still all there, unchanged (after a restart, say)."""

from __future__ import annotations

from collections.abc import Sequence

from obsgate.checks.logs import Entry, LogsClient
from obsgate.core.wait import WaitTimeout


def lines_missing(logs: LogsClient, pushed: Sequence[Entry], timeout_s: float) -> str | None:
    """None once every pushed line is returned as pushed; otherwise what was not (first line of the wait's verdict)."""
    try:
        got = logs.wait_for(logs.selector(), pushed, min(ts for ts, _ in pushed), timeout_s)
    except WaitTimeout as exc:
        return str(exc).splitlines()[0]
    return None if got == sorted(pushed) else f"{len(got)} lines returned for {len(pushed)} pushed, or changed ones"
