"""The soak's figures and its checks' judgement on a recorded soak (no container: fakes only here).

A soak run as ``tests/load/test_load_soak.py`` gets it: the driver's result with one ``soak`` window,
Docker stats samples as ``StatsSampler`` keeps them, and Loki's gauges as ``GaugeSampler`` reads them.
Healthy but for one figure each, the failure names that figure with its numbers.
"""

from __future__ import annotations

from typing import Any

import pytest

import tests.load.test_load_soak as soak_checks
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.load import soak
from obsgate.load.plan import DriverPlan
from obsgate.load.resources import Sample, StatsSampler
from obsgate.load.session import GateProfile, LoadRun
from tests.unit.test_load_judgement_fails import _snapshot

START, SECONDS, MIB = 1000.0, 600.0, 2**20
METRICS = """# HELP loki_ingester_memory_streams The total number of streams in memory per tenant.
# TYPE loki_ingester_memory_streams gauge
loki_ingester_memory_streams{tenant="fake"} 1100
loki_ingester_memory_chunks 1500
loki_ingester_chunks_flush_failures_total 3
loki_ingester_chunks_flushed_total{reason="full"} 40
loki_ingester_chunks_flushed_total{reason="idle"} 2
loki_internal_log_messages_total{level="error"} 7
loki_internal_log_messages_total{level="info"} 60
loki_ingester_memory_streams_labels_bytes 99
"""


def test_gauges_are_summed_over_their_series_and_lookalikes_left_out() -> None:
    assert soak.parse_gauges(METRICS) == {"memory_streams": 1100, "memory_chunks": 1500, "flush_failures": 3,
                                          "errors_logged": 7, "chunks_flushed": 42}


def test_slope_is_per_minute_and_needs_two_times() -> None:
    assert soak.slope_per_min([(0, 0), (30, 5), (60, 10)]) == pytest.approx(10)
    assert soak.slope_per_min([(0, 1)]) is None and soak.slope_per_min([(5, 1), (5, 2)]) is None


def test_push_p99_drift_compares_the_first_minute_with_the_last() -> None:
    pushes = [(START + t, 0.1 if t < 300 else 0.6, True, 1000) for t in range(0, 600)]
    first, last, drift = soak.push_p99_drift_s(pushes, START, START + SECONDS)
    assert (first, last) == (0.1, 0.6) and drift == pytest.approx(0.5)
    with pytest.raises(AssertionError, match="no pushes answered in the soak window's first or last 60 s"):
        soak.push_p99_drift_s(pushes[:10], START, START + SECONDS)


def _soak_run(policy: Policy, loki_mib_per_min: float = 2.0, flush_failures: float = 0.0,
              late_push_s: float = 0.1) -> soak_checks.SoakRun:
    """A 600 s soak at 10,000 lines/s: Loki's memory growing ``loki_mib_per_min``, nginx's flat, flush failures
    rising by ``flush_failures``, pushes answered in 0.1 s (``late_push_s`` in the last five minutes)."""
    start = _snapshot(START, 0, 0, 1.0, 0)
    end = _snapshot(START + SECONDS, 6_000_000, 6_000_000, 40.0, 400)
    pushes = [(START + i / 10, 0.1 if i < 3000 else late_push_s, True, 1000) for i in range(6000)]
    result: dict[str, Any] = {"aborted": None, "started": START - 15, "ended": START + SECONDS + 1,
                              "totals": end["client"], "windows": [{"phase": soak.SOAK, "rps": 10, "start": start,
                                                                    "end": end}],
                              "push_latencies": pushes, "query_latencies": [(START + 5, 0.2, True, 0)]}
    profile = GateProfile.from_policy(policy)
    plan = DriverPlan(host="https://127.0.0.1:8443", plan=soak.soak_plan(profile.pushes_per_s, 600, 15),
                      payload=profile.payload(), run_tag="obsgate-recorded")
    walls = [START + t for t in range(0, 601, 10)]
    samples = StatsSampler(containers={}, samples={
        "loki": [Sample(t, 0.5, 500 * MIB + (t - START) / 60 * loki_mib_per_min * MIB) for t in walls],
        "nginx": [Sample(t, 0.1, 20 * MIB) for t in walls]})
    gauges = soak.GaugeSampler("http://loki:3100/metrics")
    gauges.samples = [(t, {"memory_streams": 1100.0, "memory_chunks": 1500.0,
                           "flush_failures": flush_failures * (t - START) / SECONDS, "errors_logged": 0.0,
                           "chunks_flushed": t - START})
                      for t in walls]
    return soak_checks.SoakRun(LoadRun(plan, result, samples, stored_lines=6_000_000), gauges,
                               {"loki": soak.Restarts(0, False, 2 * 2**30), "nginx": soak.Restarts(0, False, 0)})


def test_a_counter_going_down_counts_as_a_loki_restart() -> None:
    samples = [(float(t), {"chunks_flushed": float(v)}) for t, v in enumerate([10, 20, 30, 2, 12, 1, 5])]
    series = soak.LokiSeries.of(samples, 0, 10)
    assert series.restarts == 2
    assert series.increase("chunks_flushed") == 10 + 10 + 2 + 10 + 1 + 4 and series.increase("errors_logged") is None


def test_a_healthy_recorded_soak_passes_every_soak_check(policy: Policy) -> None:
    run = _soak_run(policy)
    for check in (soak_checks.test_soak_memory_growth_per_service_within_budget,
                  soak_checks.test_soak_loki_flushes_without_errors, soak_checks.test_soak_push_p99_does_not_drift):
        check(run, policy, GateRecorder(policy))


def test_memory_check_fails_on_a_service_growing_past_its_budget(policy: Policy, gate: GateRecorder) -> None:
    with pytest.raises(AssertionError) as failed:
        soak_checks.test_soak_memory_growth_per_service_within_budget(_soak_run(policy, loki_mib_per_min=100.0),
                                                                      policy, gate)
    reason = str(failed.value)
    assert reason.startswith("memory_growth_mib_per_min: 100 MiB/min > target 32 MiB/min"), reason
    assert "loki grew fastest; each service: loki 100.0, nginx 0.0 MiB/min" in reason
    assert gate.evidence["loki_in_memory"]["memory_streams"]["last"] == 1100.0


def test_memory_check_fails_when_a_service_was_oom_killed(policy: Policy, gate: GateRecorder) -> None:
    """Loki OOM-killed at its 2 GiB limit and restarted: its memory slope starts over, so the check fails on
    the restart itself, naming the limit."""
    run = _soak_run(policy)
    run.restarts["loki"] = soak.Restarts(2, True, 2 * 2**30)
    with pytest.raises(AssertionError) as failed:
        soak_checks.test_soak_memory_growth_per_service_within_budget(run, policy, gate)
    reason = str(failed.value)
    assert reason.startswith("loki restarted 2 time(s), OOM-killed at its 2,048 MiB memory limit during the soak"), reason
    assert gate.evidence["containers"]["loki"] == {"restarts": 2, "oom_killed": True, "memory_limit_bytes": 2**31}


def test_flush_check_fails_on_lokis_flush_failures(policy: Policy, gate: GateRecorder) -> None:
    with pytest.raises(AssertionError) as failed:
        soak_checks.test_soak_loki_flushes_without_errors(_soak_run(policy, flush_failures=4), policy, gate)
    reason = str(failed.value)
    assert reason.startswith("flush_failures: 4 failures > target 0 failures"), reason
    assert "loki_ingester_chunks_flush_failures_total rose by 4" in reason


def test_flush_check_counts_lokis_error_lines_where_it_has_no_flush_counter(policy: Policy, gate: GateRecorder) -> None:
    """Loki 2.9 exports no flush-failure counter: the error lines it logged stand in for it."""
    run = _soak_run(policy)
    for _, gauges in run.gauges.samples:
        del gauges["flush_failures"]
    run.gauges.samples[-1][1]["errors_logged"] = 12.0
    with pytest.raises(AssertionError) as failed:
        soak_checks.test_soak_loki_flushes_without_errors(run, policy, gate)
    reason = str(failed.value)
    assert reason.startswith("errors_logged: 12 failures > target 0 failures"), reason
    assert 'loki_internal_log_messages_total{level="error"} rose by 12' in reason


def test_drift_check_fails_when_the_push_p99_creeps_up(policy: Policy, gate: GateRecorder) -> None:
    with pytest.raises(AssertionError) as failed:
        soak_checks.test_soak_push_p99_does_not_drift(_soak_run(policy, late_push_s=0.9), policy, gate)
    reason = str(failed.value)
    assert reason.startswith("push_p99_drift_s: 0.8 s > target 0.25 s"), reason
    assert "p99 0.100 s in the first minute, 0.900 s in the last" in reason
