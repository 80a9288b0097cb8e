"""Each load check fails by its own judgement on a recorded load run that falls short of that one figure.

The checks of tests/load are called as they are, with a ``LoadRun`` built from a driver result in the
shape ``obsgate.load.driver`` writes (as tests/unit/test_load_figures.py builds it) and Docker stats
samples as ``StatsSampler`` keeps them: no container, no load on a machine busy with real load runs.
Each run is healthy but for one figure, and the failure must name that figure with its numbers.
The live self-tests (tests/selftest/test_load_checks_fail.py) cover the limits a real stack trips.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tests.load.test_load_ingest as ingest
import tests.load.test_load_saturation as saturation
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.load.plan import DriverPlan
from obsgate.load.resources import Sample, StatsSampler, parse_sample
from obsgate.load.session import STEADY, GateProfile, LoadRun
from obsgate.load.shapes import WARM_UP

ROOT = Path(__file__).resolve().parents[2]
START, SECONDS = 100.0, 60.0
GIB = 2**30


def _snapshot(wall: float, lines: int, received: float, cpu_s: float, machine_busy: int) -> dict[str, Any]:
    """The driver's snapshot at a window's edge: client tally, Loki's counters, generator CPU, /proc/stat."""
    return {"wall": wall, "cpu_s": cpu_s,
            "client": {"pushes": lines // 1000, "lines": lines, "line_bytes": lines * 1000, "body_bytes": 0,
                       "by_format": {}, "failures": {}, "failed_lines": 0},
            "server": {"lines_received": received, "bytes_received": received * 1000, "discarded_lines": {},
                       "discarded_bytes": {}},
            "machine": {"busy": machine_busy, "total": 120 * (wall > START), "cpus": 2}}


def driver_result(received: float = 600_000, push_s: float = 0.1, query_s: float = 0.2,
                  machine_busy: int = 40) -> dict[str, Any]:
    """A steady window of 60 s: 600,000 lines acknowledged in 600 pushes of 1,000, Loki counting ``received``,
    every push answered in about ``push_s``, queries in ``query_s``; the machine's 2 CPUs ``machine_busy``
    ticks of 120 busy (40: 0.67 cores, the stack's 0.5 and the generator's 0.08 and little else)."""
    start = _snapshot(START, 10_000, 10_000, 1.0, 0)
    end = _snapshot(START + SECONDS, 610_000, 10_000 + received, 6.0, machine_busy)
    pushes = [(START + i / 10, push_s + (i % 100) / 1000, True, 1000) for i in range(600)]
    queries = [(START + t, query_s, True, 0) for t in range(5, 60, 5)]
    return {"aborted": None, "started": START - 15, "ended": START + SECONDS + 1, "totals": end["client"],
            "windows": [{"phase": STEADY, "rps": 10, "start": start, "end": end}],
            "push_latencies": pushes, "query_latencies": queries}


def load_run(policy: Policy, result: dict[str, Any], stored: int | None = 610_000, stack_cores: float = 0.5,
             stack_memory: float = 1.5 * GIB) -> LoadRun:
    """The run as the checks get it: the driver's result, Docker stats of two services, LogQL's count."""
    profile = GateProfile.from_policy(policy)
    plan = DriverPlan(host="https://127.0.0.1:8443", plan=profile.plan(), payload=profile.payload(),
                      run_tag="obsgate-recorded")
    walls = [START + t for t in range(0, int(SECONDS) + 1, 5)]
    samples = StatsSampler(containers={}, samples={
        "loki": [Sample(t, stack_cores * 0.8, stack_memory * 0.8) for t in walls],
        "nginx": [Sample(t, stack_cores * 0.2, stack_memory * 0.2) for t in walls]})
    return LoadRun(plan, result, samples, stored_lines=stored)


def test_a_healthy_recorded_run_passes_every_load_check(policy: Policy) -> None:
    """The baseline the failures below depart from by one figure each: no check fails on it."""
    run = load_run(policy, driver_result())
    for check in (ingest.test_load_client_and_loki_counts_agree, ingest.test_load_acknowledged_lines_all_stored_once,
                  ingest.test_load_push_p99_within_budget, ingest.test_load_simple_query_p95_under_ingest,
                  ingest.test_load_stack_resources_within_seed_budgets):
        check(run, policy, GateRecorder(policy))


def test_counts_check_fails_when_loki_counts_fewer_lines_than_the_client_saw_acknowledged(policy: Policy,
                                                                                        gate: GateRecorder) -> None:
    run = load_run(policy, driver_result(received=540_000))      # 10 % short; the policy allows 1 %
    with pytest.raises(AssertionError) as failed:
        ingest.test_load_client_and_loki_counts_agree(run, policy, gate)
    reason = str(failed.value)
    # 60,000 apart, 1,000 of them explained by the push in flight when the window opened
    assert reason.startswith("load_count_mismatch: 0.0983333 ratio > target 0.01 ratio"), reason
    assert "client 600,000 vs Loki 540,000 lines, 1,000 and 0 lines in flight at the window's edges" in reason
    assert "the client counted 204s for lines Loki's distributor did not count" in reason


def test_stored_once_check_fails_when_logql_counts_fewer_lines_than_were_acknowledged(policy: Policy,
                                                                                     gate: GateRecorder) -> None:
    run = load_run(policy, driver_result(), stored=609_250)
    with pytest.raises(AssertionError) as failed:
        ingest.test_load_acknowledged_lines_all_stored_once(run, policy, gate)
    assert "610,000 acknowledged, 609,250 counted — 750 lost" in str(failed.value), failed.value
    assert gate.evidence["completeness"] == {"acknowledged": 610_000, "stored": 609_250, "failed_pushes": {},
                                             "per_process": None, "missing_workers": []}


def test_stored_once_check_fails_on_lines_counted_twice(policy: Policy, gate: GateRecorder) -> None:
    run = load_run(policy, driver_result(), stored=611_000)
    with pytest.raises(AssertionError, match="610,000 acknowledged, 611,000 counted — 1,000 stored beyond the "
                                             r"acknowledged \(duplicated\?\)"):
        ingest.test_load_acknowledged_lines_all_stored_once(run, policy, gate)


def test_stored_once_check_fails_when_one_worker_lost_lines_another_duplicated(policy: Policy,
                                                                              gate: GateRecorder) -> None:
    """The totals agree, but per generator process they do not: 500 lines lost by one worker, 500 stored
    twice of the other's."""
    run = load_run(policy, driver_result(), stored=610_000)
    run.per_process = {"aa": {"acknowledged": 305_000, "stored": 304_500}, "bb": {"acknowledged": 305_000,
                                                                                 "stored": 305_500}}
    with pytest.raises(AssertionError) as failed:
        ingest.test_load_acknowledged_lines_all_stored_once(run, policy, gate)
    assert str(failed.value).startswith("load_lines_missing: 1,000 lines > target 0 lines"), failed.value
    assert "per generator process" in str(failed.value)


def test_stored_once_check_fails_when_the_lines_could_not_be_counted(policy: Policy, gate: GateRecorder) -> None:
    run = load_run(policy, driver_result(), stored=None)
    run.count_error = "WaitTimeout: 610000 acknowledged lines counted by sum(count_over_time(...))"
    with pytest.raises(AssertionError, match="the run's lines could not be counted: WaitTimeout"):
        ingest.test_load_acknowledged_lines_all_stored_once(run, policy, gate)


def test_push_p99_check_fails_over_its_hard_band_on_a_quiet_machine(policy: Policy, gate: GateRecorder) -> None:
    run = load_run(policy, driver_result(push_s=2.5))
    with pytest.raises(AssertionError) as failed:
        ingest.test_load_push_p99_within_budget(run, policy, gate)
    assert str(failed.value).startswith("push_p99_s: 2.598 s > target 1 s (outside soft-miss band <= 2)"), failed.value
    assert gate.evidence["machine"]["foreign_share"] < policy.target("foreign_cpu_share").value


def test_push_p99_miss_is_inconclusive_when_foreign_work_kept_the_machine_busy(policy: Policy,
                                                                              gate: GateRecorder) -> None:
    """The same miss while 1.2 of 2 CPUs were busy, 0.62 of them beside the stack and the generator: 31 % of
    the machine at or above foreign_cpu_share (25 %), so the machine ate the time, not the stack."""
    run = load_run(policy, driver_result(push_s=2.5, machine_busy=72))
    with pytest.raises(NotEvaluated) as inconclusive:
        ingest.test_load_push_p99_within_budget(run, policy, gate)
    reason = str(inconclusive.value)
    assert reason.startswith("inconclusive — the machine was busy with other work: 31% of its 2 CPUs"), reason
    assert "(limit 25%): push_p99_s: 2.598 s > target 1 s (outside soft-miss band <= 2)" in reason
    assert gate.measurements[-1].name == "push_p99_s"            # the figure is recorded all the same


def test_query_p95_check_fails_over_its_hard_band(policy: Policy, gate: GateRecorder) -> None:
    run = load_run(policy, driver_result(query_s=3.0))
    with pytest.raises(AssertionError) as failed:
        ingest.test_load_simple_query_p95_under_ingest(run, policy, gate)
    assert str(failed.value).startswith("query_p95_s: 3 s > target 1 s"), failed.value


def test_query_p95_check_fails_when_queries_failed(policy: Policy, gate: GateRecorder) -> None:
    result = driver_result()
    result["query_latencies"][3] = (result["query_latencies"][3][0], 30.0, False, 0)
    with pytest.raises(AssertionError, match="1 LogQL queries failed during the steady window"):
        ingest.test_load_simple_query_p95_under_ingest(load_run(policy, result), policy, gate)


def test_resources_check_fails_over_the_seed_budgets(policy: Policy, gate: GateRecorder) -> None:
    run = load_run(policy, driver_result(), stack_cores=5.0, stack_memory=10 * GIB)
    with pytest.raises(AssertionError) as failed:
        ingest.test_load_stack_resources_within_seed_budgets(run, policy, gate)
    memory, cpu = str(failed.value).split("; ")
    assert memory.startswith("stack_memory_bytes: 10,737,418,240 B > target 4,294,967,296 B"), memory
    assert cpu.startswith("stack_cpu_cores: 5 cores > target 2 cores"), cpu
    assert gate.evidence["resources"]["total"] == {"cpu_cores": 5.0, "memory_MiB": 10240.0}


def test_resources_check_fails_without_docker_stats(policy: Policy, gate: GateRecorder) -> None:
    run = load_run(policy, driver_result())
    run.samples = StatsSampler(containers={}, samples={"loki": []}, errors={"loki": "APIError: 404"})
    with pytest.raises(AssertionError, match=r"no Docker stats samples in the steady window: \{'loki': 'APIError"):
        ingest.test_load_stack_resources_within_seed_budgets(run, policy, gate)


def test_memory_counted_with_page_cache_is_not_judged_but_cpu_is(policy: Policy, gate: GateRecorder) -> None:
    """Podman's Docker API streams memory as {usage, limit} only: page cache is in it and cannot be taken out."""
    podman = {"cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000}, "system_cpu_usage": 20_000_000_000,
                            "online_cpus": 2},
              "precpu_stats": {"cpu_usage": {"total_usage": 2_500_000_000}, "system_cpu_usage": 18_000_000_000},
              "memory_stats": {"usage": 2048 * 2**20, "limit": 2048 * 2**20}}
    run = load_run(policy, driver_result())
    walls = [s.wall for s in run.samples.samples["loki"]]
    run.samples.samples["loki"] = [parse_sample(podman, t) for t in walls]
    with pytest.raises(NotEvaluated, match=r"memory not judged \(CPU was\): .* page cache as memory for loki"):
        ingest.test_load_stack_resources_within_seed_budgets(run, policy, gate)
    assert [m.name for m in gate.measurements] == ["stack_cpu_cores"]
    assert gate.evidence["resources"]["per_service"]["loki"]["memory_includes_page_cache"] is True


def step_up(knee_lines_per_s: int, step: int = 2500) -> dict[str, Any]:
    """A saturation run in steps of ``step`` lines/s whose step above ``knee_lines_per_s`` broke the p99 budget."""
    windows, wall, lines = [], START, 0
    rates = [step, *range(step, knee_lines_per_s + 2 * step, step)]
    for i, rate in enumerate(rates):
        start = _snapshot(wall, lines, lines, wall / 100, 0)
        lines += rate * 20
        end = _snapshot(wall + 20, lines, lines, wall / 100 + 2, 0)
        windows.append({"phase": WARM_UP if i == 0 else f"step-{i}", "rps": rate / 1000, "start": start, "end": end})
        wall += 20
    windows[-1]["broke"] = "push p99 2.400s > 1s"
    return {"aborted": None, "started": START, "ended": wall, "totals": windows[-1]["end"]["client"],
            "windows": windows, "push_latencies": [], "query_latencies": []}


def test_saturation_check_fails_when_the_knee_is_below_the_target(policy: Policy, gate: GateRecorder) -> None:
    run = load_run(policy, step_up(knee_lines_per_s=5000))
    with pytest.raises(AssertionError) as failed:
        saturation.test_load_saturation_knee_above_target(run, load_run(policy, step_up(knee_lines_per_s=25000)),
                                                          policy, gate)
    assert str(failed.value).startswith("knee_lines_per_s: 5,000 lines/s < target 10,000 lines/s"), failed.value
    assert gate.evidence["knee"]["tripped_first"] == "push p99 2.400s > 1s"
    # the second knee, Loki's limits lifted: reported beside it with the headroom
    assert gate.evidence["capacity"]["sustained"]["accepted_lines_per_s"] == 25000
    assert gate.evidence["headroom_lines_per_s"] == 20000


def test_saturation_check_fails_when_already_the_first_step_broke(policy: Policy, gate: GateRecorder) -> None:
    result = step_up(knee_lines_per_s=0)
    result["windows"] = result["windows"][:2]
    result["windows"][1]["broke"] = "error rate 12.00% > 1%"
    with pytest.raises(AssertionError, match="already the first step broke the budgets"):
        saturation.test_load_saturation_knee_above_target(load_run(policy, result), "overlay never came up", policy,
                                                          gate)
