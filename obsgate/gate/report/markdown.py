"""summary.md: the decision and its causes, readable in a CI job summary or a PR comment."""

from __future__ import annotations

import re

from obsgate.core.policy import format_number
from obsgate.core.results import CheckResult
from obsgate.core.text import one_line
from obsgate.gate.report.history import RunComparison
from obsgate.gate.report.views import (
    category_cells,
    cause,
    cause_line,
    delta_text,
    failing_lines,
    measurement_text,
    regression_text,
    verdict_line,
)
from obsgate.gate.scoring import GateScore

_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def md(text: str, limit: int = 300) -> str:
    """Text safe in a Markdown table cell or list item: one line, no pipes, no live HTML."""
    return _TAG_START.sub("&lt;", one_line(text, limit)).replace("|", "\\|")


def render_summary(gate: GateScore, comparison: RunComparison | None, target: str | None = None) -> str:
    """``target``: the URL of a deployment judged with --target (None: the gate's own stack)."""
    lines = [f"# obs-gate: {gate.verdict.value}", "", f"**{md(verdict_line(gate))}**", ""]
    if target is not None:
        lines += [f"Judged: the external target {md(target)} (checks needing container control: not evaluated)", ""]
    lines += ["## Decision matrix", "",
              "| Category | Weight | Score | Weighted |", "| --- | ---: | ---: | ---: |"]
    for c in gate.categories:
        weight, score, weighted = category_cells(c)
        lines.append(f"| {md(c.name)} | {weight} | {score} | {weighted} |")
    scored = sum(c.weight for c in gate.categories if not c.advisory)
    lines += [f"| **Total** | {format_number(scored)} | | **{gate.total:.1f}** |", ""]
    lines += ["## Verdict", "", f"**{gate.verdict.value}** because:", ""]
    lines += [f"- {md(reason)}" for reason in gate.reasons]
    lines.append("")
    lines += _failing_section(gate)
    lines += _causes_section(gate)
    if gate.soft_misses:
        lines += ["## Soft misses (half weight)", ""]
        for r in gate.soft_misses:
            shown = [measurement_text(m) for m in r.measurements if m.target is not None]
            lines.append(f"- `{md(r.nodeid)}`: {md('; '.join(shown) or cause(r))}")
        lines.append("")
    lines += _comparison_section(comparison)
    return "\n".join(lines)


def _failing_section(gate: GateScore) -> list[str]:
    """Failing checks; those failing on one shared answer of a service on one line naming it."""
    if not gate.failing:
        return []
    lines = [f"## Failing checks ({len(gate.failing)})", ""]
    lines += [f"- {md(line, limit=800)}" for line in failing_lines(gate, _check_name)]
    return lines + [""]


def _check_name(r: CheckResult) -> str:
    return f"`{r.nodeid}`{' **(blocker)**' if r.blocker else ''}"


def _causes_section(gate: GateScore) -> list[str]:
    """Not-evaluated checks, one line per cause (each check's own reason is in gate.json)."""
    if not gate.not_evaluated:
        return []
    lines = [f"## Not evaluated ({len(gate.not_evaluated)}), by cause", ""]
    lines += [f"- {md(cause_line(g), limit=500)}" for g in gate.causes]
    return lines + [""]


def _comparison_section(comparison: RunComparison | None) -> list[str]:
    lines = ["## Compared with the previous run", ""]
    if comparison is None:
        return lines + ["No previous run of this stack in history.jsonl.", ""]
    lines += [f"- Score: {md(delta_text(comparison))}"]
    if comparison.flips:
        lines += ["", "| Check | Before | After |", "| --- | --- | --- |"]
        lines += [f"| `{md(f.nodeid)}` | {md(f.before)} | {md(f.after)} |"
                  for f in comparison.flips]
    else:
        lines.append("- No check changed outcome.")
    if comparison.regressions:
        lines += ["", "Regressed by more than 10%:", ""]
        lines += [f"- `{md(r.nodeid)}`: {md(regression_text(r))}" for r in comparison.regressions]
    else:
        lines.append("- No measured value regressed by more than 10%.")
    return lines + [""]
