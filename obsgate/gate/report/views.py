"""Wording shared by every report, so console, Markdown and HTML say the same thing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard, cast

from obsgate.core.policy import Target, format_number
from obsgate.core.results import CauseGroup, CheckResult, Measurement, Outcome
from obsgate.core.text import one_line
from obsgate.gate.report.history import Regression, RunComparison
from obsgate.gate.scoring import CategoryScore, GateScore, Verdict

CHECKS_NAMED = 3  # a cause hitting no particular service names up to this many checks

OUTCOME_LABELS = {
    Outcome.PASSED: "passed",
    Outcome.SOFT_MISS: "soft miss",
    Outcome.FAILED: "failed",
    Outcome.ERROR: "error",
    Outcome.NOT_EVALUATED: "not evaluated",
}


def measurement_text(m: Measurement) -> str:
    """`name: value vs target` when judged against a target, else just the value."""
    if m.target is not None and math.isfinite(m.value) and m.better in ("higher", "lower"):
        better = cast(Literal["higher", "lower"], m.better)
        target = Target(m.target_key or m.name, m.target, m.warn, better, m.unit, "")
        return f"{m.name}: {target.explain(m.value)}"
    return f"{m.name}: {format_number(m.value)} {m.unit}".rstrip()


def cause(result: CheckResult) -> str:
    """A one-line cause: the reason, else the first judged measurement, else the outcome."""
    if result.reason.strip():
        return one_line(result.reason)
    judged = [m for m in result.measurements if m.target is not None]
    if judged:
        return measurement_text(judged[0])
    return OUTCOME_LABELS[result.outcome]


def checks_text(n: int) -> str:
    return f"{n} check" + ("" if n == 1 else "s")


def hit_text(group: CauseGroup) -> str:
    """What a cause hit: its services, else the first few check ids."""
    if group.cause.services:
        return ", ".join(group.cause.services)
    ids = [r.check_id for r in group.results]
    more = len(ids) - CHECKS_NAMED
    return ", ".join(ids[:CHECKS_NAMED]) + (f" and {more} more" if more > 0 else "")


def cause_line(group: CauseGroup) -> str:
    """One line per cause: `31 checks (loki, grafana): grafana/loki:2.9.3 not present … — pass --image loki=REF`."""
    hint = f" — {group.cause.hint}" if group.cause.hint else ""
    return f"{checks_text(group.count)} ({hit_text(group)}): {group.cause.text}{hint}"


def failing_lines(gate: GateScore, name: Callable[[CheckResult], str]) -> list[str]:
    """The failing checks: those failing on one shared service answer as one line naming it (and them),
    then each other one as ``name(result)`` with its cause."""
    lines: list[str] = []
    grouped: set[int] = set()
    for g in gate.failure_causes:
        lines.append(f"{cause_line(g)} — {', '.join(r.check_id for r in g.results)}")
        grouped.update(id(r) for r in g.results)
    return lines + [f"{name(r)} [{OUTCOME_LABELS[r.outcome]}]: {cause(r)}"
                    for r in gate.failing if id(r) not in grouped]


def category_cells(c: CategoryScore) -> tuple[str, str, str]:
    """Weight, score and weighted columns of the decision matrix."""
    if c.advisory:
        return "advisory", f"{c.score:.1f}", "—"
    return format_number(c.weight), f"{c.score:.1f}", f"{c.weighted:.1f}"


def verdict_line(gate: GateScore) -> str:
    """The last word of every report: verdict, total, thresholds and the decisive reason."""
    policy = gate.policy
    line = (f"{gate.verdict.value} — total {gate.total:.1f}% "
            f"(pass {format_number(policy.pass_threshold)}%, "
            f"warn {format_number(policy.warn_threshold)}%)")
    if gate.verdict is not Verdict.PASS and gate.reasons:
        line += f" — {gate.reasons[0]}"
    return line


def delta_text(comparison: RunComparison) -> str:
    return (f"{comparison.score_delta:+.1f} points vs run {comparison.previous_run_id[:8]} "
            f"({comparison.previous_time}, {comparison.previous_total:.1f}% "
            f"{comparison.previous_verdict})")


def regression_text(r: Regression) -> str:
    worse = "n/a (was 0)" if r.change_pct is None else f"{r.change_pct:.1f}% worse"
    unit = f" {r.unit}" if r.unit else ""
    return (f"{r.name}: {format_number(r.before)}{unit} → {format_number(r.after)}{unit} "
            f"({worse}, {r.better} is better)")


@dataclass(frozen=True)
class Timeseries:
    """A check's evidence["timeseries"], checked for shape so a bad one is skipped."""

    name: str
    unit: str
    points: tuple[tuple[float, float], ...]


def timeseries_of(evidence: dict[str, Any]) -> Timeseries | None:
    raw = evidence.get("timeseries")
    if not isinstance(raw, dict):
        return None
    name, unit, points = raw.get("name"), raw.get("unit"), raw.get("points")
    if not isinstance(name, str) or not isinstance(unit, str) or not isinstance(points, list):
        return None
    clean = []
    for p in points:
        if (isinstance(p, (list, tuple)) and len(p) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                        and math.isfinite(v) for v in p)):
            clean.append((float(p[0]), float(p[1])))
    if len(clean) < 2:
        return None
    return Timeseries(name, unit, tuple(sorted(clean)))


SERIES_FIGURES = ("lines_per_s", "failed_pushes", "push_p50_s", "push_p99_s", "query_s")


@dataclass(frozen=True)
class LoadSeries:
    """A load check's evidence["series"] (one value per second of the run, None where nothing was
    measured) and, for a saturation run, its knee; checked for shape so a bad one is skipped."""

    t_s: tuple[float, ...]
    figures: dict[str, tuple[float | None, ...]]
    knee_lines_per_s: float | None

    def points(self, figure: str) -> tuple[tuple[float, float | None], ...]:
        return tuple(zip(self.t_s, self.figures[figure], strict=True))

    def summary(self) -> str:
        """What the charts show, in one line, for a caption and in place of the arrays."""
        lines = [v for v in self.figures["lines_per_s"] if v is not None]
        p99 = [v for v in self.figures["push_p99_s"] if v is not None]
        failed = sum(v for v in self.figures["failed_pushes"] if v is not None)
        text = (f"{len(self.t_s)} s: lines/s peak {format_number(max(lines, default=0))}, "
                f"failed pushes {format_number(failed)}, push p99 peak {format_number(max(p99, default=0))} s")
        if self.knee_lines_per_s is not None:
            text += f", knee {format_number(self.knee_lines_per_s)} lines/s"
        return text


def load_series_of(evidence: dict[str, Any]) -> LoadSeries | None:
    raw = evidence.get("series")
    if not isinstance(raw, dict) or not _numbers(raw.get("t_s"), nullable=False):
        return None
    t_s = tuple(float(t) for t in raw["t_s"])
    figures: dict[str, tuple[float | None, ...]] = {}
    for name in SERIES_FIGURES:
        values = raw.get(name)
        if not _numbers(values, nullable=True) or len(values) != len(t_s):
            return None
        figures[name] = tuple(None if v is None else float(v) for v in values)
    if len(t_s) < 2:
        return None
    knee = evidence.get("knee")
    sustained = knee.get("sustained") if isinstance(knee, dict) else None
    accepted = [sustained.get("accepted_lines_per_s")] if isinstance(sustained, dict) else []
    return LoadSeries(t_s, figures, float(accepted[0]) if accepted and _numbers(accepted, nullable=False) else None)


def _numbers(values: object, nullable: bool) -> TypeGuard[list[Any]]:
    """A list of finite numbers (bools are not numbers here), None allowed where ``nullable``."""
    return isinstance(values, list) and all(
        (v is None and nullable)
        or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
        for v in values)
