"""Loki's counters (prometheus_client's parser), Docker stats and a driver result turned into window
figures, as the load checks judge them (no container)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import load_policy
from obsgate.core.recorder import GateRecorder
from obsgate.load import shapes, verdict
from obsgate.load.counters import LokiCounters, parse
from obsgate.load.resources import Sample, parse_sample, summarize
from obsgate.load.session import GateProfile, saturation_plan
from obsgate.load.shapes import WARM_UP

ROOT = Path(__file__).resolve().parents[2]

METRICS = """\
# HELP loki_distributor_lines_received_total The total number of lines received.
# TYPE loki_distributor_lines_received_total counter
loki_distributor_lines_received_total{tenant="fake"} 595000
loki_distributor_lines_received_total{tenant="other"} 5
# HELP loki_distributor_bytes_received_total The total number of uncompressed bytes received per tenant.
# TYPE loki_distributor_bytes_received_total counter
loki_distributor_bytes_received_total{tenant="fake"} 6.1e+08
# HELP loki_discarded_samples_total The total number of samples that were discarded.
# TYPE loki_discarded_samples_total counter
loki_discarded_samples_total{reason="rate_limited",tenant="fake"} 3000
loki_discarded_samples_total{reason="line_too_long",tenant="fake"} 2
# HELP loki_discarded_bytes_total The total number of bytes that were discarded.
# TYPE loki_discarded_bytes_total counter
loki_discarded_bytes_total{reason="rate_limited",tenant="fake"} 3.1e+06
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 412
"""


def test_counters_sum_tenants_and_split_discards_by_reason() -> None:
    counters = parse(METRICS)
    assert counters.lines_received == 595005
    assert counters.discarded_lines == {"rate_limited": 3000, "line_too_long": 2}
    assert counters.accepted_lines == 595005 - 3002
    assert parse("").lines_received == 0                    # before the first push: no series yet


def test_counter_deltas_keep_only_what_changed() -> None:
    before = LokiCounters(100, 1000, {"rate_limited": 5}, {"rate_limited": 50})
    after = LokiCounters(300, 3000, {"rate_limited": 5, "line_too_long": 1}, {"rate_limited": 50})
    delta = after - before
    assert (delta.lines_received, delta.discarded_lines) == (200, {"line_too_long": 1})


def test_docker_stats_sample_as_cores_and_memory() -> None:
    stats = {"cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}, "system_cpu_usage": 20_000_000_000,
                           "online_cpus": 2},
             "precpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}, "system_cpu_usage": 18_000_000_000},
             "memory_stats": {"usage": 900 * 2**20, "stats": {"inactive_file": 100 * 2**20}}}
    sample = parse_sample(stats, 1.0)
    assert sample.cpu_cores == pytest.approx(0.5) and sample.memory_bytes == 800 * 2**20
    first = parse_sample({**stats, "precpu_stats": {}}, 0.0)
    assert first.cpu_cores is None                            # no previous reading yet


def test_resource_summary_averages_inside_the_window_only() -> None:
    samples = {"loki": [Sample(t, 0.5, 1000.0) for t in range(10)] + [Sample(50, 9.0, 9e9)],
               "nginx": [Sample(t, 0.1, 10.0) for t in range(10)], "grafana": []}
    figures = summarize(samples, 0, 20)
    assert figures.cpu_cores == pytest.approx(0.6) and figures.memory_bytes == 1010
    assert figures.missing == ("grafana",)


def _snapshot(wall: float, pushes: int, lines: int, failures: dict[str, int], cpu: float,
              received: float) -> dict[str, Any]:
    return {"wall": wall, "cpu_s": cpu,
            "client": {"pushes": pushes, "lines": lines, "line_bytes": lines * 1000, "body_bytes": 0,
                       "by_format": {}, "failures": failures, "failed_lines": 0},
            "server": {"lines_received": received, "bytes_received": received * 1000,
                       "discarded_lines": {"rate_limited": 1000.0} if failures else {}, "discarded_bytes": {}}}


def result(cpu_end: float = 6.0, failures: dict[str, int] | None = None) -> dict[str, Any]:
    failures = failures or {}
    start = _snapshot(100.0, 10, 10_000, {}, 1.0, 10_000)
    end = _snapshot(160.0, 610, 610_000, failures, cpu_end, 611_000)
    pushes = [(100.0 + i / 10, 0.05 + (i % 100) / 1000, True, 1000) for i in range(600)]
    return {"aborted": None, "started": 85.0, "ended": 161.0, "totals": end["client"],
            "windows": [{"phase": "steady", "rps": 10, "start": start, "end": end}],
            "push_latencies": pushes, "query_latencies": [(120.0, 0.2, True, 0), (140.0, 0.4, True, 0)]}


def test_window_figures_from_a_driver_result() -> None:
    w = verdict.window(result(), "steady")
    assert w.seconds == 60 and w.lines_ok == 600_000 and w.client_lines_per_s == 10_000
    assert w.server_lines_per_s == pytest.approx(601_000 / 60)
    assert w.error_rate == 0 and w.cpu_share == pytest.approx(5 / 60)
    assert w.push_p(99) == pytest.approx(0.148) and w.query_p(95) == 0.4
    assert verdict.tripped(w) == "no limit pushed back"


def test_the_limit_that_tripped_is_named_biggest_first() -> None:
    w = verdict.window(result(failures={"loki 429: rate_limited (Ingestion rate limit exceeded)": 3}), "steady")
    assert w.error_rate == pytest.approx(3 / 603)
    assert verdict.tripped(w, p99_budget_s=0.1).split("; ") == [
        "Loki discarded 1,000 lines as rate_limited", "3 x loki 429: rate_limited (Ingestion rate limit exceeded)",
        "push latency p99 0.148s over its 0.1s budget"]


def test_a_generator_bound_run_is_inconclusive_not_failed() -> None:
    with pytest.raises(NotEvaluated, match="inconclusive — generator bound: .* 95% of a core"):
        verdict.conclusive(result(cpu_end=58.0), "steady", max_cpu_share=0.9)


def test_an_aborted_run_fails_with_its_reason() -> None:
    aborted = {**result(), "aborted": "the first push failed: nginx 401", "windows": []}
    with pytest.raises(AssertionError, match="stopped on its first pushes: the first push failed: nginx 401"):
        verdict.conclusive(aborted, "steady", 0.9)


def test_series_buckets_per_second() -> None:
    s = verdict.series(result())
    assert s["t_s"][0] == 0 and sum(s["lines_per_s"]) == 600_000 and s["lines_per_s"][15] == 10_000


def test_gate_profile_and_saturation_come_from_the_policy() -> None:
    policy = load_policy(Path(__file__).resolve().parents[2] / "gate.yml")
    profile = GateProfile.from_policy(policy)
    target = policy.target("ingest_lines_per_s").value
    load = policy.load()
    assert profile.pushes_per_s * profile.lines_per_push == target          # the steady window: the target's rate
    assert profile.offered_lines_per_s == pytest.approx(target * (1 + load.offer_margin))
    assert profile.payload().sizes.mean == policy.target("avg_line_bytes").value
    plan = profile.plan()
    assert plan.window("steady") == (load.ramp_s, load.ramp_s + load.steady_s)
    margin_start = load.ramp_s + load.steady_s + shapes.MARGIN_RAMP_S
    assert plan.window("margin") == (margin_start, margin_start + load.margin_s)
    assert plan.phases[-1].rps * profile.lines_per_push == pytest.approx(profile.offered_lines_per_s)
    assert profile.lines_per_push == load.lines_per_push and profile.query_interval_s == load.query_interval_s
    steps, stop_when = saturation_plan(policy)
    assert steps.phases[0].name == WARM_UP
    assert steps.phases[1].rps * profile.lines_per_push == load.saturation.start_lines_per_s
    assert steps.phases[-1].rps * profile.lines_per_push == load.saturation.max_lines_per_s
    assert stop_when == {"error_rate": policy.target("error_rate").value, "p99_s": policy.target("push_p99_s").value}


PUSH_HISTOGRAM = """\
# TYPE loki_request_duration_seconds histogram
loki_request_duration_seconds_bucket{method="POST",route="loki_api_v1_push",status_code="204",ws="false",le="0.1"} 50
loki_request_duration_seconds_bucket{method="POST",route="loki_api_v1_push",status_code="204",ws="false",le="0.5"} 98
loki_request_duration_seconds_bucket{method="POST",route="loki_api_v1_push",status_code="204",ws="false",le="1"} 100
loki_request_duration_seconds_bucket{method="POST",route="loki_api_v1_push",status_code="204",ws="false",le="+Inf"} 100
loki_request_duration_seconds_bucket{method="GET",route="loki_api_v1_query_range",status_code="200",ws="false",le="1"} 7
"""


def test_lokis_own_push_time_is_read_per_window_as_a_bucket_bound() -> None:
    before, after = parse(""), parse(PUSH_HISTOGRAM)
    delta = LokiCounters.from_dict((after - before).as_dict())
    assert delta.push_quantile(50) == 0.1 and delta.push_quantile(95) == 0.5 and delta.push_quantile(99) == 1.0
    assert before.push_quantile(99) is None                  # no push, no figure (the query route is not counted)


def busy_window(machine_busy: int, failures: dict[str, int] | None = None) -> verdict.Window:
    """The steady window of ``result()`` with the machine's CPUs (2) read beside it: ``machine_busy`` ticks of 120."""
    data = result(failures=failures)
    data["windows"][0]["start"]["machine"] = {"busy": 0, "total": 0, "cpus": 2}
    data["windows"][0]["end"]["machine"] = {"busy": machine_busy, "total": 120, "cpus": 2}
    return verdict.window(data, "steady")


def test_a_miss_is_inconclusive_when_other_work_kept_the_machine_busy() -> None:
    gate = GateRecorder(load_policy(ROOT / "gate.yml"))
    w = busy_window(machine_busy=96)                          # 1.6 cores: 1.0 foreign beside 0.5 stack + 0.08 generator
    load = verdict.busy(w, stack_cores=0.5)
    assert load is not None and load.foreign_share == pytest.approx((1.6 - 0.5 - 5 / 60) / 2)
    excuse = verdict.machine_excuse(w, load, 0.25)
    with pytest.raises(NotEvaluated, match=r"inconclusive — the machine was busy with other work: 51% of its 2 CPUs"):
        verdict.measure_all(gate, [("push_p99_s", 1.3, "push_p99_s")], excuse=excuse)
    assert gate.measurements[-1].judgement.value == "soft"   # the figure is recorded all the same
    verdict.measure_all(gate, [("push_p99_s", 0.4, "push_p99_s")], excuse=excuse)   # a pass stays a pass


def test_a_miss_on_a_quiet_machine_or_with_refusals_is_the_stacks() -> None:
    gate = GateRecorder(load_policy(ROOT / "gate.yml"))
    quiet = busy_window(machine_busy=40)
    assert verdict.machine_excuse(quiet, verdict.busy(quiet, 0.5), 0.25) is None
    verdict.measure_all(gate, [("push_p99_s", 1.3, "push_p99_s")])
    assert gate.measurements[-1].judgement.value == "soft"   # a soft miss, half weight: nothing excuses it
    with pytest.raises(AssertionError, match=r"push_p99_s: 2.5 s > target 1 s.*; Loki's own"):
        verdict.measure_all(gate, [("push_p99_s", 2.5, "push_p99_s")], context="Loki's own push p99 <= 2.5 s")
    refused = busy_window(machine_busy=96, failures={"nginx 502": 3})      # refusals (and discards) are the stack's
    assert verdict.machine_excuse(refused, verdict.busy(refused, 0.5), 0.25) is None
    assert verdict.busy(quiet, stack_cores=None) is None     # no Docker stats: no excuse either


def test_pushes_in_flight_at_the_window_edges_are_not_charged_as_a_mismatch() -> None:
    data = result()
    data["windows"][0]["end"]["server"]["lines_received"] = 611_000 + 3_000     # Loki 604,000, the client 600,000
    data["push_latencies"] += [(161.0, 2.0, True, 1000)] * 3 + [(100.5, 1.0, True, 1000)]
    w = verdict.window(data, "steady")
    assert (w.in_flight_at_start, w.in_flight_at_end) == (1000, 3000)     # sent before an edge, answered after it
    assert verdict.count_mismatch(w) == pytest.approx(1_000 / 600_000)    # 4,000 apart, 3,000 of them in flight
    assert verdict.count_mismatch(verdict.window(result(), "steady")) == pytest.approx(1_000 / 600_000)
