"""history.jsonl: one line per run, and the comparison with the previous run of a stack.

Only runs of the same stack_id are compared: another stack's numbers say nothing
about this one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgate.gate.scoring import GateScore

HISTORY_FILE = "history.jsonl"
REGRESSION_FRACTION = 0.10  # a measured value more than 10% worse is a regression ...
NOISE_OF_TARGET = 0.01      # ... unless it moved by less than 1% of its target (6 ms -> 13 ms against 5 s)


@dataclass(frozen=True)
class Flip:
    """A check whose outcome changed since the previous run."""

    nodeid: str
    before: str
    after: str


@dataclass(frozen=True)
class Regression:
    """A measured value that got worse by more than REGRESSION_FRACTION.

    change_pct is how much worse, in percent; None when the previous value was 0.
    """

    nodeid: str
    name: str
    unit: str
    better: str
    before: float
    after: float
    change_pct: float | None


@dataclass(frozen=True)
class RunComparison:
    """This run against the previous run of the same stack."""

    previous_run_id: str
    previous_time: str
    previous_total: float
    previous_verdict: str
    score_delta: float
    flips: tuple[Flip, ...]
    regressions: tuple[Regression, ...]


def history_entry(gate: GateScore, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The line recorded for this run: outcomes and measured values, nothing else."""
    measurements: dict[str, dict[str, Any]] = {}
    for r in gate.results:
        for m in r.measurements:
            value = m.value if math.isfinite(m.value) else None
            measurements.setdefault(r.nodeid, {})[m.name] = {
                "value": value, "unit": m.unit, "better": m.better, "target": m.target}
    return {
        "run_id": metadata["run_id"],
        "time": metadata["finished"],
        "stack_id": metadata["stack_id"],
        "total": gate.total,
        "verdict": gate.verdict.value,
        "checks": {r.nodeid: r.outcome.value for r in gate.results},
        "measurements": measurements,
    }


def previous_entry(history: Path, stack_id: str) -> dict[str, Any] | None:
    """The last recorded run of `stack_id`; unreadable lines are skipped, not fatal."""
    if not history.exists():
        return None
    found = None
    for line in history.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("stack_id") == stack_id:
            found = entry
    return found


def append_entry(history: Path, line: str) -> None:
    with history.open("a", encoding="utf-8") as out:
        out.write(line.rstrip("\n") + "\n")


def compare(previous: Mapping[str, Any], current: Mapping[str, Any]) -> RunComparison:
    """Score delta, outcome flips and >10% regressions between two history entries."""
    before_checks, after_checks = previous.get("checks", {}), current["checks"]
    flips = tuple(
        Flip(nodeid, before_checks[nodeid], outcome)
        for nodeid, outcome in after_checks.items()
        if nodeid in before_checks and before_checks[nodeid] != outcome
    )
    regressions: list[Regression] = []
    before_values = previous.get("measurements", {})
    for nodeid, values in current["measurements"].items():
        for name, now in values.items():
            then = before_values.get(nodeid, {}).get(name)
            if then is not None:
                regression = _regression(nodeid, name, then, now)
                if regression is not None:
                    regressions.append(regression)
    return RunComparison(
        previous_run_id=str(previous.get("run_id", "")),
        previous_time=str(previous.get("time", "")),
        previous_total=float(previous.get("total", 0.0)),
        previous_verdict=str(previous.get("verdict", "")),
        score_delta=round(float(current["total"]) - float(previous.get("total", 0.0)), 9),
        flips=flips,
        regressions=tuple(regressions),
    )


def _regression(nodeid: str, name: str, then: Mapping[str, Any],
                now: Mapping[str, Any]) -> Regression | None:
    better, before, after = now.get("better"), then.get("value"), now.get("value")
    if better not in ("higher", "lower") or before is None or after is None:
        return None
    worse_by = before - after if better == "higher" else after - before
    if worse_by <= 0:
        return None
    target = now.get("target")
    if target and worse_by <= NOISE_OF_TARGET * abs(target):
        return None
    if before == 0:
        change_pct = None
    else:
        change_pct = round(100.0 * worse_by / abs(before), 9)  # 10% is 10, not 10.000000000000009
        if change_pct <= 100.0 * REGRESSION_FRACTION:
            return None
    return Regression(nodeid, name, str(now.get("unit", "")), better, before, after, change_pct)
