"""obsgate.repeat: tabulating N gate runs from their gate.json documents (recorded ones, trimmed).

fixtures/repeat holds three real runs of tests/integration/alerting: two before issue 12's
fixes (one of them the false alarm "timed out after 60s waiting for ObsGateTestAlert") and
one after, with the phase measurements.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from obsgate import repeat
from obsgate.repeat import RunRecord, render, spreads, tally

FIXTURES = Path(__file__).parent / "fixtures" / "repeat"
TRIP = "test_test_alert_reaches_critical_receiver"


def doc(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def record(index: int, name: str, wall_s: float = 120.0) -> RunRecord:
    return RunRecord.of_document(index, doc(name), wall_s, 0)


def test_a_run_record_keeps_outcomes_first_reason_lines_and_measurements() -> None:
    run = record(1, "old-failed")
    assert run.run_id == "26a9eddfc56d" and run.verdict == "FAIL"
    assert run.outcomes[TRIP] == "failed"
    assert run.reasons[TRIP].startswith("obsgate.wait.WaitTimeout: timed out after 60s waiting for ObsGateTestAlert")
    assert "test_loki_down_alert_reaches_receiver" not in run.reasons     # passed: no reason kept
    assert run.measurements["test_loki_down_alert_reaches_receiver: loki_down_firing_to_receiver_s"]["target"] == 30


def test_a_failure_in_any_run_is_not_qualified_but_not_evaluated_is() -> None:
    tallies = {t.check_id: t for t in tally([record(1, "old-passed"), record(2, "old-failed")])}
    assert tallies[TRIP].counts == {"passed": 1, "failed": 1} and not tallies[TRIP].qualified
    grafana = tallies["test_prometheus_scrapes_stack_target[grafana]"]
    assert grafana.counts == {"not_evaluated": 2} and grafana.qualified
    assert "grafana" in grafana.reasons[0]
    assert tallies["test_loki_down_alert_reaches_receiver"].qualified


def test_a_check_missing_from_some_runs_is_not_qualified() -> None:
    short = RunRecord(2, "r2", 10.0, 1, "NO REPORT")
    tallies = {t.check_id: t for t in tally([record(1, "new-passed"), short])}
    assert tallies[TRIP].counts == {"passed": 1, "missing": 1} and not tallies[TRIP].qualified


def test_spreads_give_min_max_and_the_worst_value_against_the_target() -> None:
    runs = [record(1, "new-passed"), record(2, "new-passed")]
    runs[1].measurements[f"{TRIP}: test_alert_true_to_receiver_s"] = {"value": 24.9, "unit": "s", "target": 30.0,
                                                                     "better": "lower"}
    spread = next(s for s in spreads(runs) if s.key == f"{TRIP}: test_alert_true_to_receiver_s")
    assert spread.values[1] == 24.9 and spread.worst == max(spread.values) and spread.target == 30.0
    phases = {s.key.split(": ")[1] for s in spreads(runs) if s.key.startswith(TRIP)}
    assert phases == {"test_alert_evaluation_s", "test_alert_dispatch_s", "test_alert_true_to_receiver_s"}


def test_render_shows_runs_wall_times_counts_reasons_and_the_verdict() -> None:
    text = render([record(1, "old-passed", 118.4), record(2, "old-failed", 114.2)], "pytest tests/integration/alerting")
    assert "obs-gate repeat: 2 runs" in text
    assert "118.4" in text and "wall time: min 114.2 s, median 116.3 s, max 118.4 s" in text
    line = next(row for row in text.splitlines() if row.startswith(TRIP))
    assert line.split()[1:] == ["1", "0", "1", "0", "0", "NO"]
    assert f"  {TRIP}: obsgate.wait.WaitTimeout: timed out after 60s" in text
    assert text.endswith(f"NOT qualified: 1 check(s) not passed in every run: {TRIP}")
    good = render([record(1, "new-passed"), record(2, "new-passed")], "x")
    assert good.endswith("qualified: every check passed or was not evaluated in all 2 runs")


def test_main_runs_the_gate_n_times_and_exits_on_stability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = iter(["new-passed", "old-failed"])
    seen: list[list[str]] = []

    def fake(index: int, gate_args: list[str], reports: Path, timeout_s: float) -> RunRecord:
        seen.append(list(gate_args))
        return record(index, next(runs))

    monkeypatch.setattr(repeat, "run_once", fake)
    args = argparse.Namespace(runs=2, cpu_load=0, reports_dir=tmp_path, run_timeout=60.0,
                              gate_args=["--", "tests/integration/alerting", "--pull", "never"])
    assert repeat.main(args) == 1
    assert seen == [["tests/integration/alerting", "--pull", "never"]] * 2
    [session] = tmp_path.iterdir()
    assert "NOT qualified" in (session / "repeat.txt").read_text()
    assert [r["verdict"] for r in json.loads((session / "repeat.json").read_text())["runs"]] == ["FAIL", "FAIL"]


def test_main_refuses_a_run_count_out_of_bounds(tmp_path: Path) -> None:
    args = argparse.Namespace(runs=0, cpu_load=0, reports_dir=tmp_path, run_timeout=60.0, gate_args=[])
    assert repeat.main(args) == 2


def test_passed_and_inconclusive_in_any_mix_qualifies() -> None:
    from collections import Counter

    from obsgate.repeat import Tally
    assert Tally("t", Counter({"passed": 7, "not_evaluated": 3}), []).qualified
    assert not Tally("t", Counter({"failed": 3}), []).qualified          # consistent, yet not a good stack's
