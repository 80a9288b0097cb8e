"""One programmatic, headless Locust run in its own process: ``python -m obsgate.load.driver PLAN RESULT``.

Its own process because Locust monkey-patches with gevent on import, which the pytest process
(threads, Docker clients, testcontainers) must never be. ``session`` writes the plan (JSON,
see ``DriverPlan``) and reads the result; credentials come in the ``OBSGATE_*_USER`` /
``OBSGATE_*_PASSWORD`` env vars, never in a file.

At each phase's measured window (after its ramp) the driver reads, at the same moment, the
users' tally, Loki's counters (its /metrics) and this process's CPU time, so client- and
server-side figures cover the same seconds. A saturation run stops after the first phase
that breaks ``stop_when``. Locust's CSV files and HTML report land in ``report_dir``.

Every few seconds it prints a progress line (``obsgate.core.progress.relay_line``) on its
stdout for ``session`` to show: the phase, the cumulative acknowledged lines and failed
pushes, and Loki's accepted lines from its two counters alone, so the gate's console shows
the rate while it runs without costing the generator measurable CPU.
"""

from __future__ import annotations

import csv
import http.client
import itertools
import json
import os
import resource
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.argument_parser import get_parser
from locust.env import Environment
from locust.html import get_html_report
from locust.shape import LoadTestShape
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV, StatsCSVFileWriter, stats_history

from obsgate.core import progress
from obsgate.core.machine import CpuTimes
from obsgate.load import counters, shapes
from obsgate.load.options import from_namespace
from obsgate.load.plan import STOP_GRACE_S, DriverPlan, percentile
from obsgate.load.user import TALLY, LokiPushUser, LokiQueryUser

PROGRESS_SCRAPE_TIMEOUT_S = 2.0
PROGRESS_COUNTERS = (counters.LINES_RECEIVED, counters.DISCARDED_LINES)


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _PlanShape(LoadTestShape):
    def __init__(self, plan: shapes.Plan, user_rps: float, query: bool) -> None:
        super().__init__()
        self.plan, self.user_rps, self.query = plan, user_rps, query
        self.stopped = False

    def tick(self) -> tuple[int, float, list[type]] | None:
        step = None if self.stopped else shapes.tick(self.plan, self.get_run_time(), self.user_rps)
        if step is None:
            return None
        classes: list[type] = [LokiPushUser, *([LokiQueryUser] if self.query else [])]
        return step[0] + (LokiQueryUser.fixed_count if self.query else 0), step[1], classes


def _snapshot(plan: DriverPlan) -> dict[str, Any]:
    """Client tally, Loki's counters, own CPU and the machine's, read together."""
    wall, cpu, machine = time.time(), _cpu_s(), CpuTimes.now()
    server = None
    if plan.loki_metrics_url:
        try:
            server = counters.scrape(plan.loki_metrics_url).as_dict()
        except OSError as exc:
            server = {"error": f"{type(exc).__name__}: {exc}"}
    return {"wall": wall, "cpu_s": cpu, "machine": machine.as_dict() if machine else None, "client": TALLY.counts(),
            "server": server}


def _accepted_by_loki(url: str) -> float:
    """Loki's accepted lines so far, parsed from its counters' lines of /metrics alone (a whole page
    every few seconds would be generator CPU the measurement counts)."""
    with urllib.request.urlopen(url, timeout=PROGRESS_SCRAPE_TIMEOUT_S) as response:
        page = response.read().decode("utf-8", "replace")
    return counters.parse("\n".join(line for line in page.splitlines() if line.startswith(PROGRESS_COUNTERS))).accepted_lines


def _relay_progress(plan: DriverPlan, started: float) -> None:
    """A progress line on stdout now and every few seconds: cumulative counts, rates are the reader's."""
    for tick in itertools.count():
        gevent.sleep(max(0.0, started + tick * progress.UPDATE_EVERY_S - time.monotonic()))
        t = time.monotonic() - started
        phase, counts = plan.plan.phase_at(t), TALLY.counts()
        fields: dict[str, Any] = {"t": round(t, 3), "phase": phase.name if phase else None,
                                  "offered_lines_per_s": phase.rps * plan.payload.lines_per_request if phase else 0,
                                  "lines": counts["lines"], "failed_pushes": sum(counts["failures"].values()),
                                  "failures": counts["failures"]}
        if plan.loki_metrics_url:
            try:
                fields["loki_accepted"] = _accepted_by_loki(plan.loki_metrics_url)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                fields["loki_error"] = f"{type(exc).__name__}: {exc}"
        print(progress.relay_line(**fields), flush=True)


def _window_breaks(plan: DriverPlan, start: dict[str, Any], end: dict[str, Any]) -> str | None:
    """Why a saturation step is past the knee (error rate or p99 over its bound), or None."""
    if plan.stop_when is None or start.get("phase") == shapes.WARM_UP:
        return None
    ok = end["client"]["pushes"] - start["client"]["pushes"]
    failed = sum(end["client"]["failures"].values()) - sum(start["client"]["failures"].values())
    if ok + failed and failed / (ok + failed) > plan.stop_when["error_rate"]:
        return f"error rate {failed / (ok + failed):.2%} > {plan.stop_when['error_rate']:.0%}"
    latencies = [s for t, s, _, _ in TALLY.push_latencies if start["wall"] <= t <= end["wall"]]
    if latencies and percentile(latencies, 99) > plan.stop_when["p99_s"]:
        return f"push p99 {percentile(latencies, 99):.3f}s > {plan.stop_when['p99_s']:g}s"
    return None


def _watch(env: Environment, plan: DriverPlan, shape: _PlanShape, windows: list[dict[str, Any]],
           started: float) -> None:
    """Snapshot every phase's window at its edges; end a saturation run past the knee."""
    for phase in plan.plan.phases:
        begin, end = plan.plan.window(phase.name)
        gevent.sleep(max(0.0, started + begin - time.monotonic()))
        first = {**_snapshot(plan), "phase": phase.name}
        gevent.sleep(max(0.0, started + end - time.monotonic()))
        last = _snapshot(plan)
        windows.append({"phase": phase.name, "rps": phase.rps, "start": first, "end": last})
        reason = _window_breaks(plan, first, last)
        if reason is not None:
            windows[-1]["broke"] = reason
            shape.stopped = True
            return
        if TALLY.aborted:
            return


def _write_reports(env: Environment, report_dir: Path, writer: StatsCSVFileWriter) -> None:
    writer.close_files()
    final = StatsCSV(env, PERCENTILES_TO_REPORT)
    with (report_dir / "locust_stats.csv").open("w", newline="") as out:
        final.requests_csv(csv.writer(out))
    with (report_dir / "locust_failures.csv").open("w", newline="") as out:
        final.failures_csv(csv.writer(out))
    (report_dir / "locust.html").write_text(get_html_report(env, show_download_link=False), encoding="utf-8")


def run(plan: DriverPlan) -> dict[str, Any]:
    """Run the plan to its end (or hard cap, or knee, or abort); returns what was measured."""
    parser = get_parser()
    ns = parser.parse_args(["--headless", "--host", plan.host, *plan.arguments()])
    options = from_namespace(ns, plan=plan.plan)
    shape = _PlanShape(plan.plan, options.user_rps, options.query_interval_s > 0)
    env = Environment(user_classes=[LokiPushUser, LokiQueryUser], shape_class=shape, events=events,
                      host=options.host, parsed_options=ns, stop_timeout=STOP_GRACE_S)
    env.obsgate_options, env.obsgate_fixed = options, True  # type: ignore[attr-defined]
    runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    TALLY.record = True
    writer = None
    if plan.report_dir is not None:
        plan.report_dir.mkdir(parents=True, exist_ok=True)
        writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(plan.report_dir / "locust"), full_history=True)
        gevent.spawn(writer.stats_writer)
    gevent.spawn(stats_history, runner)
    windows: list[dict[str, Any]] = []
    wall_start = time.time()
    runner.start_shape()
    started = time.monotonic()
    watcher = gevent.spawn(_watch, env, plan, shape, windows, started)
    relay = gevent.spawn(_relay_progress, plan, started)
    assert runner.shape_greenlet is not None
    runner.shape_greenlet.join(timeout=plan.plan.hard_cap_s + STOP_GRACE_S)
    watcher.kill(block=True)
    relay.kill(block=True)
    runner.quit()
    if writer is not None and plan.report_dir is not None:
        _write_reports(env, plan.report_dir, writer)
    return {"run_tag": options.run_tag, "aborted": TALLY.aborted, "started": wall_start, "ended": time.time(),
            "windows": windows, "totals": TALLY.counts(),
            "push_latencies": TALLY.push_latencies, "query_latencies": TALLY.query_latencies,
            "cpu_warning": bool(runner.cpu_warning_emitted), "cpu_count": os.cpu_count()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m obsgate.load.driver PLAN.json RESULT.json", file=sys.stderr)
        return 2
    plan = DriverPlan.load(Path(argv[0]))
    result = run(plan)
    Path(argv[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
