"""Canary-grade data path: numbered lines per stream, judged line by line as loki-canary does.

Issue 21: lines carry a sequence number per stream, and the gate reports missing, duplicate and
out-of-order counts per stream; the live tail (``/loki/api/v1/tail`` through nginx, read credential)
delivers the gate's lines in order within freshness_p95_s; a query for more lines than one page returns
them all by paging. These checks ask only for the public surface (``logs``: push and read credentials
through nginx), so they run against the gate's own stack and against ``--target`` alike.
In container mode only, lines that have left the ingester are answered from storage: a store-only
querier beside a Loki of its own (obsgate.checks.canary), not evaluated against an external target.
"""

from __future__ import annotations

import time

import pytest

from obsgate.checks.canary import (
    CANARY,
    PagingPlan,
    canary_streams,
    paging_order_faults,
    read_back,
    read_failure,
    read_from_storage,
    stream_names,
    tail_run,
)
from obsgate.checks.logs import NS, LogsClient
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun

CANARY_STREAMS = 4
CANARY_LINES = 300                  # per stream: 1,200 lines, read back in pages of CANARY_PAGE
CANARY_PAGE = 500                   # or the declared entries limit, if lower
TAIL_LINES = 30
READ_BACK_TIMEOUT_S = 15.0
STORED_STREAMS, STORED_LINES = 2, 50


@pytest.mark.gate(category="Functionality", weight=3)
def test_logs_canary_streams_read_back_with_no_missing_duplicate_or_out_of_order_line(
        logs: LogsClient, paging_plan: PagingPlan, gate: GateRecorder) -> None:
    """Numbered lines of several streams read back (every page) with none missing, duplicated or out of order."""
    start = time.time_ns()
    names = stream_names(CANARY_STREAMS)
    logs.push_ok(canary_streams(logs, names, CANARY_LINES, start))
    page = min(CANARY_PAGE, paging_plan.page_lines)     # never more than the deployment declares it answers
    read = read_back(logs, dict.fromkeys(names, CANARY_LINES), start - NS, page, READ_BACK_TIMEOUT_S)
    gate.evidence["canary"] = read.evidence()
    for key, value in (("canary_lines_missing", read.tallies.missing),
                       ("canary_lines_duplicate", read.tallies.duplicate),
                       ("canary_lines_out_of_order", read.tallies.out_of_order)):
        gate.measure(key, value, context=lambda: read_failure(read))


@pytest.mark.gate(category="Functionality", weight=2)
def test_logs_live_tail_through_nginx_delivers_lines_in_order_within_freshness(
        logs: LogsClient, policy: Policy, gate: GateRecorder) -> None:
    """The live tail through nginx (read credential) delivers each pushed line once, in order, p95 within freshness_p95_s."""
    target = policy.target("freshness_p95_s")
    give_up_s = 2 * max(target.value, target.warn or target.value)     # a line this late has failed anyway
    tail = logs.read_api.tail(logs.selector(**CANARY), time.time_ns() - NS)
    run = tail_run(logs, tail, TAIL_LINES, give_up_s)
    gate.evidence["tail"] = run.evidence()
    for key, value in (("canary_lines_missing", run.tallies.missing),
                       ("canary_lines_duplicate", run.tallies.duplicate),
                       ("canary_lines_out_of_order", run.tallies.out_of_order)):
        gate.measure(key, value, name=f"tail_{key}", context=run.tallies.describe)
    gate.measure("freshness_p95_s", run.p95_s, name="tail_freshness_p95_s",
                 context=lambda: f"push acknowledged -> delivered by the tail, over {len(run.latencies_s)} lines")


@pytest.mark.gate(category="Functionality", weight=2)
def test_logs_query_beyond_one_page_returns_every_line_by_paging(logs: LogsClient, paging_plan: PagingPlan,
                                                                 gate: GateRecorder) -> None:
    """More lines than max_entries_limit_per_query come back by paging, every one once, oldest first."""
    start = time.time_ns()
    [stream] = canary_streams(logs, ["page"], paging_plan.lines, start, per_ts=paging_plan.per_ts)
    logs.push_ok([stream])
    pushed = {"page": paging_plan.lines}
    read = read_back(logs, pushed, start - NS, paging_plan.page_lines, READ_BACK_TIMEOUT_S)
    entries = [entry for _, entry in read.paged.entries]
    # Order is judged by timestamp: Loki promises none among lines sharing one (3.4.6 reorders them).
    gate.evidence["paging"] = {"page_lines": paging_plan.page_lines, "pushed": paging_plan.lines,
                               "lines_per_timestamp": paging_plan.per_ts, "order_judged_by": "timestamp",
                               **read.evidence()}
    assert len(read.paged.pages) > 1, (f"{paging_plan.lines} lines came back in {len(read.paged.pages)} page(s) of"
                                       f" {paging_plan.page_lines}: paging was not exercised")
    counted = read.tallies
    backwards = paging_order_faults(entries)
    gate.measure("canary_lines_missing", counted.missing, context=lambda: read_failure(read))
    gate.measure("canary_lines_duplicate", counted.duplicate, context=lambda: read_failure(read))
    assert backwards == 0, (f"{backwards} entries came back with a timestamp before the one read just before them"
                            f" ({len(read.paged.pages)} pages of {paging_plan.page_lines})")
    assert set(entries) == set(stream[1]), f"lines changed on the way: {read_failure(read)}"



@pytest.mark.gate(category="Functionality", weight=2)
def test_logs_flushed_lines_are_answered_from_storage(gate_run: GateRun, gate: GateRecorder) -> None:
    """Lines that left the ingester (flushed, index shipped) are all answered by a store-only querier."""
    read = read_from_storage(gate_run, STORED_STREAMS, STORED_LINES, READ_BACK_TIMEOUT_S)
    gate.evidence["store"] = read.evidence()
    assert read.before_flush == 0, (f"the store-only querier answered {read.before_flush} lines still only in the"
                                    " ingester: it is not reading storage alone, the check proves nothing")
    for key, value in (("canary_lines_missing", read.tallies.missing),
                       ("canary_lines_duplicate", read.tallies.duplicate),
                       ("canary_lines_out_of_order", read.tallies.out_of_order)):
        gate.measure(key, value, name=f"stored_{key}", context=read.tallies.describe)
