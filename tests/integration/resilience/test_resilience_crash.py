"""Data a service acknowledged survives a SIGKILL of its process (write-ahead log replay).

Seed success criterion "services survive restart", the hard way: no graceful shutdown, no
flush. Runs on the resilience stack (``resilience_stack``), never on the run's shared one.
"""

from __future__ import annotations

import time
import uuid

import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.logs import LogsClient, PosEvent, backend_log
from obsgate.checks.resilience.crash import crash_and_start
from obsgate.checks.resilience.tsdb import last_scrape, series_at
from obsgate.clients import PrometheusAPI
from obsgate.core.recorder import GateRecorder

PUSHES, LINES_PER_PUSH = 10, 5
QUERYABLE_TIMEOUT_S = 20.0


@pytest.mark.gate(category="Resilience", weight=3)
def test_loki_acknowledged_lines_survive_sigkill(own_logs: LogsClient, own_loki: ServiceHandle,
                                                 gate: GateRecorder) -> None:
    """Every line Loki answered 204 for just before a SIGKILL is queryable after it starts again."""
    ts = time.time_ns()
    pushed = []
    for push in range(PUSHES):
        batch = []
        for line in range(LINES_PER_PUSH):
            at = ts + push * LINES_PER_PUSH + line
            event = PosEvent("STORE_404", f"T-404-{push:02d}", "U-4040", "error", "Payment failed",
                             "PaymentDeclinedError", "Card declined", str(uuid.uuid4()))
            labels, text = backend_log(event, at)
            batch.append((at, text))
        own_logs.push_ok([(labels, batch)])
        pushed += batch
    recovery_s = crash_and_start(own_loki)
    gate.measure("service_ready_s", recovery_s, name="loki_sigkill_recovery_s")
    got = own_logs.wait_for(own_logs.selector(), pushed, ts, QUERYABLE_TIMEOUT_S)
    assert got == sorted(pushed), f"after SIGKILL Loki returned {len(got)} entries for {len(pushed)} acknowledged"


@pytest.mark.gate(category="Resilience", weight=2)
def test_prometheus_scraped_samples_survive_sigkill(own_prometheus: ServiceHandle,
                                                    own_prometheus_api: PrometheusAPI,
                                                    gate: GateRecorder) -> None:
    """Every series of Prometheus' last scrape before a SIGKILL still has that sample after it starts again."""
    scrape = last_scrape(own_prometheus_api, "prometheus")
    gate.evidence["scrape"] = {"job": scrape.job, "at_s": scrape.at_s, "series": scrape.series}
    recovery_s = crash_and_start(own_prometheus)
    gate.measure("service_ready_s", recovery_s, name="prometheus_sigkill_recovery_s")
    after = series_at(own_prometheus_api, scrape.job, scrape.at_s)
    gate.evidence["series_after"] = after
    assert after == scrape.series, (
        f"of the {scrape.series} series job {scrape.job} had at {scrape.at_s} (the last scrape before SIGKILL),"
        f" {after} are left after the restart")
