"""The terminal summary: the matrix, what went wrong, and the verdict as the last line."""

from __future__ import annotations

from obsgate.core.policy import format_number
from obsgate.gate.report.history import RunComparison
from obsgate.gate.report.views import (
    category_cells,
    cause_line,
    delta_text,
    failing_lines,
    regression_text,
    verdict_line,
)
from obsgate.gate.scoring import GateScore

HEADER = ("Category", "Weight", "Score", "Weighted")


def console_summary(gate: GateScore, comparison: RunComparison | None) -> str:
    rows = [(c.name, *category_cells(c)) for c in gate.categories]
    scored = sum(c.weight for c in gate.categories if not c.advisory)
    total = ("Total", format_number(scored), "", f"{gate.total:.1f}")
    width = max(len(r[0]) for r in [HEADER, total, *rows])
    widths = (width, 8, 7, 9)

    def row(cells: tuple[str, ...]) -> str:
        name, *numbers = cells
        return "  ".join([name.ljust(widths[0]),
                          *(n.rjust(w) for n, w in zip(numbers, widths[1:], strict=True))]).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [row(HEADER), rule, *(row(r) for r in rows), rule, row(total)]
    if gate.not_evaluated:
        causes = gate.causes
        lines += ["", f"Not evaluated ({len(gate.not_evaluated)}), by cause ({len(causes)}):"]
        lines += [f"  - {cause_line(g)}" for g in causes]
    if gate.failing:
        lines += ["", f"Failing ({len(gate.failing)}):"]
        lines += [f"  - {line}" for line in failing_lines(gate, lambda r: r.nodeid)]
    if comparison is not None:
        lines += ["", f"Since the previous run: {delta_text(comparison)}"]
        lines += [f"  - flipped: {f.nodeid} {f.before} -> {f.after}" for f in comparison.flips]
        lines += [f"  - regressed: {r.nodeid} {regression_text(r)}"
                  for r in comparison.regressions]
    lines += ["", f"obs-gate verdict: {verdict_line(gate)}"]
    return "\n".join(lines)
