"""history.jsonl and the comparison with the previous run of the same stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from obsgate.core.policy import Category, Policy
from obsgate.core.results import CheckResult, Measurement, Outcome
from obsgate.gate.report import Flip, Regression, RunComparison, new_run_dir, write_run_reports
from obsgate.gate.report.history import compare
from obsgate.gate.scoring import score

POLICY = Policy(Path("gate.yml"), 80, 60, {"Performance": Category("Performance", 100, False, "")},
                (), {})
STARTED = datetime(2024, 5, 17, 9, 0, tzinfo=UTC)


def result(check_id: str, outcome: Outcome,
           measurements: dict[str, tuple[float, str | None]]) -> CheckResult:
    """measurements: name -> (value, better)."""
    return CheckResult(check_id, f"tests/load/test_x.py::{check_id}", "Performance", 1, outcome,
                       measurements=[Measurement(n, v, "u", better=b)
                                     for n, (v, b) in measurements.items()])


def run(root: Path, n: int, results: list[CheckResult], stack_id: str = "stack-a",
        secrets: tuple[str, ...] = ()) -> RunComparison | None:
    started = STARTED + timedelta(hours=n)
    meta = {"run_id": f"run{n:05d}-0000", "mode": "gate", "started": started.isoformat(),
            "finished": (started + timedelta(minutes=5)).isoformat(), "stack_id": stack_id}
    run_dir = new_run_dir(root, meta["run_id"], started)
    return write_run_reports(root, run_dir, score(results, POLICY), meta, list(secrets))


def history(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "history.jsonl").read_text().splitlines()]


def test_first_run_has_nothing_to_compare(tmp_path: Path) -> None:
    assert run(tmp_path, 1, [result("test_a", Outcome.PASSED, {})]) is None
    [entry] = history(tmp_path)
    assert entry == {
        "run_id": "run00001-0000", "time": "2024-05-17T10:05:00+00:00", "stack_id": "stack-a",
        "total": 100.0, "verdict": "PASS",
        "checks": {"tests/load/test_x.py::test_a": "passed"}, "measurements": {}}


def test_history_records_measurements_with_direction(tmp_path: Path) -> None:
    run(tmp_path, 1, [result("test_a", Outcome.SOFT_MISS, {"rate": (8200, "higher")})])
    [entry] = history(tmp_path)
    assert entry["measurements"] == {
        "tests/load/test_x.py::test_a": {"rate": {"value": 8200, "unit": "u", "better": "higher", "target": None}}}
    assert entry["total"] == 50.0 and entry["verdict"] == "FAIL"


def test_delta_flips_and_regressions(tmp_path: Path) -> None:
    run(tmp_path, 1, [
        result("test_a", Outcome.PASSED, {"rate": (10000, "higher"), "p95": (2.0, "lower")}),
        result("test_b", Outcome.PASSED, {"errors": (0.0, "lower"), "info": (5, None)}),
        result("test_c", Outcome.FAILED, {"rate": (100, "higher")}),
    ])
    comparison = run(tmp_path, 2, [
        result("test_a", Outcome.PASSED, {"rate": (8900, "higher"),   # 11% worse
                                          "p95": (2.3, "lower")}),    # 15% worse
        result("test_b", Outcome.FAILED, {"errors": (0.5, "lower"),   # was 0
                                          "info": (1, None)}),       # no direction: ignored
        result("test_c", Outcome.PASSED, {"rate": (1000, "higher")}),  # improved
        result("test_new", Outcome.FAILED, {"rate": (1, "higher")}),  # nothing to compare to
    ])
    assert comparison is not None
    assert comparison.previous_run_id == "run00001-0000"
    assert comparison.previous_total == pytest.approx(200 / 3)
    assert comparison.score_delta == pytest.approx(50 - 200 / 3)
    assert comparison.flips == (
        Flip("tests/load/test_x.py::test_b", "passed", "failed"),
        Flip("tests/load/test_x.py::test_c", "failed", "passed"),
    )
    a, b = "tests/load/test_x.py::test_a", "tests/load/test_x.py::test_b"
    assert [(r.nodeid, r.name) for r in comparison.regressions] == [
        (a, "rate"), (a, "p95"), (b, "errors")]
    rate, p95, errors = comparison.regressions
    assert rate.change_pct == pytest.approx(11) and rate.better == "higher"
    assert p95.change_pct == pytest.approx(15) and p95.better == "lower"
    assert errors.change_pct is None and (errors.before, errors.after) == (0, 0.5)


@pytest.mark.parametrize(("better", "before", "after", "regressed"), [
    ("higher", 100, 89.9, True),
    ("higher", 100, 90, False),      # exactly 10% is not "more than 10%"
    ("higher", 100, 150, False),
    ("lower", 1.0, 1.11, True),
    ("lower", 1.0, 1.1, False),
    ("lower", 1.0, 0.5, False),
    ("lower", 0, 0, False),
])
def test_regression_threshold(better: str, before: float, after: float, regressed: bool) -> None:
    def entry(value: float) -> dict[str, Any]:
        return {"run_id": "r", "time": "t", "total": 90, "checks": {},
                "measurements": {"n": {"m": {"value": value, "unit": "s", "better": better}}}}

    comparison = compare(entry(before), entry(after))
    assert bool(comparison.regressions) is regressed
    if regressed:
        assert comparison.regressions[0] == Regression(
            "n", "m", "s", better, before, after, comparison.regressions[0].change_pct)


@pytest.mark.parametrize(("before", "after", "target", "regressed"), [
    (0.006, 0.013, 5.0, False),     # twice as slow, yet 7 ms against a 5 s budget: noise
    (0.006, 0.13, 5.0, True),       # 124 ms: more than 1% of the budget
    (660.0, 792.0, 4096.0, True),   # 20% more memory is 3% of the budget: a trend worth flagging
])
def test_regression_ignores_moves_below_one_percent_of_the_target(before: float, after: float, target: float,
                                                                 regressed: bool) -> None:
    def entry(value: float) -> dict[str, Any]:
        return {"run_id": "r", "time": "t", "total": 90, "checks": {},
                "measurements": {"n": {"m": {"value": value, "unit": "s", "better": "lower", "target": target}}}}

    assert bool(compare(entry(before), entry(after)).regressions) is regressed


def test_only_the_same_stack_is_compared(tmp_path: Path) -> None:
    run(tmp_path, 1, [result("test_a", Outcome.PASSED, {"rate": (100, "higher")})], "stack-a")
    other = run(tmp_path, 2, [result("test_a", Outcome.FAILED, {"rate": (1, "higher")})],
                "stack-b")
    assert other is None  # first run of stack-b
    again = run(tmp_path, 3, [result("test_a", Outcome.PASSED, {"rate": (99, "higher")})],
                "stack-a")
    assert again is not None
    assert again.previous_run_id == "run00001-0000"  # not stack-b's run in between
    assert again.flips == () and again.regressions == () and again.score_delta == 0
    assert [e["stack_id"] for e in history(tmp_path)] == ["stack-a", "stack-b", "stack-a"]


def test_comparison_is_in_every_report(tmp_path: Path) -> None:
    run(tmp_path, 1, [result("test_a", Outcome.PASSED, {"rate": (100, "higher")})])
    run(tmp_path, 2, [result("test_a", Outcome.FAILED, {"rate": (50, "higher")})])
    latest = tmp_path / "latest"
    doc = json.loads((latest / "gate.json").read_text())
    assert doc["comparison"]["score_delta"] == -100
    assert doc["comparison"]["flips"] == [
        {"nodeid": "tests/load/test_x.py::test_a", "before": "passed", "after": "failed"}]
    summary = (latest / "summary.md").read_text()
    assert "-100.0 points vs run run00001" in summary
    assert "| `tests/load/test_x.py::test_a` | passed | failed |" in summary
    assert "rate: 100 u → 50 u (50.0% worse, higher is better)" in summary
    html = (latest / "report.html").read_text()
    assert "Outcome changed" in html and "Regressed by more than 10%" in html


def test_unreadable_history_lines_are_skipped(tmp_path: Path) -> None:
    run(tmp_path, 1, [result("test_a", Outcome.PASSED, {})])
    with (tmp_path / "history.jsonl").open("a") as out:
        out.write("{truncated\n")
    comparison = run(tmp_path, 2, [result("test_a", Outcome.PASSED, {})])
    assert comparison is not None and comparison.previous_run_id == "run00001-0000"
