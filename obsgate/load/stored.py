"""How many lines of a load run Loki stores: one LogQL count over the run's tag, asked the same way by the gate's
load session (through its typed client) and by Locust's web UI (over urllib, inside the gevent-patched process).

Every poll of a count asks the same query at the same evaluation time: a range from before the run's first line
to after its last, fixed once. A query time that moved on with each poll would drop the run's first lines.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from obsgate.checks.logs import RUN_LABEL
from obsgate.clients.logproto import quote
from obsgate.clients.prometheus import Series
from obsgate.core.wait import WaitTimeout, poll

Query = Callable[[str, int], Sequence[Series]]      # (LogQL, evaluation time in unix ns) -> a metric query's series
AHEAD_NS = 5 * 10**9       # the evaluation time lies this far ahead: every acknowledged line is older
RANGE_SLACK_S = 30         # and the range reaches this far before the run's start (clock skew, the first batch)


def run_window(run_tag: str, since_s: float) -> tuple[str, int]:
    """The run's range selector (``{gate_run="<tag>"}[<n>s]``) and the one evaluation time every count of it uses."""
    at_ns = time.time_ns() + AHEAD_NS
    seconds = max(1, math.ceil(at_ns / 1e9 - since_s) + RANGE_SLACK_S)
    return "{" + f"{RUN_LABEL}={quote(run_tag)}" + "}" + f"[{seconds}s]", at_ns


def count_stored(query: Query, run_tag: str, since_s: float, expected: int, timeout_s: float, *,
                 at_least: bool = False, fatal: tuple[type[BaseException], ...] = ()) -> int:
    """Lines Loki counts for the run's tag, polled until they equal ``expected`` (``at_least``: reach it), or the
    timeout: then the last count. Errors in ``fatal`` end the wait at once."""
    window, at_ns = run_window(run_tag, since_s)
    logql = f"sum(count_over_time({window}))"
    seen: list[int] = []

    def count() -> tuple[int] | None:             # a tuple: a count of 0 is an answer too
        counted = query(logql, at_ns)
        seen.append(int(counted[0].value) if counted else 0)
        done = seen[-1] >= expected if at_least else seen[-1] == expected
        return (seen[-1],) if done else None

    try:
        return poll(count, timeout_s=timeout_s, what=f"{expected} acknowledged lines counted by {logql}",
                    interval_s=1.0, fatal=fatal)[0]
    except WaitTimeout:
        if not seen:
            raise
        return seen[-1]
