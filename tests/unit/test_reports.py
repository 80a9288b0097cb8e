"""gate.json / summary.md / report.html / console summary, the run directory and `latest`."""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from obsgate.core.policy import Policy, load_policy
from obsgate.core.results import CheckResult, Judgement, Measurement, Outcome
from obsgate.gate.report import console_summary, new_run_dir, write_run_reports
from obsgate.gate.report.document import build_gate_document, validate_gate_document
from obsgate.gate.report.html_report import EVIDENCE_LIMIT
from obsgate.gate.scoring import GateScore, Verdict, score
from obsgate.load.regressions import regressions

FIXTURE = Path(__file__).parent / "fixtures" / "policy.yml"
STARTED = datetime(2024, 5, 17, 9, 30, 5, tzinfo=UTC)
MARKUP = '<script>alert("x")</script><img src="https://evil.example/p.png">'


def metadata(run_id: str = "3f2a9c1e-0000-4000-8000-000000000001",
             stack_id: str = "obs-stack:/srv/stack/docker-compose.yml") -> dict[str, Any]:
    """Shaped like the plugin's metadata."""
    return {
        "run_id": run_id, "mode": "gate",
        "started": STARTED.isoformat(), "finished": (STARTED + timedelta(minutes=7)).isoformat(),
        "duration_s": 420.5, "host": "ci-runner-3", "python": "3.11.7",
        "versions": {"pytest": "9.0.3", "testcontainers": "4.8.2"},
        "stack_id": stack_id, "stack_commit": "0a1b2c3d4e5f", "stack_dirty": False,
        "images": {
            "loki": {"ref": "grafana/loki:2.9.3", "pinned": True, "digest": "sha256:ab12",
                     "override": False, "available": True, "reason": None},
            "grafana": {"ref": "grafana/grafana:11.0.0", "pinned": True, "digest": None,
                        "override": True, "available": False,
                        "reason": "pull failed: manifest unknown"},
        },
        "overrides": {"grafana": "grafana/grafana:11.0.0"},
    }


def judged(policy: Policy, name: str, key: str, value: float) -> Measurement:
    t = policy.target(key)
    return Measurement(name, value, t.unit, key, t.value, t.warn, t.better, t.judge(value))


def sample_results(policy: Policy) -> list[CheckResult]:
    """One check of every kind, with the awkward text reports must survive."""
    throughput = [[t, 9000 + 1500 * math.sin(t / 7) - (t * 12 if t > 40 else 0)]
                  for t in range(0, 61, 2)]
    ingest = judged(policy, "ingest_lines_per_s", "ingest_lines_per_s", 8200)
    return [
        CheckResult("test_loki_config_accepted", "tests/config/test_loki.py::"
                    "test_loki_config_accepted", "Configuration", 2, Outcome.PASSED,
                    duration_s=1.2),
        CheckResult("test_alertmanager_routes", "tests/config/test_am.py::test_alertmanager_routes",
                    "Configuration", 1, Outcome.FAILED, reason="route 'pager' has no receiver",
                    duration_s=0.4, evidence={"config": "route:\n  receiver: pager"}),
        CheckResult("test_tls_only", "tests/integration/test_security.py::test_tls_only",
                    "Security", 3, Outcome.PASSED, duration_s=2.0),
        CheckResult("test_cors_allow_list", "tests/integration/test_security.py::"
                    "test_cors_allow_list[evil-origin]", "Security", 1, Outcome.FAILED,
                    reason=f"Access-Control-Allow-Origin echoed {MARKUP}",
                    evidence={"url": "https://grafana.local/api/health", "body": MARKUP}),
        CheckResult("test_loki_is_ready", "tests/integration/test_ready.py::test_loki_is_ready",
                    "Functionality", 2, Outcome.PASSED, duration_s=14.2, blocker=True,
                    measurements=[judged(policy, "ready_after_s", "service_ready_s", 14.2)]),
        CheckResult("test_nginx_is_ready", "tests/integration/test_ready.py::test_nginx_is_ready",
                    "Functionality", 2, Outcome.PASSED, blocker=True),
        CheckResult("test_grafana_provisioning", "tests/integration/test_grafana.py::"
                    "test_grafana_provisioning", "Functionality", 2, Outcome.NOT_EVALUATED,
                    reason="image grafana/grafana:11.0.0 unavailable: manifest unknown"),
        CheckResult("test_alert_end_to_end", "tests/integration/test_alerting.py::"
                    "test_alert_end_to_end", "Functionality", 2, Outcome.SOFT_MISS,
                    reason="alert_delivery_s: 38 s > target 30 s (soft-miss band <= 45)",
                    measurements=[judged(policy, "alert_delivery_s", "alert_delivery_s", 38)]),
        CheckResult("test_loki_restart_keeps_data", "tests/integration/test_resilience.py::"
                    "test_loki_restart_keeps_data", "Resilience", 2, Outcome.ERROR,
                    reason="fixture 'loki' failed: container exited (137)\nTraceback ..."),
        CheckResult("test_ingest_throughput", "tests/load/test_ingest.py::test_ingest_throughput",
                    "Performance", 3, Outcome.SOFT_MISS, duration_s=61.0,
                    reason=f"ingest_lines_per_s: {policy.target(ingest.name).explain(8200)}",
                    measurements=[ingest,
                                  judged(policy, "error_rate", "error_rate", 0.004),
                                  Measurement("lines_sent", 492000, "lines")],
                    evidence={"timeseries": {"name": "Loki ingestion", "unit": "lines/s",
                                             "points": throughput}}),
        CheckResult("test_query_latency", "tests/load/test_query.py::test_query_latency",
                    "Performance", 2, Outcome.PASSED,
                    measurements=[judged(policy, "query_latency_s", "query_latency_s", 0.42)]),
        CheckResult("test_candidate_loki_accepts_config", "tests/config/test_upgrade.py::"
                    "test_candidate_loki_accepts_config", "Upgrade readiness", 1, Outcome.FAILED,
                    reason="loki 3.0: field 'shared_store' not found"),
    ]


def sample_gate() -> GateScore:
    policy = load_policy(FIXTURE)
    return score(sample_results(policy), policy)


def test_new_run_dir_names_by_utc_start_and_run_id(tmp_path: Path) -> None:
    local = datetime(2024, 5, 17, 11, 30, 5, tzinfo=timezone(timedelta(hours=2)))
    run_dir = new_run_dir(tmp_path / "reports", "3f2a9c1e-aaaa-bbbb", local)
    assert run_dir == tmp_path / "reports" / "20240517T093005Z-3f2a9c1e"
    assert run_dir.is_dir()


def write_sample(root: Path, gate: GateScore | None = None,
                 meta: dict[str, Any] | None = None) -> Path:
    meta = meta or metadata()
    run_dir = new_run_dir(root, meta["run_id"], datetime.fromisoformat(meta["started"]))
    write_run_reports(root, run_dir, gate or sample_gate(), meta, [])
    return run_dir


def test_writes_the_three_reports_and_history(tmp_path: Path) -> None:
    run_dir = write_sample(tmp_path)
    assert sorted(p.name for p in run_dir.iterdir()) == ["gate.json", "report.html",
                                                         "summary.md"]
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1


def test_gate_json_validates_and_carries_everything(tmp_path: Path) -> None:
    doc = json.loads((write_sample(tmp_path) / "gate.json").read_text())
    validate_gate_document(doc)
    assert doc["schema_version"] == "3"
    assert doc["metadata"] == metadata()
    assert doc["verdict"] == "FAIL" and doc["total"] == sample_gate().total
    assert doc["policy"]["pass_threshold"] == 80 and doc["policy"]["blockers"] == [
        "test_loki_is_ready", "test_nginx_is_ready"]
    assert [c["name"] for c in doc["categories"]][-1] == "Upgrade readiness"
    assert doc["counts"] == {"passed": 5, "soft_miss": 2, "failed": 3, "error": 1,
                             "not_evaluated": 1}
    ingest = next(c for c in doc["checks"] if c["check_id"] == "test_ingest_throughput")
    assert ingest["earned"] == 1.5 and ingest["outcome"] == "soft_miss"
    assert ingest["measurements"][0] == {
        "name": "ingest_lines_per_s", "value": 8200, "unit": "lines/s",
        "target_key": "ingest_lines_per_s", "target": 10000, "warn": 8000,
        "better": "higher", "judgement": "soft"}
    assert ingest["evidence"]["timeseries"]["unit"] == "lines/s"
    assert doc["comparison"] is None
    grafana = next(c for c in doc["checks"] if c["check_id"] == "test_grafana_provisioning")
    assert [c["key"] for c in doc["not_evaluated_causes"]] == [grafana["cause"]]
    assert doc["not_evaluated_causes"][0]["checks"] == [grafana["nodeid"]]
    assert ingest["cause"] is None


def test_broken_document_does_not_validate() -> None:
    doc = build_gate_document(sample_gate(), metadata(), None)
    validate_gate_document(doc)
    breakages: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d.pop("verdict"),
        lambda d: d.update(verdict="MAYBE"),
        lambda d: d.update(schema_version=1),
        lambda d: d["metadata"].pop("stack_id"),
        lambda d: d["checks"][0].update(outcome="skipped"),
        lambda d: d["checks"][0]["measurements"].append({"name": "x"}),
        lambda d: d["categories"][0].update(score=120),
        lambda d: d.update(surprise=True),
        lambda d: d.pop("not_evaluated_causes"),
        lambda d: d["not_evaluated_causes"].append({"key": "docker", "count": 0}),
    ]
    for breakage in breakages:
        broken = copy.deepcopy(doc)
        breakage(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate_gate_document(broken)


def test_bad_metadata_stops_before_anything_is_written(tmp_path: Path) -> None:
    meta = metadata()
    del meta["stack_id"]
    run_dir = new_run_dir(tmp_path, meta["run_id"], STARTED)
    with pytest.raises(jsonschema.ValidationError, match="stack_id"):
        write_run_reports(tmp_path, run_dir, sample_gate(), meta, [])
    assert list(run_dir.iterdir()) == [] and not (tmp_path / "history.jsonl").exists()


def test_non_finite_values_become_null(tmp_path: Path) -> None:
    policy = load_policy(FIXTURE)
    nan = CheckResult("test_q", "t.py::test_q", "Performance", 1, Outcome.FAILED,
                      reason="no samples",
                      measurements=[Measurement("query_latency_s", math.nan, "s",
                                                "query_latency_s", 1.0, 1.5, "lower",
                                                Judgement.MISSED)])
    doc = json.loads((write_sample(tmp_path, score([nan], policy)) / "gate.json").read_text())
    assert doc["checks"][0]["measurements"][0]["value"] is None


def test_latest_points_at_the_newest_run(tmp_path: Path) -> None:
    first = write_sample(tmp_path)
    assert (tmp_path / "latest").resolve() == first.resolve()
    second_meta = metadata(run_id="9b8c7d6e-0000")
    second_meta["started"] = (STARTED + timedelta(hours=1)).isoformat()
    second = write_sample(tmp_path, meta=second_meta)
    link = tmp_path / "latest"
    assert link.is_symlink() and link.resolve() == second.resolve()
    assert not link.readlink().is_absolute()  # the reports tree can be moved or archived
    assert (link / "gate.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".latest")] == []


def test_summary_md(tmp_path: Path) -> None:
    text = (write_sample(tmp_path) / "summary.md").read_text()
    assert "| Category | Weight | Score | Weighted |" in text
    assert "| Security | 25 | 75.0 | 18.8 |" in text
    assert "| Upgrade readiness | advisory | 0.0 | — |" in text
    assert re.search(r"\| \*\*Total\*\* \| 100 \| \| \*\*\d+\.\d\*\* \|", text)
    assert "**FAIL** because:" in text
    assert "## Failing checks (4)" in text and "## Not evaluated (1), by cause" in text
    assert "`tests/integration/test_resilience.py::test_loki_restart_keeps_data` [error]: " \
           "fixture 'loki' failed: container exited (137)" in text
    assert "- 1 check (test_grafana_provisioning): image grafana/grafana:11.0.0 unavailable: manifest unknown" in text
    assert "8,200 lines/s < target 10,000 lines/s (soft-miss band >= 8,000)" in text
    assert "No previous run of this stack" in text
    assert "<script>" not in text and "&lt;script>" in text  # no live HTML in a CI summary


def test_console_summary() -> None:
    gate = sample_gate()
    text = console_summary(gate, None)
    lines = text.splitlines()
    assert lines[0].split() == ["Category", "Weight", "Score", "Weighted"]
    security = next(line for line in lines if line.startswith("Security"))
    assert security.split() == ["Security", "25", "75.0", "18.8"]
    widths = {len(line) for line in lines[:10] if line.startswith(("Config", "Security",
                                                                   "Functionality"))}
    assert len(widths) == 1  # fixed width
    assert "Not evaluated (1), by cause (1):" in text and "Failing (4):" in text
    assert lines[-1] == (f"obs-gate verdict: FAIL — total {gate.total:.1f}% (pass 80%, warn 60%)"
                         f" — {gate.reasons[0]}")


def test_console_verdict_line_names_the_blocker() -> None:
    policy = load_policy(FIXTURE)
    results = [CheckResult("test_loki_is_ready", "t.py::test_loki_is_ready", "Functionality", 1,
                           Outcome.NOT_EVALUATED, reason="image unavailable")]
    results += [CheckResult(f"test_{c}", f"t.py::test_{c}", c, 1, Outcome.PASSED)
                for c in ("Configuration", "Security")]
    text = console_summary(score(results, policy), None)
    assert text.splitlines()[-1] == (
        "obs-gate verdict: FAIL — total 45.0% (pass 80%, warn 60%) — "
        "blocker test_loki_is_ready not evaluated: image unavailable")


def test_pass_verdict_line_has_no_reason_tail() -> None:
    policy = load_policy(FIXTURE)
    results = [CheckResult(f"test_{c}", f"t.py::test_{c}", c, 1, Outcome.PASSED)
               for c in policy.categories] + [
        CheckResult(b, f"t.py::{b}", "Functionality", 1, Outcome.PASSED) for b in policy.blockers]
    gate = score(results, policy)
    assert gate.verdict is Verdict.PASS
    assert console_summary(gate, None).splitlines()[-1] == (
        "obs-gate verdict: PASS — total 100.0% (pass 80%, warn 60%)")


LOADS = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""",
                   re.IGNORECASE)


def test_html_is_self_contained(tmp_path: Path) -> None:
    html = (write_sample(tmp_path) / "report.html").read_text()
    assert not LOADS.search(html)
    assert "url(" not in html and "@import" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "<img" not in html.lower() and "<iframe" not in html.lower()
    # The evidence URL is shown, as text.
    assert "https://grafana.local/api/health" in html
    assert "<style>" in html and "<svg" in html


def test_html_escapes_markup(tmp_path: Path) -> None:
    html = (write_sample(tmp_path) / "report.html").read_text()
    assert MARKUP not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=&quot;https://evil.example/p.png&quot;&gt;" in html


def test_html_content(tmp_path: Path) -> None:
    html = (write_sample(tmp_path) / "report.html").read_text()
    assert 'class="banner v-fail"' in html
    for category in ("Configuration", "Security", "Upgrade readiness (advisory)"):
        assert category in html
    assert "Decision matrix" in html and "Checks" in html
    assert "Load over time" in html and "<polyline" in html and "target 10,000" in html
    assert "Compared with the previous run" in html
    assert "8,200 lines/s &lt; target 10,000 lines/s (soft-miss band &gt;= 8,000)" in html
    assert "grafana/grafana:11.0.0" in html and "pull failed: manifest unknown" in html


def test_html_without_timeseries_has_no_chart_section(tmp_path: Path) -> None:
    policy = load_policy(FIXTURE)
    bad_series = {"timeseries": {"name": "x", "unit": "s", "points": [[0, "fast"]]}}
    results = [CheckResult("test_a", "t.py::test_a", "Performance", 1, Outcome.PASSED,
                           evidence=bad_series)]
    html = (write_sample(tmp_path, score(results, policy)) / "report.html").read_text()
    assert "Load over time" not in html and "<polyline" not in html


@pytest.mark.parametrize("verdict_class", ["v-pass", "v-conditional"])
def test_banner_colour_follows_the_verdict(tmp_path: Path, verdict_class: str) -> None:
    policy = load_policy(FIXTURE)
    skip = "Security" if verdict_class == "v-conditional" else ""  # 75%
    results = [CheckResult(f"test_{c}", f"t.py::test_{c}", c, 1, Outcome.PASSED)
               for c in policy.categories if c != skip]
    results += [CheckResult(b, f"t.py::{b}", "Functionality", 1, Outcome.PASSED)
                for b in policy.blockers]
    html = (write_sample(tmp_path, score(results, policy)) / "report.html").read_text()
    assert f'class="banner {verdict_class}"' in html


REPO_POLICY = Path(__file__).resolve().parents[2] / "gate.yml"
LOAD_CHECKS = Path(__file__).parent / "fixtures" / "load_checks.json"
INGEST_RATE = "test_load_sustains_target_ingest_rate"


def recorded_load_checks() -> list[CheckResult]:
    """The load checks of a recorded gate run, as gate.json holds them."""
    def measurement(m: dict[str, Any]) -> Measurement:
        return Measurement(**{**m, "judgement": Judgement(m["judgement"]) if m["judgement"] else None})

    return [CheckResult(c["check_id"], c["nodeid"], c["category"], c["weight"], Outcome(c["outcome"]),
                        c["reason"], c["duration_s"], c["blocker"],
                        [measurement(m) for m in c["measurements"]], c["evidence"])
            for c in json.loads(LOAD_CHECKS.read_text())["checks"]]


def saturation_check() -> CheckResult:
    """A step-up of 5,000 lines/s every 20 s that breaks at 20,000: pushes fail, p99 climbs."""
    t_s = list(range(100))
    lines = [5000 * (1 + t // 20) - (3000 if t >= 60 else 0) for t in t_s]
    failed = [12 if t >= 60 else 0 for t in t_s]
    p99 = [round(0.2 + (1.8 if t >= 60 else 0.1 * (t // 20)), 4) for t in t_s]
    series = {"t_s": t_s, "lines_per_s": lines, "failed_pushes": failed, "push_p50_s": [v / 4 for v in p99],
              "push_p99_s": p99, "query_s": [0.05 if t % 2 == 0 else None for t in t_s]}
    knee = {"sustained": {"phase": "step-3", "accepted_lines_per_s": 15056.0}, "broke": {"phase": "step-4"},
            "tripped_first": "error_rate", "limits": "Loki rate_limited", "steps": []}
    return CheckResult("test_load_saturation_knee_above_target",
                       "tests/load/test_load_saturation.py::test_load_saturation_knee_above_target", "Capacity", 1,
                       Outcome.PASSED, evidence={"run_tag": "t", "knee": knee, "series": series})


def write_load_sample(root: Path, results: list[CheckResult], run: int = 1) -> Path:
    meta = metadata(run_id=f"{run}f2a9c1e-0000-4000-8000-000000000001")
    meta["started"] = (STARTED + timedelta(hours=run)).isoformat()
    meta["finished"] = (STARTED + timedelta(hours=run, minutes=7)).isoformat()
    return write_sample(root, score(results, load_policy(REPO_POLICY)), meta)


def test_recorded_load_series_is_kept_whole_in_gate_json(tmp_path: Path) -> None:
    recorded = recorded_load_checks()
    series = next(r for r in recorded if r.check_id == INGEST_RATE).evidence["series"]
    doc = json.loads((write_load_sample(tmp_path, [*recorded, saturation_check()]) / "gate.json").read_text())
    validate_gate_document(doc)
    ingest = next(c for c in doc["checks"] if c["check_id"] == INGEST_RATE)
    assert ingest["evidence"]["series"] == series and len(series["t_s"]) == 76
    assert len(json.dumps(ingest["evidence"], indent=2)) > EVIDENCE_LIMIT  # longer than the HTML's cut
    saturation = next(c for c in doc["checks"] if c["category"] == "Capacity")
    assert saturation["evidence"]["series"] == saturation_check().evidence["series"]
    assert doc["policy"]["load"]["saturation"]["step_s"] == 20


def test_html_charts_each_load_run_throughput_and_latency(tmp_path: Path) -> None:
    html = (write_load_sample(tmp_path, [*recorded_load_checks(), saturation_check()]) / "report.html").read_text()
    charts = html.split("<h2>Load over time</h2>")[1].split("</section>")[0]
    assert charts.count("<title>Throughput: lines acknowledged per second") == 2
    assert charts.count("<title>Latency per second") == 2
    assert charts.count("target 10,000 lines/s") >= 2  # the policy's ingest target, on both runs
    assert "push p99 budget 1 s" in charts and "query budget 1 s" in charts
    assert "knee 15,056 lines/s" in charts and "a second with failed pushes" in charts
    # The recorded run: every second it pushed is a point of the throughput line.
    gate_run = charts.split("<h3>")[1]
    throughput = gate_run.split("<polyline points=\"")[1].split('"')[0]
    assert len(throughput.split()) == 76
    assert "a second with failed pushes" not in gate_run  # none failed in the recorded run


def test_html_evidence_summarises_the_series_and_shows_the_rest(tmp_path: Path) -> None:
    html = (write_load_sample(tmp_path, recorded_load_checks()) / "report.html").read_text()
    row = html.split(f"<strong>{INGEST_RATE}</strong>")[1].split("</tr>")[0]
    assert "76 s: lines/s peak 15,000" in row and "whole in gate.json" in row
    assert "more characters" not in row and "no limit pushed back" in row and "push_latency_s" in row


def test_malformed_load_series_is_not_charted(tmp_path: Path) -> None:
    broken = saturation_check()
    broken.evidence["series"]["push_p99_s"] = broken.evidence["series"]["push_p99_s"][:-1]
    html = (write_load_sample(tmp_path, [broken]) / "report.html").read_text()
    assert "Load over time" not in html and "&quot;failed_pushes&quot;: [" in html


def test_history_flags_load_regressions_over_ten_percent(tmp_path: Path) -> None:
    """Two recorded runs of one stack: the later one slower in throughput, p99 and memory."""
    worse = {"accepted_lines_per_s": 0.85, "push_p99_s": 1.5, "stack_memory_bytes": 1.2,
             "query_p95_s": 1.05, "stack_cpu_cores": 0.5}
    later = recorded_load_checks()
    for r in later:
        r.measurements = [replace(m, value=m.value * worse.get(m.name, 1.0)) for m in r.measurements]
    write_load_sample(tmp_path, recorded_load_checks(), run=1)
    doc = json.loads((write_load_sample(tmp_path, later, run=2) / "gate.json").read_text())
    flagged = {r["name"]: r["change_pct"] for r in doc["comparison"]["regressions"]}
    assert flagged == {"accepted_lines_per_s": pytest.approx(15), "push_p99_s": pytest.approx(50),
                       "stack_memory_bytes": pytest.approx(20)}
    assert len(regressions(doc)) == 3  # what the nightly workflow fails on
    html = (tmp_path / "latest" / "report.html").read_text()
    assert "accepted_lines_per_s: 10,047.6" in html and "15.0% worse, higher is better" in html
