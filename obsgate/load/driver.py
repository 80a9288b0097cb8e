"""One programmatic, headless Locust run in its own process: ``python -m obsgate.load.driver PLAN RESULT``.

With ``processes`` > 1 or ``expect_workers`` (gate.yml ``load``) the driver is a Locust master:
it starts ``processes`` local workers (``python -m obsgate.load.driver --worker HOST PORT``,
Locust's WorkerRunner with the same users), waits for the remote ones, and takes every window's
edges from all workers at once (``obsgate.load.workers``); every option reaches the workers with
Locust's spawn message. ``processes`` = 1 without remote workers is the single-process run.

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
import socket
import subprocess
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
from obsgate.load import counters, shapes, workers
from obsgate.load.options import from_namespace
from obsgate.load.plan import STOP_GRACE_S, DriverPlan, percentile
from obsgate.load.user import PROCESS_TAG, TALLY, LokiPushUser, LokiQueryUser

PROGRESS_SCRAPE_TIMEOUT_S = 2.0
PROGRESS_COUNTERS = (counters.LINES_RECEIVED, counters.DISCARDED_LINES)
LOCAL = "127.0.0.1"
MASTER_PORT = 5557            # Locust's default --master-port
WORKER_EXIT_S = 5.0           # local workers end once the master says quit; ended after this (see _end_local_workers)


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


def _snapshot(plan: DriverPlan, collector: workers.Collector | None = None) -> dict[str, Any]:
    """Client tally (this process's, or every worker's at once), Loki's counters, own CPU and the machine's,
    read together."""
    wall, cpu, machine = time.time(), workers.cpu_s(), CpuTimes.now()
    client: dict[str, Any] = {"client": TALLY.counts()} if collector is None else collector.collect()
    if collector is not None:
        # Workers answer when their event loop gets to it (a worker laying out a new user's payloads answers
        # late), so a master's window counts by the push records at the moment Loki's counters are read.
        client["server_wall"] = time.time()
    server = None
    if plan.loki_metrics_url:
        try:
            server = counters.scrape(plan.loki_metrics_url).as_dict()
        except OSError as exc:
            server = {"error": f"{type(exc).__name__}: {exc}"}
    return {"wall": wall, "cpu_s": cpu, "machine": machine.as_dict() if machine else None, **client, "server": server}


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


def _window_breaks(plan: DriverPlan, start: dict[str, Any], end: dict[str, Any],
                   push_latencies: list[Any]) -> str | None:
    """Why a saturation step is past the knee (error rate or p99 over its bound), or None."""
    if plan.stop_when is None or start.get("phase") == shapes.WARM_UP:
        return None
    ok = end["client"]["pushes"] - start["client"]["pushes"]
    failed = sum(end["client"]["failures"].values()) - sum(start["client"]["failures"].values())
    if ok + failed and failed / (ok + failed) > plan.stop_when["error_rate"]:
        return f"error rate {failed / (ok + failed):.2%} > {plan.stop_when['error_rate']:.0%}"
    latencies = [s for t, s, _, _ in push_latencies if start["wall"] <= t <= end["wall"]]
    if latencies and percentile(latencies, 99) > plan.stop_when["p99_s"]:
        return f"push p99 {percentile(latencies, 99):.3f}s > {plan.stop_when['p99_s']:g}s"
    return None


def _watch(plan: DriverPlan, shape: _PlanShape, windows: list[dict[str, Any]], started: float,
           collector: workers.Collector | None) -> None:
    """Snapshot every phase's window at its edges; end a saturation run past the knee."""
    for phase in plan.plan.phases:
        begin, end = plan.plan.window(phase.name)
        gevent.sleep(max(0.0, started + begin - time.monotonic()))
        first = {**_snapshot(plan, collector), "phase": phase.name}
        gevent.sleep(max(0.0, started + end - time.monotonic()))
        last = _snapshot(plan, collector)
        windows.append({"phase": phase.name, "rps": phase.rps, "start": first, "end": last})
        reason = _window_breaks(plan, first, last,
                                TALLY.push_latencies if collector is None else collector.push_latencies)
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCAL, 0))
        return int(probe.getsockname()[1])


def _start_local_workers(count: int, port: int) -> list[subprocess.Popen[bytes]]:
    """``count`` worker processes of this same driver, connecting to the master on 127.0.0.1:``port``."""
    command = [sys.executable, "-m", "obsgate.load.driver", "--worker", LOCAL, str(port)]
    return [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sys.stderr) for _ in range(count)]


def _end_local_workers(children: list[subprocess.Popen[bytes]]) -> list[int | None]:
    """Wait (bounded) for the local workers the master told to quit; end the ones still running.

    A worker that was told to stop sleeps Locust's stop_timeout before it reads the next message
    (WorkerRunner), so the quit may wait 30 s; its final counts are in by then, so it is ended instead."""
    until = time.monotonic() + WORKER_EXIT_S
    codes: list[int | None] = []
    for child in children:
        try:
            codes.append(child.wait(timeout=max(0.1, until - time.monotonic())))
        except subprocess.TimeoutExpired:
            child.terminate()
            try:
                codes.append(child.wait(timeout=WORKER_EXIT_S))
            except subprocess.TimeoutExpired:
                child.kill()
                codes.append(child.wait())
    return codes


def run(plan: DriverPlan) -> dict[str, Any]:
    """Run the plan to its end (or hard cap, or knee, or abort); returns what was measured."""
    parser = get_parser()
    # A master is not headless: at the shape's end it then stops the workers' users and waits for them
    # (their pushes in flight answered, their final counts sent) before this driver quits them.
    ns = parser.parse_args([*([] if plan.distributed else ["--headless"]), "--host", plan.host, *plan.arguments()])
    options = from_namespace(ns, plan=plan.plan)
    shape = _PlanShape(plan.plan, options.user_rps, options.query_interval_s > 0)
    env = Environment(user_classes=[LokiPushUser, LokiQueryUser], shape_class=shape, events=events,
                      host=options.host, parsed_options=ns, stop_timeout=STOP_GRACE_S)
    env.obsgate_options, env.obsgate_fixed = options, True  # type: ignore[attr-defined]
    children: list[subprocess.Popen[bytes]] = []
    collector = None
    if plan.distributed:
        # Remote workers must reach the master: then it listens on every interface, on Locust's default port
        # (the documented worker command needs no --master-port); else on loopback only, on a free port.
        port = MASTER_PORT if plan.expect_workers else _free_port()
        runner: Any = env.create_master_runner("*" if plan.expect_workers else LOCAL, port)
        collector = workers.Collector(runner)
        children = _start_local_workers(plan.processes, port)
    else:
        runner = env.create_local_runner()
    events.init.fire(environment=env, runner=runner, web_ui=None)
    TALLY.record = True
    writer = None
    if plan.report_dir is not None:
        plan.report_dir.mkdir(parents=True, exist_ok=True)
        writer = StatsCSVFileWriter(env, PERCENTILES_TO_REPORT, str(plan.report_dir / "locust"), full_history=True)
        gevent.spawn(writer.stats_writer)
    gevent.spawn(stats_history, runner)
    try:
        if collector is not None:
            collector.await_workers(plan.processes + plan.expect_workers, plan.workers_deadline_s, plan.processes)
        result = _drive(plan, runner, shape, collector)
    finally:
        runner.quit()                 # single process: its users stop, pushes in flight answered
        codes = _end_local_workers(children)
    if collector is None:
        result |= {"totals": TALLY.counts(), "push_latencies": TALLY.push_latencies,
                   "query_latencies": TALLY.query_latencies}
    else:
        result["local_worker_exit_codes"] = codes
    result["ended"] = time.time()
    if writer is not None and plan.report_dir is not None:
        _write_reports(env, plan.report_dir, writer)
    return result


def _drive(plan: DriverPlan, runner: Any, shape: _PlanShape, collector: workers.Collector | None) -> dict[str, Any]:
    """The shape from start to end with its windows watched; a master's result also has the workers' totals."""
    windows: list[dict[str, Any]] = []
    if collector is not None:
        collector.collect()           # the workers start keeping records from here
    wall_start = time.time()
    runner.start_shape()
    started = time.monotonic()
    watcher = gevent.spawn(_watch, plan, shape, windows, started, collector)
    relay = gevent.spawn(_relay_progress, plan, started)
    assert runner.shape_greenlet is not None
    runner.shape_greenlet.join(timeout=plan.plan.hard_cap_s + STOP_GRACE_S)
    watcher.kill(block=True)
    relay.kill(block=True)
    result: dict[str, Any] = {"run_tag": runner.environment.obsgate_options.run_tag, "aborted": TALLY.aborted,
                              "started": wall_start, "windows": windows, "cpu_warning": bool(runner.cpu_warning_emitted),
                              "cpu_count": os.cpu_count(), "process_tag": PROCESS_TAG}
    if collector is not None:
        runner.stop()                 # (a no-op once the shape stopped them) the workers' users stop, then report
        final = collector.final(STOP_GRACE_S + workers.REPLY_TIMEOUT_S)
        result |= {"totals": final["client"], "workers": final["workers"], "missing_workers": final["missing_workers"],
                   "push_latencies": sorted(collector.push_latencies),
                   "query_latencies": sorted(collector.query_latencies)}
    return result


def work(master_host: str, master_port: int) -> int:
    """A worker process: Locust's WorkerRunner with the gate's users; every option comes from the master."""
    ns = get_parser().parse_args(["--worker", "--master-host", master_host, "--master-port", str(master_port)])
    env = Environment(user_classes=[LokiPushUser, LokiQueryUser], events=events, parsed_options=ns)
    runner = env.create_worker_runner(master_host, master_port)
    events.init.fire(environment=env, runner=runner, web_ui=None)
    runner.greenlet.join()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--worker":
        return work(argv[1], int(argv[2]))
    if len(argv) != 2:
        print("usage: python -m obsgate.load.driver PLAN.json RESULT.json | --worker MASTER_HOST MASTER_PORT",
              file=sys.stderr)
        return 2
    plan = DriverPlan.load(Path(argv[0]))
    result = run(plan)
    Path(argv[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
