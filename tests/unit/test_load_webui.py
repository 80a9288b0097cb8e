"""The web UI's obs-gate tab: its arithmetic (rates from cumulative counts, per worker and summed), the
route's JSON and the tab's rows, the stored-lines count; then a real Locust process (null sink on
127.0.0.1) serving the tab and its route, and a headless one printing the figures once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obsgate.clients.prometheus import Series
from obsgate.core.wait import poll
from obsgate.load import webui
from obsgate.load.counters import LokiCounters
from obsgate.load.options import OptionError, defaults, from_namespace
from obsgate.load.webui import (
    MIB,
    NO_METRICS,
    Board,
    Goal,
    Rate,
    Rates,
    Reading,
    RunFigures,
    Snapshot,
    Window,
    loki_increase,
    stored_lines,
    summary,
    total,
)
from obsgate.up import env_lines
from tests.unit.test_load_locustfile import LOCUSTFILE, ROOT, SHORT, locust, sink

GOAL = Goal(10_000, 1024, "gate.yml targets.ingest_lines_per_s")


def tally(lines: int, failed: int = 0, size: int = 1024) -> dict[str, Any]:
    return {"lines": lines, "failed_lines": failed, "line_bytes": lines * size, "failed_line_bytes": failed * size}


# --- arithmetic -------------------------------------------------------------------------------------

def test_offered_counts_refused_lines_and_taken_only_acknowledged_ones() -> None:
    reading = Reading.of_tally(5.0, tally(9_000, failed=1_000))
    assert (reading.offered_lines, reading.taken_lines) == (10_000, 9_000)
    assert (reading.offered_bytes, reading.taken_bytes) == (10_000 * 1024, 9_000 * 1024)


def test_loki_reading_takes_received_minus_discarded() -> None:
    loki = LokiCounters(lines_received=12_000, bytes_received=12_000 * 1024,
                        discarded_lines={"rate_limited": 2_000}, discarded_bytes={"rate_limited": 2_000 * 1024})
    reading = Reading.of_loki(1.0, loki)
    assert (reading.offered_lines, reading.taken_lines, reading.taken_bytes) == (12_000, 10_000, 10_000 * 1024)


def test_a_window_gives_the_rate_between_its_first_and_last_reading() -> None:
    window = Window(window_s=10, stale_s=7)
    for second in range(30):                       # 10,000 lines/s of 1 KiB lines, read every second
        window.add(Reading.of_tally(float(second), tally(10_000 * second)))
    rates = window.rates(now=29.5)
    assert rates is not None
    assert rates.offered == rates.taken == Rate(10_000, 10_000 * 1024 / MIB)
    assert window.readings[-1].t - window.readings[0].t == 10     # the window's span, no more


def test_a_window_without_two_readings_or_gone_silent_has_no_rate() -> None:
    window = Window(window_s=10, stale_s=7)
    window.add(Reading.of_tally(0.0, tally(0)))
    assert window.rates(now=0.5) is None
    window.add(Reading.of_tally(3.0, tally(30_000)))
    assert window.rates(now=3.5) is not None
    assert window.rates(now=10.5) is None          # 7.5 s after the last reading: a dead worker, not a rate


def test_a_counter_going_back_starts_the_window_again() -> None:
    window = Window(window_s=10)
    window.add(Reading.of_loki(0.0, LokiCounters(lines_received=5_000_000)))
    window.add(Reading.of_loki(2.0, LokiCounters(lines_received=100)))     # Loki restarted
    assert window.rates(now=2.0) is None
    window.add(Reading.of_loki(4.0, LokiCounters(lines_received=20_100)))
    rates = window.rates(now=4.0)
    assert rates is not None and rates.taken.lines_per_s == 10_000


def test_loki_restarting_mid_run_counts_from_zero_again() -> None:
    before, after = LokiCounters(lines_received=5_000_000), LokiCounters(lines_received=40_000)
    assert loki_increase(before, LokiCounters(lines_received=5_010_000)).taken_lines == 10_000
    assert loki_increase(before, after).taken_lines == 40_000          # what it counted since its restart


def test_workers_reporting_every_3_s_add_up_to_the_whole_rate() -> None:
    """Two workers at 6,000 and 4,000 lines/s, reporting at different phases: 10,000 lines/s in total."""
    windows = {"a": Window(), "b": Window()}
    for report in range(6):
        windows["a"].add(Reading.of_tally(3.0 * report, tally(6_000 * 3 * report)))
        windows["b"].add(Reading.of_tally(3.0 * report + 1.4, tally(int(4_000 * (3 * report + 1.4)))))
    summed = total(w.rates(now=16.0) for w in windows.values())
    assert summed is not None and summed.offered.lines_per_s == pytest.approx(10_000, abs=1)
    assert total([None, None]) is None


def test_a_difference_over_no_time_has_no_rates() -> None:
    assert (Reading.of_tally(3.0, tally(10)) - Reading.of_tally(3.0, tally(0))).rates() is None


def test_the_target_comes_from_gate_yml() -> None:
    goal = Goal.from_policy(ROOT / "gate.yml")
    assert (goal.lines_per_s, goal.line_bytes) == (10_000, 1024)
    assert goal.rate == Rate(10_000, 10_000 * 1024 / MIB)
    assert goal.share(9_700) == "97% of the target"


def test_without_gate_yml_the_target_is_unknown_and_says_why(tmp_path: Path) -> None:
    goal = Goal.from_policy(tmp_path / "gate.yml")
    assert goal.rate is None and goal.note.startswith("unknown:") and "gate.yml" in goal.note


# --- the route's JSON and the tab's rows -----------------------------------------------------------------

def live(lines_per_s: float) -> Rates:
    return Rates(Rate(lines_per_s, lines_per_s * 1024 / MIB), Rate(lines_per_s, lines_per_s * 1024 / MIB))


def run_figures(acknowledged: int = 600_000, stored: int | None = 600_000) -> RunFigures:
    tally_delta = Reading(60.0, acknowledged + 1_000, (acknowledged + 1_000) * 1024, acknowledged, acknowledged * 1024)
    loki = Reading(60.0, acknowledged, acknowledged * 1024, acknowledged, acknowledged * 1024)
    return RunFigures("locust-abc", tally_delta, {"nginx 429": 1}, loki, "", acknowledged,
                      peak=Rate(11_000, 10.7), peak_of="Loki accepted", stored=stored,
                      stored_note="" if stored is not None else "counting…")


def test_the_route_speaks_lines_per_second_against_the_target() -> None:
    snap = Snapshot("running", "locust-abc", GOAL, tally=live(10_400), loki=live(10_350), loki_note="",
                    workers={"w1": live(6_000), "w2": live(4_400)})
    data = json.loads(json.dumps(snap.as_dict()))             # what curl gets
    assert data["target"] == {"lines_per_s": 10_000, "mib_per_s": pytest.approx(9.766, abs=0.001),
                              "note": GOAL.note}
    assert data["live"]["offered"] == {"lines_per_s": 10_400, "mib_per_s": pytest.approx(10.156, abs=0.001)}
    assert data["live"]["loki_accepted"]["lines_per_s"] == 10_350
    assert set(data["live"]["workers"]) == {"w1", "w2"} and data["run"] is None
    rows = {r["figure"]: r for r in data["rows"]}
    assert rows["offered"]["lines"] == "10,400" and "2 workers" in rows["offered"]["note"]
    assert rows["Loki accepted"] == {"figure": "Loki accepted", "lines": "10,350", "mib": "10.11",
                                     "note": "its counters, received − discarded, last 10 s"}
    assert rows["target"]["lines"] == "10,000" and rows["target"]["mib"] == "9.77"
    assert rows["target"]["note"].endswith("now 103% of the target")     # Loki accepted, not offered
    assert [r["figure"] for r in data["rows"]][-2:] == ["worker 1: offered", "worker 2: offered"]


def test_without_figures_the_tab_shows_dashes_and_why() -> None:
    snap = Snapshot("ready", "", Goal(None, None, "unknown: no gate.yml"), tally=None, loki=None, loki_note=NO_METRICS)
    rows = {r["figure"]: r for r in snap.rows()}
    assert rows["offered"]["lines"] == rows["Loki accepted"]["mib"] == rows["target"]["lines"] == "—"
    assert rows["Loki accepted"]["note"] == NO_METRICS
    assert rows["target"]["note"] == "unknown: no gate.yml"
    assert snap.as_dict()["target"] == {"lines_per_s": None, "mib_per_s": None, "note": "unknown: no gate.yml"}


def test_a_discarding_loki_says_how_much() -> None:
    loki = Rates(Rate(12_000, 11.7), Rate(9_000, 8.8))
    rows = {r["figure"]: r for r in Snapshot("running", "t", GOAL, live(12_000), loki, "").rows()}
    assert rows["Loki accepted"]["lines"] == "9,000" and "discarding 3,000 lines/s" in rows["Loki accepted"]["note"]


def test_after_a_run_the_tab_shows_its_averages_and_the_stored_lines() -> None:
    snap = Snapshot("stopped", "locust-abc", GOAL, tally=None, loki=None, loki_note="", run=run_figures())
    rows = {r["figure"]: r for r in snap.rows()}
    assert rows["last run: offered"]["lines"] == "10,017"                      # 601,000 lines / 60 s
    assert rows["last run: acknowledged"]["note"] == "600,000 lines; 1 pushes failed: {'nginx 429': 1}"
    assert rows["last run: highest 10 s"]["note"] == "Loki accepted; 110% of the target"
    assert rows["stored lines"]["note"] == \
        "600,000 of 600,000 acknowledged lines counted in Loki: all stored (gate_run=locust-abc)"
    run = snap.as_dict()["run"]
    assert (run["acknowledged_lines"], run["offered_lines"], run["stored_lines"]) == (600_000, 601_000, 600_000)


@pytest.mark.parametrize("stored, words", [
    (599_000, "1,000 missing"),
    (600_100, "100 more than acknowledged"),
    (None, "counting…"),
])
def test_the_stored_count_is_judged_against_the_acknowledged_lines(stored: int | None, words: str) -> None:
    assert words in run_figures(stored=stored).stored_verdict()


def test_the_summary_line_names_every_figure() -> None:
    line = summary(run_figures(), GOAL)
    for part in ("over 60 s (tag locust-abc)", "offered 10,017 lines/s (9.78 MiB/s)", "acknowledged 10,000 lines/s",
                 "Loki accepted 10,000 lines/s", "highest 10 s: 11,000 lines/s Loki accepted, 110% of the target",
                 "target 10,000 lines/s", "failed pushes: {'nginx 429': 1}", "stored: 600,000 of 600,000"):
        assert part in line, part


# --- the master's board: each worker's deltas, its last report ---------------------------------------------

class FakeTally:
    """The run's tally as the board reads it (user.Tally imports Locust)."""

    failures: Counter[str] = Counter()

    def counts(self) -> dict[str, Any]:
        return {**tally(0), "failures": {}}


def test_the_master_adds_each_workers_deltas_and_knows_its_last_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reports every 3 s: worker 1 at 6,000 lines/s (1,000 of them refused once), worker 2 at 4,000."""
    now = [1000.0]
    monkeypatch.setattr(webui.time, "time", lambda: now[0])
    board = Board(FakeTally(), lambda env: from_namespace(defaults()), lambda **_: None)  # type: ignore[arg-type]
    board.distributed = True
    for report in range(3):
        board.worker_report("w1", {"obsgate": tally(17_000, failed=1_000) if report == 1 else tally(18_000),
                                   "user_count": 6})
        board.worker_report("w2", {"obsgate": tally(12_000), "user_count": 4})
        now[0] += 3
    now[0] -= 2
    assert board.worker_counts["w1"] == tally(53_000, failed=1_000)
    snap = board.snapshot()
    assert snap.tally is not None
    assert snap.tally.offered.lines_per_s == 10_000            # w1 and w2 between their first and last report
    assert snap.tally.taken.lines_per_s == pytest.approx(10_000 - 1_000 / 6)
    assert {w: r.offered.lines_per_s for w, r in snap.workers.items() if r} == {"w1": 6_000, "w2": 4_000}
    board.stopped_at = now[0]
    board.worker_report("w1", {"obsgate": tally(0), "user_count": 0})
    board.worker_report("w2", {"obsgate": tally(0), "user_count": 3})   # still stopping: not its last report
    assert board.final_reports == {"w1"}


# --- the stored-lines count ------------------------------------------------------------------------------

def test_the_count_polls_one_fixed_window_until_every_acknowledged_line_is_in() -> None:
    answers, asked = iter([900, 990, 1_000]), []

    def query(logql: str, at_ns: int) -> list[Series]:
        asked.append((logql, at_ns))
        return [Series({}, ((at_ns / 1e9, float(next(answers))),))]

    since = time.time() - 100
    assert stored_lines(query, "locust-abc", since, expected=1_000, timeout_s=10) == 1_000
    assert len(asked) == 3 and len(set(asked)) == 1                 # the same query, the same end: no line drops out
    logql = asked[0][0]
    assert logql.startswith('sum(count_over_time({gate_run="locust-abc"}[') and logql.endswith("s]))")
    assert int(logql.rsplit("[", 1)[1][:-4]) >= 100 + 30


def test_the_count_ends_with_its_last_answer_when_lines_stay_missing() -> None:
    def query(logql: str, at_ns: int) -> list[Series]:
        return []                                                    # nothing with that tag

    assert stored_lines(query, "t", time.time(), expected=5, timeout_s=1.5) == 0
    assert stored_lines(query, "t", time.time(), expected=0, timeout_s=1.5) == 0   # 0 of 0 is an answer, at once


def test_a_refused_count_ends_at_once() -> None:
    def query(logql: str, at_ns: int) -> list[Series]:
        raise urllib.error.HTTPError("https://127.0.0.1/loki/api/v1/query", 401, "Unauthorized", None, None)  # type: ignore[arg-type]

    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError):
        stored_lines(query, "t", time.time(), expected=5, timeout_s=20)
    assert time.monotonic() - started < 2


# --- in a real Locust process ------------------------------------------------------------------------------

def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def null_sink() -> Iterator[int]:
    yield from sink(204)


@pytest.fixture
def web_ui(null_sink: int) -> Iterator[str]:
    """Locust with its web UI (autostarted, left running after the short profile) against the null sink."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "OBSGATE_"))}
    args = [a for a in SHORT if a not in ("--headless", "--only-summary")]
    proc = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args, "--autostart",
                             "--host", f"http://127.0.0.1:{null_sink}", "--web-host", "127.0.0.1",
                             "--web-port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert stderr.count("obs-gate load, in lines") == 1, stderr[-3000:]


def test_the_web_ui_serves_the_tab_and_the_route_after_a_run(web_ui: str) -> None:
    def finished() -> dict[str, Any] | None:
        data: dict[str, Any] = get(web_ui + "/obsgate/figures")
        return data if data["run"] and data["run"]["stored_note"] != "counting…" else None

    data = poll(finished, timeout_s=60, what="the run's figures at /obsgate/figures", interval_s=1)
    run = data["run"]
    assert run["acknowledged_lines"] > 0 and run["offered_lines"] == run["acknowledged_lines"]
    assert run["stored_lines"] is None and run["stored_note"].startswith("not counted:")   # a null sink stores nothing
    assert data["live"]["loki_note"] == NO_METRICS and data["target"]["lines_per_s"] == 10_000
    extended = get(web_ui + "/stats/requests")["extended_stats"]
    assert extended == [{"key": "obsgate", "data": data["rows"]}]
    with urllib.request.urlopen(web_ui + "/", timeout=5) as response:
        page = response.read().decode()
    assert '"extended_tabs": [{"key": "obsgate", "title": "obs-gate lines/s"}]' in page


def test_a_headless_run_prints_its_figures_once(null_sink: int) -> None:
    proc = locust(*SHORT, "--host", f"http://127.0.0.1:{null_sink}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if "obs-gate load, in lines" in line]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "lines/s" in lines[0] and "target 10,000 lines/s" in lines[0] and f"Loki accepted: {NO_METRICS}" in lines[0]


# --- the metrics URL: obsgate up exports it, the options check it ------------------------------------------

def test_obsgate_up_exports_lokis_metrics_url() -> None:
    lines = env_lines("https://127.0.0.1:8443", Path("/tmp/ca.crt"), ("p", "x"), ("r", "y"),
                      loki_metrics_url="http://127.0.0.1:3100/metrics")
    assert "export OBSGATE_LOKI_METRICS_URL=http://127.0.0.1:3100/metrics" in lines
    assert not any("LOKI_METRICS" in line for line in env_lines("https://127.0.0.1:8443", Path("/c"), ("p", "x"), ("r", "y")))


def test_a_metrics_url_that_is_no_url_is_refused_naming_the_option() -> None:
    ns = defaults()
    ns.host, ns.loki_metrics_url = "https://127.0.0.1:8443", "127.0.0.1:3100"
    with pytest.raises(OptionError, match="--loki-metrics-url '127.0.0.1:3100' is not an http"):
        from_namespace(ns)
    ns.loki_metrics_url = "http://127.0.0.1:3100/metrics"
    assert from_namespace(ns).loki_metrics_url == "http://127.0.0.1:3100/metrics"
