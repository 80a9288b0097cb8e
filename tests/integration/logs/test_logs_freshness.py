"""Pushed logs become queryable fast enough to debug a till while it is failing.

Seed success criterion: "Backend logs appear in Grafana within 5 seconds" (gate.yml
freshness_p95_s). Each probe pushes one line through nginx with the push credential, as a
backend does, then polls Loki's query API on the run network, where Grafana's Loki data
source reads (a --target's: through its gateway with the read credential), until the line is returned; p50
and p95 over all probes are reported.
"""

from __future__ import annotations

import pytest

from obsgate.checks.logs import LogsClient, percentile, push_to_queryable_s
from obsgate.clients import LokiAPI
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder

FRESHNESS_PROBES = 50


@pytest.mark.gate(category="Performance", weight=4)
def test_logs_freshness_p95_push_to_queryable(logs: LogsClient, loki_reader: LokiAPI, policy: Policy,
                                              gate: GateRecorder) -> None:
    """p95 push-to-queryable latency over FRESHNESS_PROBES probes meets freshness_p95_s."""
    target = policy.target("freshness_p95_s")
    give_up_s = 2 * max(target.value, target.warn or target.value)   # a line this late has failed anyway
    latencies = [push_to_queryable_s(logs, probe, give_up_s, loki_reader) for probe in range(FRESHNESS_PROBES)]
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    gate.evidence["freshness"] = {"probes": len(latencies), "p50_s": round(p50, 4), "p95_s": round(p95, 4),
                                  "min_s": round(min(latencies), 4), "max_s": round(max(latencies), 4)}
    gate.measure("freshness_p95_s", p95)
