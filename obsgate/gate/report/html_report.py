"""report.html: one self-contained page (inline CSS and SVG, nothing loaded from anywhere).

Reasons and evidence are arbitrary text from the stack under test, so every value is
HTML-escaped; URLs in evidence stay text, never links.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from html import escape
from importlib import resources
from string import Template
from typing import Any

from obsgate.core.policy import Policy, format_number
from obsgate.core.results import CauseGroup, CheckResult, Outcome
from obsgate.gate.report.charts import (
    COND_COLOUR,
    FAIL_COLOUR,
    LINE_COLOURS,
    PASS_COLOUR,
    Line,
    Reference,
    category_bars,
    line_chart,
    lines_chart,
)
from obsgate.gate.report.history import RunComparison
from obsgate.gate.report.views import (
    OUTCOME_LABELS,
    SERIES_FIGURES,
    LoadSeries,
    category_cells,
    cause,
    checks_text,
    delta_text,
    hit_text,
    load_series_of,
    measurement_text,
    regression_text,
    timeseries_of,
)
from obsgate.gate.scoring import GateScore, Verdict, earned

TEMPLATE_FILE = "template.html"
EVIDENCE_LIMIT = 4000  # characters of evidence JSON shown per check
VERDICT_CLASS = {Verdict.PASS: "v-pass", Verdict.CONDITIONAL_PASS: "v-conditional",
                 Verdict.FAIL: "v-fail"}
SEVERITY = {Outcome.ERROR: 0, Outcome.FAILED: 1, Outcome.NOT_EVALUATED: 2,
            Outcome.SOFT_MISS: 3, Outcome.PASSED: 4}


def render_html(gate: GateScore, metadata: Mapping[str, Any],
                comparison: RunComparison | None) -> str:
    template = Template(resources.files(__package__).joinpath(TEMPLATE_FILE)
                        .read_text("utf-8"))
    content = "\n".join([
        _banner(gate),
        _matrix(gate),
        _failure_causes(gate),
        _causes(gate),
        _checks(gate),
        _charts(gate),
        _comparison(comparison),
        _run(metadata),
        "<footer>obs-gate report — self-contained; generated from gate.json data</footer>",
    ])
    title = f"obs-gate {gate.verdict.value} — {gate.total:.1f}%"
    return template.substitute(title=escape(title), content=content)


def _banner(gate: GateScore) -> str:
    reasons = "".join(f"<li>{escape(r)}</li>" for r in gate.reasons)
    policy = gate.policy
    thresholds = (f"total {gate.total:.1f}% — pass at {format_number(policy.pass_threshold)}%, "
                  f"conditional pass at {format_number(policy.warn_threshold)}%")
    return (f'<div class="banner {VERDICT_CLASS[gate.verdict]}">'
            f"<h1>obs-gate: {escape(gate.verdict.value)}</h1>"
            f'<div class="total">{escape(thresholds)}</div>'
            f"<ul>{reasons}</ul></div>")


def _matrix(gate: GateScore) -> str:
    rows = []
    for c in gate.categories:
        weight, score, weighted = category_cells(c)
        css = ' class="advisory"' if c.advisory else ""
        rows.append(f"<tr{css}><td>{escape(c.name)}</td><td class=\"num\">{weight}</td>"
                    f'<td class="num">{score}</td><td class="num">{weighted}</td>'
                    f'<td class="num">{c.evaluated}/{c.checks}</td></tr>')
    scored = sum(c.weight for c in gate.categories if not c.advisory)
    rows.append(f'<tr class="total"><td>Total</td><td class="num">{format_number(scored)}</td>'
                f'<td></td><td class="num">{gate.total:.1f}</td><td></td></tr>')
    bars = category_bars(gate.categories, gate.total, gate.policy.pass_threshold,
                         gate.policy.warn_threshold)
    return ("<section><h2>Decision matrix</h2><table><thead><tr><th>Category</th>"
            '<th class="num">Weight</th><th class="num">Score</th><th class="num">Weighted</th>'
            '<th class="num">Evaluated</th></tr></thead><tbody>'
            + "".join(rows) + f'</tbody></table><div class="chart">{bars}</div></section>')


def _causes(gate: GateScore) -> str:
    """Not-evaluated checks by cause: one row each, its checks and raw error folded away."""
    if not gate.not_evaluated:
        return ""
    return (f"<section><h2>Not evaluated ({len(gate.not_evaluated)}), by cause</h2>"
            + _cause_table(gate.causes, "Fix") + "</section>")


def _failure_causes(gate: GateScore) -> str:
    """Service answers several failing checks failed on: the answer once, its checks folded away."""
    if not gate.failure_causes:
        return ""
    shared = sum(g.count for g in gate.failure_causes)
    return (f"<section><h2>Failing on one answer ({shared} of {len(gate.failing)} failing)</h2>"
            + _cause_table(gate.failure_causes, "Hint") + "</section>")


def _cause_table(groups: list[CauseGroup], last: str) -> str:
    rows = []
    for g in groups:
        checks = "".join(f"<li>{escape(r.nodeid)}</li>" for r in g.results)
        details = f"<details><summary>{escape(checks_text(g.count))}</summary><ul>{checks}</ul></details>"
        if g.cause.detail:
            details += (f"<details><summary>raw error</summary><pre>{escape(g.cause.detail)}</pre>"
                        "</details>")
        rows.append(f'<tr><td class="num">{g.count}</td><td>{escape(g.cause.text)}{details}</td>'
                    f"<td>{escape(hit_text(g))}</td><td>{escape(g.cause.hint)}</td></tr>")
    return ('<table><thead><tr><th class="num">Checks</th><th>Cause</th><th>Hit</th>'
            f"<th>{last}</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _checks(gate: GateScore) -> str:
    ordered = sorted(gate.results, key=lambda r: SEVERITY[r.outcome])
    rows = "".join(_check_row(r) for r in ordered)
    return ("<section><h2>Checks</h2><table><thead><tr><th>Outcome</th><th>Check</th>"
            '<th>Category</th><th class="num">Weight</th><th class="num">Earned</th>'
            "<th>Reason and measurements</th></tr></thead><tbody>"
            f"{rows}</tbody></table></section>")


def _check_row(r: CheckResult) -> str:
    blocker = ' <span class="badge blocker">blocker</span>' if r.blocker else ""
    lines = [measurement_text(m) for m in r.measurements]
    measurements = "".join(
        f'<li class="j-{m.judgement.value if m.judgement else "none"}">{escape(line)}</li>'
        for m, line in zip(r.measurements, lines, strict=True))
    # A soft miss's reason is usually its measurements' own explanation: say it once.
    repeated = bool(lines) and all(p in lines for p in r.reason.strip().split("; "))
    shown = (r.outcome is not Outcome.PASSED or r.reason) and not repeated
    reason = escape(cause(r)) if shown else ""
    details = ""
    if "\n" in r.reason.strip():
        details += ("<details><summary>full reason</summary>"
                    f"<pre>{escape(r.reason)}</pre></details>")
    if r.evidence:
        text = json.dumps(_shown_evidence(r.evidence), indent=2, sort_keys=True, default=str)
        if len(text) > EVIDENCE_LIMIT:
            text = text[:EVIDENCE_LIMIT] + f"\n… ({len(text) - EVIDENCE_LIMIT} more characters)"
        details += f"<details><summary>evidence</summary><pre>{escape(text)}</pre></details>"
    return (f'<tr><td><span class="badge {r.outcome.value}">'
            f"{OUTCOME_LABELS[r.outcome]}</span>{blocker}</td>"
            f'<td class="check"><strong>{escape(r.check_id)}</strong>'
            f'<div class="nodeid">{escape(r.nodeid)}</div></td>'
            f"<td>{escape(r.category)}</td>"
            f'<td class="num">{escape(format_number(r.weight))}</td>'
            f'<td class="num">{escape(format_number(earned(r)))}</td>'
            f'<td class="reason">{reason}'
            + (f'<ul class="measurements">{measurements}</ul>' if measurements else "")
            + f"{details}</td></tr>")


def _shown_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    """A load series is charted; shown as arrays it would fill the cut and hide the rest."""
    load = load_series_of(evidence)
    if load is None:
        return evidence
    figures = ", ".join(("t_s", *SERIES_FIGURES))
    return {**evidence, "series": f"{load.summary()} ({figures} per second: charted under Load over time, "
                                  "whole in gate.json)"}


def _charts(gate: GateScore) -> str:
    charts = []
    for r in gate.results:
        load = load_series_of(r.evidence)
        if load is not None:
            charts.append(_load_charts(r, load, gate.policy))
            continue
        series = timeseries_of(r.evidence)
        if series is None:
            continue
        target = next((m.target for m in r.measurements
                       if m.target is not None and m.unit == series.unit), None)
        charts.append(f'<p class="muted small">{escape(r.nodeid)}</p>'
                      f'<div class="chart">{line_chart(series, target)}</div>')
    if not charts:
        return ""
    return "<section><h2>Load over time</h2>" + "".join(charts) + "</section>"


def _load_charts(r: CheckResult, load: LoadSeries, policy: Policy) -> str:
    """A load run's throughput and latency, per second, against the policy's target and budgets."""
    def budget(key: str, label: str, colour: str) -> list[Reference]:
        target = policy.targets.get(key)
        if target is None:
            return []
        return [Reference(f"{label} {format_number(target.value)} {target.unit}".rstrip(), target.value, colour)]

    throughput_refs = budget("ingest_lines_per_s", "target", FAIL_COLOUR)
    if load.knee_lines_per_s is not None:
        throughput_refs.append(Reference(f"knee {format_number(load.knee_lines_per_s)} lines/s",
                                         load.knee_lines_per_s, PASS_COLOUR))
    failed = [t for t, n in load.points("failed_pushes") if n]
    throughput = lines_chart(
        "Throughput: lines acknowledged per second (lines/s)",
        [Line("lines/s", load.points("lines_per_s"), LINE_COLOURS[0])], throughput_refs,
        marks=failed, marks_label="a second with failed pushes")
    latency = lines_chart(
        "Latency per second (s)",
        [Line("push p50", load.points("push_p50_s"), LINE_COLOURS[2]),
         Line("push p99", load.points("push_p99_s"), LINE_COLOURS[1]),
         Line("query (median)", load.points("query_s"), LINE_COLOURS[3], bridge=True)],
        budget("push_p99_s", "push p99 budget", FAIL_COLOUR) + budget("query_latency_s", "query budget", COND_COLOUR))
    return (f"<h3>{escape(r.check_id)}</h3>"
            f'<p class="muted small">{escape(r.nodeid)} — {escape(load.summary())}</p>'
            f'<div class="chart">{throughput}</div><div class="chart">{latency}</div>')


def _comparison(comparison: RunComparison | None) -> str:
    if comparison is None:
        return ("<section><h2>Compared with the previous run</h2>"
                '<p class="muted">No previous run of this stack in history.jsonl.</p></section>')
    parts = [f"<p>Score: {escape(delta_text(comparison))}</p>"]
    if comparison.flips:
        rows = "".join(f"<tr><td>{escape(f.nodeid)}</td><td>{escape(f.before)}</td>"
                       f"<td>{escape(f.after)}</td></tr>" for f in comparison.flips)
        parts.append("<h3>Outcome changed</h3><table><thead><tr><th>Check</th><th>Before</th>"
                     f"<th>After</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        parts.append('<p class="muted">No check changed outcome.</p>')
    if comparison.regressions:
        items = "".join(f"<li><strong>{escape(r.nodeid)}</strong> — "
                        f"{escape(regression_text(r))}</li>" for r in comparison.regressions)
        parts.append(f"<h3>Regressed by more than 10%</h3><ul>{items}</ul>")
    else:
        parts.append('<p class="muted">No measured value regressed by more than 10%.</p>')
    return "<section><h2>Compared with the previous run</h2>" + "".join(parts) + "</section>"


def _run(metadata: Mapping[str, Any]) -> str:
    scalars = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(_scalar(v))}</dd>"
                      for k, v in metadata.items() if not isinstance(v, (dict, list)))
    parts = [f'<dl class="meta">{scalars}</dl>']
    images = metadata.get("images")
    if isinstance(images, dict) and images:
        rows = "".join(_image_row(str(service), info) for service, info in images.items())
        parts.append("<h3>Images</h3><table><thead><tr><th>Service</th><th>Reference</th>"
                     "<th>Digest</th><th>Override</th><th>Available</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table>")
    for key, value in metadata.items():
        if isinstance(value, (dict, list)) and key != "images" and value:
            text = json.dumps(value, indent=2, sort_keys=True, default=str)
            parts.append(f"<h3>{escape(str(key))}</h3><pre>{escape(text)}</pre>")
    return "<section><h2>Run</h2>" + "".join(parts) + "</section>"


def _image_row(service: str, info: Any) -> str:
    info = info if isinstance(info, dict) else {}
    available = "yes" if info.get("available") else f"no — {info.get('reason') or 'unknown'}"
    return (f"<tr><td>{escape(service)}</td><td><code>{escape(_scalar(info.get('ref')))}"
            f"</code></td><td><code>{escape(_scalar(info.get('digest')))}</code></td>"
            f"<td>{'yes' if info.get('override') else 'no'}</td>"
            f"<td>{escape(available)}</td></tr>")


def _scalar(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)
