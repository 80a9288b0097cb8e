"""The gate's load from several generator processes: counts merged exactly, CPU judged per worker.

Recorded input in the shape ``obsgate.load.driver`` writes as a Locust master (each snapshot with its
``workers``); the live comparison of 1 and 2 processes is in docs/figures.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import load_policy
from obsgate.load import capacity, verdict
from obsgate.load.plan import DriverPlan, merge_counts, per_worker
from obsgate.load.session import STEADY, GateProfile, acknowledged_per_process
from obsgate.stackfiles.compose import ServiceSpec
from tests.unit.test_load_judgement_fails import ROOT


def _counts(lines: int, failures: dict[str, int] | None = None) -> dict[str, Any]:
    return {"pushes": lines // 1000, "lines": lines, "line_bytes": lines * 1000, "body_bytes": lines * 900,
            "by_format": {"json": lines // 2, "protobuf": lines - lines // 2}, "failures": failures or {},
            "failed_lines": 1000 * sum((failures or {}).values())}


def _answer(tag: str, lines: int, cpu_s: float, failures: dict[str, int] | None = None) -> dict[str, Any]:
    return {"seq": 1, "tag": tag, "wall": 0.0, "cpu_s": cpu_s, "client": _counts(lines, failures)}


def test_counts_of_workers_add_up_to_the_total_by_key() -> None:
    merged = merge_counts([_counts(3000, {"loki 429: rate_limited": 2}), _counts(5000, {"loki 429: rate_limited": 1,
                                                                                        "nginx 413": 1})])
    assert merged["lines"] == 8000 and merged["pushes"] == 8 and merged["failed_lines"] == 4000
    assert merged["failures"] == {"loki 429: rate_limited": 3, "nginx 413": 1}
    assert merged["by_format"] == {"json": 4000, "protobuf": 4000}


def test_a_snapshot_keeps_each_worker_and_names_the_one_that_did_not_answer() -> None:
    snap = per_worker({"w1": _answer("aa", 3000, 1.0), "w2": _answer("bb", 5000, 2.0)}, {"w1", "w2", "w3"})
    assert snap["client"]["lines"] == 8000
    assert snap["workers"]["w2"] == {"tag": "bb", "client": _counts(5000), "cpu_s": 2.0}
    assert snap["missing_workers"] == ["w3"]


def _master_result(cpu: tuple[float, float] = (3.0, 12.0), lagging: int = 0) -> dict[str, Any]:
    """A 60 s steady window of two workers: 200,000 and 400,000 lines, ``cpu`` seconds of CPU each; the second
    worker's answer at the window's end ``lagging`` lines behind (it answered before its last pushes' 204s)."""
    def snap(wall: float, lines: tuple[int, int], cpu_s: tuple[float, float], master_cpu: float,
             lag: int = 0) -> dict[str, Any]:
        answers = {"w1": _answer("aa", lines[0], cpu_s[0]), "w2": _answer("bb", lines[1], cpu_s[1])}
        return {"wall": wall, "cpu_s": master_cpu, "machine": None, **per_worker(answers, {"w1", "w2"}),
                "server_wall": wall + 0.01,
                "server": {"lines_received": float(sum(lines) + lag), "bytes_received": 0.0, "discarded_lines": {},
                           "discarded_bytes": {}}}
    start = snap(100.0, (0, 0), (1.0, 1.0), 0.5)
    end = snap(160.0, (200_000, 400_000 - lagging), (1.0 + cpu[0], 1.0 + cpu[1]), 1.1, lagging)
    return {"aborted": None, "started": 90.0, "ended": 170.0, "windows": [{"phase": STEADY, "rps": 10, "start": start,
                                                                            "end": end}],
            "totals": end["client"], "workers": {w: {"tag": v["tag"], "client": v["client"], "cpu_s": v["cpu_s"]}
                                                  for w, v in end["workers"].items()},
            "push_latencies": [(100.01 + (i + 1) / 10, 0.1, True, 1000) for i in range(600)], "query_latencies": []}


def test_a_window_of_workers_has_their_sum_and_each_ones_share() -> None:
    w = verdict.window(_master_result(), STEADY)
    assert w.lines_ok == 600_000 and w.server is not None and w.server.accepted_lines == 600_000
    assert w.workers["w1"]["lines_acknowledged"] == 200_000 and w.workers["w2"]["lines_acknowledged"] == 400_000
    assert w.workers["w1"]["generator_cpu_share"] == 0.05 and w.workers["w2"]["generator_cpu_share"] == 0.2
    assert w.cpu_share == 0.2                                    # the bound rule looks at the busiest process
    assert w.generator_cpu_cores == pytest.approx(0.01 + 0.05 + 0.2)   # the machine's view: master and workers
    assert w.evidence()["workers"]["w2"]["pushes_ok"] == 400


def test_a_late_worker_answer_does_not_skew_the_windows_count() -> None:
    """A worker busy laying out payloads answers 8 pushes late: the window counts by the push records between
    Loki's two readings, so client and Loki still agree."""
    w = verdict.window(_master_result(lagging=8000), STEADY)
    assert w.lines_ok == 600_000 and verdict.count_mismatch(w) == 0
    assert w.workers["w2"]["lines_acknowledged"] == 392_000          # its own answer, as evidence


def test_the_generator_bound_rule_applies_per_worker_and_names_the_bound_one() -> None:
    """Two workers at 0.5 and 0.95 of a core: together 1.45 cores, but only the second is over the 0.9 limit."""
    w = verdict.window(_master_result(cpu=(30.0, 57.0)), STEADY)
    with pytest.raises(NotEvaluated) as inconclusive:
        verdict.require_conclusive(w, 0.9)
    reason = str(inconclusive.value)
    assert "the load generator's worker w2 (95%) of 2 used 95% of a core during the steady window" in reason, reason
    assert "limit 90% per process; gate.yml load.processes adds processes" in reason
    verdict.require_conclusive(verdict.window(_master_result(cpu=(30.0, 50.0)), STEADY), 0.9)   # 0.83: conclusive


def test_lines_acknowledged_per_process_come_from_each_worker_or_the_single_process() -> None:
    assert acknowledged_per_process(_master_result()) == {"aa": 200_000, "bb": 400_000}
    assert acknowledged_per_process({"process_tag": "cc", "totals": _counts(7000)}) == {"cc": 7000}


def test_lines_missing_counts_per_process_differences_the_total_hides() -> None:
    assert verdict.lines_missing(1000, 1000, None) == 0
    assert verdict.lines_missing(1000, 990, {"aa": {"acknowledged": 1000, "stored": 990}}) == 10
    assert verdict.lines_missing(2000, 2000, {"aa": {"acknowledged": 1000, "stored": 900},
                                              "bb": {"acknowledged": 1000, "stored": 1100}}) == 200
    assert verdict.lines_missing(2000, 1000, {"aa": {"acknowledged": 1000, "stored": 1000},
                                              "bb": {"acknowledged": 1000, "stored": None}}) == 1000


def test_gate_yml_drives_one_process_by_default_and_the_plan_carries_the_workers() -> None:
    policy = load_policy(ROOT / "gate.yml")
    profile = GateProfile.from_policy(policy)
    assert (profile.processes, profile.expect_workers) == (1, 0)
    plan = DriverPlan(host="https://127.0.0.1:8443", plan=profile.plan(), payload=profile.payload(), run_tag="t",
                      processes=2, expect_workers=1, workers_deadline_s=30)
    assert plan.distributed and not DriverPlan(host="h", plan=profile.plan(), payload=profile.payload(),
                                               run_tag="t").distributed


def test_plan_round_trips_with_its_workers(tmp_path) -> None:
    profile = GateProfile.from_policy(load_policy(ROOT / "gate.yml"))
    plan = DriverPlan(host="https://127.0.0.1:8443", plan=profile.plan(), payload=profile.payload(), run_tag="t",
                      processes=3, expect_workers=2, workers_deadline_s=45.0)
    plan.dump(tmp_path / "plan.json")
    assert DriverPlan.load(tmp_path / "plan.json") == plan


def test_the_capacity_overlay_appends_its_flags_to_lokis_own_command() -> None:
    spec = ServiceSpec(name="loki", image="grafana/loki:2.9.3", command=("-config.file=/etc/loki/loki.yml",))
    command = capacity.lifted(spec).command
    assert command is not None and command[0] == "-config.file=/etc/loki/loki.yml"
    assert command[1:] == capacity.LIFTED_FLAGS
    assert any(f.startswith("-distributor.ingestion-rate-limit-mb=") for f in capacity.LIFTED_FLAGS)
