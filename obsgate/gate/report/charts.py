"""Inline SVG charts, so report.html needs nothing but itself to display."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from obsgate.core.policy import format_number
from obsgate.gate.report.views import Timeseries
from obsgate.gate.scoring import CategoryScore

PASS_COLOUR, COND_COLOUR, FAIL_COLOUR, ADVISORY_COLOUR = "#1f7a3a", "#a86500", "#b42318", "#64748b"
GRID, INK, MUTED = "#d9dee5", "#1c2430", "#5b6675"
LINE_COLOURS = ("#2563eb", "#7c3aed", "#0891b2", "#db2777")


def score_colour(score: float, pass_threshold: float, warn_threshold: float) -> str:
    if score >= pass_threshold:
        return PASS_COLOUR
    return COND_COLOUR if score >= warn_threshold else FAIL_COLOUR


def category_bars(categories: list[CategoryScore], total: float,
                  pass_threshold: float, warn_threshold: float) -> str:
    """One horizontal bar per category plus the total, with the thresholds marked."""
    label_w, bar_x, bar_w, row_h, top = 230, 242, 560, 30, 26
    rows = [(c.name + (" (advisory)" if c.advisory else ""), c.score,
             ADVISORY_COLOUR if c.advisory else
             score_colour(c.score, pass_threshold, warn_threshold), False)
            for c in categories]
    rows.append(("Total", total, score_colour(total, pass_threshold, warn_threshold), True))
    height = top + row_h * len(rows) + 6
    width = bar_x + bar_w + 70
    parts = [f"{_svg_open(width, height)}<title>Score per category</title>"]
    for i, (label, value, colour, bold) in enumerate(rows):
        y = top + i * row_h
        weight = ' font-weight="700"' if bold else ""
        filled = bar_w * max(0.0, min(value, 100.0)) / 100.0
        parts.append(
            f'<text x="{label_w}" y="{y + 17}" text-anchor="end" font-size="13" '
            f'fill="{INK}"{weight}>{escape(label)}</text>'
            f'<rect x="{bar_x}" y="{y + 5}" width="{bar_w}" height="16" rx="3" fill="#eef1f5"/>'
            f'<rect x="{bar_x}" y="{y + 5}" width="{filled:.1f}" height="16" rx="3" '
            f'fill="{colour}"/>'
            f'<text x="{bar_x + bar_w + 8}" y="{y + 17}" font-size="13" fill="{INK}"'
            f'{weight}>{value:.1f}%</text>'
        )
    for name, threshold in (("warn", warn_threshold), ("pass", pass_threshold)):
        x = bar_x + bar_w * threshold / 100.0
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 4}" stroke="{INK}" '
            'stroke-width="1" stroke-dasharray="3 3" opacity="0.55"/>'
            f'<text x="{x:.1f}" y="{top - 9}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{name} {escape(format_number(threshold))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Line:
    """One plotted figure; None values are gaps, bridged only where ``bridge`` (sparse by design)."""

    label: str
    points: tuple[tuple[float, float | None], ...]
    colour: str
    bridge: bool = False


@dataclass(frozen=True)
class Reference:
    """A horizontal budget or target line."""

    label: str
    value: float
    colour: str = FAIL_COLOUR


def line_chart(series: Timeseries, target: float | None = None) -> str:
    """A time series (e.g. throughput during a load run), with its target if it has one."""
    title = f"{series.name} ({series.unit})" if series.unit else series.name
    references = [Reference(f"target {format_number(target)}", target)] if target is not None else []
    return lines_chart(title, [Line(series.name, series.points, LINE_COLOURS[0])], references)


def lines_chart(title: str, lines: Sequence[Line], references: Sequence[Reference] = (),
                marks: Sequence[float] = (), marks_label: str = "") -> str:
    """Several figures over time with their budgets; ``marks`` are instants flagged under the axis."""
    width, height = 1000, 300
    left, right, top, bottom = 76, 24, 44, 50
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [t for line in lines for t, _ in line.points]
    ys = [v for line in lines for _, v in line.points if v is not None] + [r.value for r in references]
    x0, x1 = min(xs), max(xs)
    y_ticks = _ticks(min(0.0, min(ys, default=0.0)), max(ys, default=1.0))
    y0, y1 = y_ticks[0], y_ticks[-1]

    def px(t: float) -> float:
        return left + plot_w * (t - x0) / ((x1 - x0) or 1.0)

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - y0) / ((y1 - y0) or 1.0))

    parts = [(f"{_svg_open(width, height)}<title>{escape(title)}</title>"
              f'<text x="{left}" y="16" font-size="13" font-weight="600" fill="{INK}">'
              f"{escape(title)}</text>")]
    legend = [(line.label, line.colour, "") for line in lines]
    legend += [(r.label, r.colour, ' stroke-dasharray="6 4"') for r in references]
    if marks:
        legend.append((marks_label, FAIL_COLOUR, ""))
    x = float(left)
    for label, colour, dash in legend:
        parts.append(f'<line x1="{x:.1f}" y1="30" x2="{x + 18:.1f}" y2="30" stroke="{colour}" '
                     f'stroke-width="2.5"{dash}/><text x="{x + 23:.1f}" y="34" font-size="11" '
                     f'fill="{INK}">{escape(label)}</text>')
        x += 23 + 6.2 * len(label) + 18
    for v in y_ticks:
        y = py(v)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>'
                     f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{MUTED}">{escape(format_number(v))}</text>')
    for t in _ticks(x0, x1, lower_bound=x0):
        if x0 <= t <= x1:
            parts.append(f'<text x="{px(t):.1f}" y="{top + plot_h + 20}" text-anchor="middle" '
                         f'font-size="11" fill="{MUTED}">{escape(format_number(t))}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle" '
                 f'font-size="11" fill="{MUTED}">time (s)</text>'
                 f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
                 f'y2="{top + plot_h}" stroke="{INK}" stroke-width="1"/>')
    for t in marks:
        parts.append(f'<line x1="{px(t):.1f}" y1="{top + plot_h + 1}" x2="{px(t):.1f}" '
                     f'y2="{top + plot_h + 7}" stroke="{FAIL_COLOUR}" stroke-width="2"/>')
    labels, last_label_y = [], -math.inf
    for r in sorted(references, key=lambda r: -r.value):
        y = py(r.value)
        label_y = max(y - 5, last_label_y + 13)  # budgets close together: labels stacked, not overprinted
        last_label_y = label_y
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="{r.colour}" stroke-width="1.5" stroke-dasharray="6 4"/>')
        labels.append(f'<text x="{width - right}" y="{label_y:.1f}" text-anchor="end" font-size="11" '
                      f'fill="{r.colour}" stroke="#fff" stroke-width="3" paint-order="stroke">{escape(r.label)}</text>')
    for line in lines:
        for run in _runs(line):
            if len(run) == 1:
                t, v = run[0]
                parts.append(f'<circle cx="{px(t):.1f}" cy="{py(v):.1f}" r="2" fill="{line.colour}"/>')
            else:
                points = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in run)
                parts.append(f'<polyline points="{points}" fill="none" stroke="{line.colour}" '
                             'stroke-width="2" stroke-linejoin="round"/>')
    parts.extend(labels)  # over the figures, on a white halo, so a line crossing one leaves it readable
    parts.append("</svg>")
    return "".join(parts)


def _runs(line: Line) -> list[list[tuple[float, float]]]:
    """The stretches drawn as one polyline: split at gaps unless the line bridges them."""
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in line.points:
        if v is not None:
            runs[-1].append((t, v))
        elif not line.bridge and runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _svg_open(width: int, height: int) -> str:
    """Scales with the page (text included) up to its natural size."""
    return (f'<svg role="img" viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" '
            f'style="width:100%;max-width:{width}px;height:auto">')


def _ticks(low: float, high: float, count: int = 5, lower_bound: float | None = None
           ) -> list[float]:
    """Round tick values covering low..high (from lower_bound, when given, upward)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step if lower_bound is None else \
        math.ceil(lower_bound / step) * step
    ticks = []
    value = start
    while value < high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if lower_bound is None and ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks
