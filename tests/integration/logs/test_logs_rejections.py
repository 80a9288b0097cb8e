"""Loki refuses what it will not store explicitly (documented 4xx + reason), never silently,
and keeps everything else in the same batch.

What Loki 2.9.3 really refuses (read from its source, v2.9.3):
- distributor/validator.go: a line older than ``reject_old_samples_max_age`` -> 400 "entry for
  stream ... has timestamp too old"; a line longer than ``max_line_size`` -> 400 "Max entry
  size ... exceeded". The other entries of the request are still written.
- ingester/stream.go: with ``unordered_writes`` (the 2.9 default) out-of-order lines are
  *accepted* while no older than the stream's newest entry minus ``max_chunk_age``/2; older
  ones -> 400 "entry too far behind", "total ignored: N out of M" (the rest is written).
- distributor.go: a request beyond the tenant's ingestion token bucket -> 429 "Ingestion rate
  limit exceeded" naming the limit; the whole request is refused (the client retries it).
The limits are read from Loki's own /config, so the checks probe what actually runs.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from obsgate.checks.logs import MIB, NS, Burst, Entry, LogsClient, LokiLimits, describe, push_burst
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import poll

QUERYABLE_TIMEOUT_S = 15.0
BURST_BATCH_BYTES = 4 * MIB        # one push of the burst (uncompressed line bytes)
MAX_BURST_BYTES = 96 * MIB         # the burst is bounded: never more than this ...
MAX_BURST_S = 30.0                 # ... or this long


def _assert_refused(response: httpx.Response, status: int, reason: str, limits: LokiLimits) -> None:
    assert response.status_code == status and reason in response.text, (
        f"expected {status} with {reason!r}, got {describe(response)}; Loki runs with {limits}")


def _assert_kept_not_stored(logs: LogsClient, kept: list[Entry], refused: Entry) -> None:
    """The batch's other entries were written; the refused one was not."""
    start = min(ts for ts, _ in [*kept, refused])
    got = logs.wait_for(logs.selector(), kept, start, QUERYABLE_TIMEOUT_S)
    assert refused not in got, f"the refused line was stored anyway (ts {refused[0]})"


@pytest.mark.gate(category="Functionality", weight=2)
def test_logs_too_old_line_rejected_with_reason(logs: LogsClient, loki_limits: LokiLimits,
                                                gate: GateRecorder) -> None:
    """A line older than reject_old_samples_max_age gets 400 + reason; the rest of its batch is kept."""
    now = time.time_ns()
    too_old = (now - int((loki_limits.reject_old_samples_max_age_s + 3600) * NS), "replayed from a week-old spool")
    kept = [(now, "sale 1 closed"), (now + 1, "sale 2 closed")]
    # The old line leads a new stream, so its age is the only reason Loki could have to refuse it.
    response = logs.push([(logs.labels(probe="too-old"), [too_old, *kept])])
    gate.evidence["push"] = describe(response)
    _assert_refused(response, 400, "timestamp too old", loki_limits)
    _assert_kept_not_stored(logs, kept, too_old)


@pytest.mark.gate(category="Functionality", weight=2)
def test_logs_out_of_order_line_beyond_window_rejected_with_reason(logs: LogsClient, loki_limits: LokiLimits,
                                                                   gate: GateRecorder) -> None:
    """Out-of-order lines inside Loki's window are kept; one beyond it gets 400 + reason, the rest is kept."""
    now, window_ns = time.time_ns(), int(loki_limits.out_of_order_window_s * NS)
    labels = logs.labels(probe="out-of-order")
    logs.push_ok([(labels, [(now, "newest line of the stream")])])
    late_in_window = (now - window_ns // 2, "late but inside the window")
    too_far_behind = (now - window_ns - 600 * NS, "behind the window")
    after = (now + 1, "next line")
    response = logs.push([(labels, [late_in_window, too_far_behind, after])])
    gate.evidence["push"] = describe(response)
    _assert_refused(response, 400, "entry too far behind", loki_limits)
    assert "total ignored: 1 out of 3" in response.text, f"Loki refused more than the late line: {describe(response)}"
    _assert_kept_not_stored(logs, [(now, "newest line of the stream"), late_in_window, after], too_far_behind)


@pytest.mark.gate(category="Functionality", weight=2)
def test_logs_over_limit_line_rejected_with_reason(logs: LogsClient, loki_limits: LokiLimits,
                                                   gate: GateRecorder) -> None:
    """A line over max_line_size gets 400 + reason (not truncated, not dropped silently); the rest is kept."""
    limit = loki_limits.max_line_size
    assert limit > 0, "Loki runs without a line size limit (max_line_size 0): any line is accepted"
    now = time.time_ns()
    too_long = (now + 1, "X" * (limit + 1))
    kept = [(now, "before the long line"), (now + 2, "after the long line")]
    response = logs.push([(logs.labels(probe="over-limit"), [kept[0], too_long, kept[1]])])
    gate.evidence["push"] = describe(response)
    _assert_refused(response, 400, f"Max entry size '{limit}' bytes exceeded", loki_limits)
    _assert_kept_not_stored(logs, kept, too_long)
    gate.measure("max_line_bytes", limit, name="loki_max_line_size")


def _stored_per_batch(logs: LogsClient, burst: Burst, since_ns: int) -> dict[str, int]:
    """Poll until every accepted batch is fully counted in Loki; returns lines stored per batch."""
    counts: dict[str, int] = {}

    def complete() -> dict[str, int] | None:
        nonlocal counts
        counts = logs.count_by("batch", since_ns)
        return counts if all(counts.get(b, 0) >= n for b, n in burst.accepted.items()) else None

    return poll(complete, timeout_s=QUERYABLE_TIMEOUT_S, what="every accepted batch of the burst to be stored",
                evidence=lambda: f"stored per batch: {counts}; accepted: {burst.accepted}")


@pytest.mark.gate(category="Resilience", weight=3)
def test_loki_tenant_rate_limit_answers_429_with_reason(logs: LogsClient, loki_limits: LokiLimits,
                                                        policy: Policy, gate: GateRecorder) -> None:
    """A runaway client meets Loki's per-tenant limit: 429 naming it, whole push refused, nothing else lost."""
    started = time.time_ns()
    line_bytes = int(policy.target("avg_line_bytes").value)
    tenant_limit = (f"{loki_limits.ingestion_rate_bytes / MIB:g} MiB/s, "
                    f"burst {loki_limits.ingestion_burst_bytes / MIB:g} MiB")
    burst = push_burst(logs, BURST_BATCH_BYTES, line_bytes, MAX_BURST_BYTES, MAX_BURST_S)
    gate.evidence["burst"] = {
        "pushes": burst.pushes, "accepted_MiB": round(burst.accepted_bytes / MIB, 1),
        "elapsed_s": round(burst.elapsed_s, 3), "line_bytes": line_bytes, "tenant_limit": tenant_limit,
        "refusal": describe(burst.refusal) if burst.refusal is not None else None}
    assert burst.refusal is not None, (
        f"no refusal after {burst.accepted_bytes / MIB:.0f} MiB in {burst.pushes} pushes / {burst.elapsed_s:.1f}s: "
        f"Loki's tenant limit ({tenant_limit}) never pushed back within the bounded burst")
    _assert_refused(burst.refusal, 429, "Ingestion rate limit exceeded", loki_limits)
    named = re.search(r"limit: (\d+) bytes/sec", burst.refusal.text)
    assert named and int(named.group(1)) == int(loki_limits.ingestion_rate_bytes), (
        f"the 429 does not name the configured rate limit: {describe(burst.refusal)}")
    allowance = loki_limits.ingestion_burst_bytes + loki_limits.ingestion_rate_bytes * burst.elapsed_s
    assert burst.accepted_bytes <= allowance, (
        f"Loki accepted {burst.accepted_bytes / MIB:.1f} MiB in {burst.elapsed_s:.2f}s, more than its token bucket "
        f"allows ({allowance / MIB:.1f} MiB = burst + rate x time)")
    stored = _stored_per_batch(logs, burst, started)
    gate.evidence["stored_per_batch"] = stored
    short = {b: (stored.get(b, 0), n) for b, n in burst.accepted.items() if stored.get(b, 0) != n}
    assert not short, f"accepted batches not stored exactly (stored, pushed): {short}"
    assert stored.get(burst.refused_batch or "", 0) == 0, (
        f"the refused batch {burst.refused_batch} was partly stored: {stored.get(burst.refused_batch or '')} lines")
