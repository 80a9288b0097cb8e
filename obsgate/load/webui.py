"""Locust's web UI and its end-of-run summary in the mission's unit: log lines, not requests.

Locust counts requests: 1.5 requests/s in the warm-up and "Average size 0 bytes" for pushes Loki
answers 204 without a body. A person running ``tests/load/locustfile.py`` came for lines/s and
MiB/s offered, what Loki accepted, against gate.yml's ``ingest_lines_per_s``, and whether every
acknowledged line was stored. This module shows that the way Locust's own ``extend_web_ui``
example extends its UI: a tab declared in the index page's template args (``extended_tabs``,
``extended_tables``), whose rows ride on every ``/stats/requests`` answer the UI polls
(``extended_stats``); the same figures as JSON at ``/obsgate/figures``; at stop one summary line,
in headless runs too.

Counts come from the run's tally (``user.TALLY``). A master keeps one window per worker, fed by
the deltas each worker reports every 3 s, and adds the workers' rates: sampling the master's
merged tally instead would see 3-second steps. Loki's accepted lines come from its own counters
(``--loki-metrics-url``), the stored lines from a LogQL count over the run's tag.

The arithmetic imports no Locust (importing Locust gevent-patches the process, and the unit tests
import this module); ``listen()`` does, called from the locustfile.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import gevent

from obsgate.clients.prometheus import Series, series
from obsgate.clients.tls import client_context
from obsgate.core.errors import InputError
from obsgate.core.policy import load_policy
from obsgate.core.wait import WaitTimeout, poll
from obsgate.load import counters, stored
from obsgate.load.counters import LokiCounters
from obsgate.load.options import LoadOptions, OptionError
from obsgate.load.stored import Query

if TYPE_CHECKING:
    from gevent import Greenlet
    from locust.env import Environment

    from obsgate.load.user import Tally

log = logging.getLogger("obsgate.load")
ROUTE = "/obsgate/figures"
STATS_VIEW = "locust.request_stats"   # Locust's /stats/requests, polled by its UI every 2 s
TAB = "obsgate"
COLUMNS = (("figure", "figure"), ("lines", "lines/s"), ("mib", "MiB/s"), ("note", "note"))
MIB = 2**20
WINDOW_S = 10.0                 # live rates look back this far, as Locust's own current RPS does
REPORT_INTERVAL_S = 3.0         # Locust's WORKER_REPORT_INTERVAL: how often a worker's counts arrive
STALE_S = 2 * REPORT_INTERVAL_S + 1.0   # a source silent this long says nothing about now
SAMPLE_S = 1.0                  # the local tally's sampling interval
SCRAPE_S = 2.0                  # Loki's /metrics
SCRAPE_TIMEOUT_S = 2.0
FINAL_REPORTS_TIMEOUT_S = 2 * REPORT_INTERVAL_S + 2.0
COUNT_TIMEOUT_S = 30.0          # acknowledged lines are queryable at once (the ingester holds them)
COUNT_QUERY_TIMEOUT_S = 30.0         # one count over a whole run scans every line of it
POLICY = Path("gate.yml")       # the project's, as obsgate up and pytest find it: run from the project root
INSTANT_QUERY_PATH = "/loki/api/v1/query"
HEADLESS_MASTER = ("a quitting Locust master stops listening 0.5 s after telling its workers to quit: "
                   "their last reports are lost; the web UI's Stop waits for them")
NO_METRICS = "unknown: no --loki-metrics-url (obsgate up exports it as OBSGATE_LOKI_METRICS_URL)"


@dataclass(frozen=True)
class Reading:
    """One source's cumulative counts at ``t``: a process's tally, or Loki's counters.

    ``taken`` is what the source says was taken: acknowledged with 204 (tally), accepted (Loki).
    A difference of two readings is the same shape, ``t`` then being the seconds between them.
    """

    t: float
    offered_lines: float
    offered_bytes: float
    taken_lines: float
    taken_bytes: float

    @classmethod
    def of_tally(cls, t: float, counts: Mapping[str, Any]) -> Reading:
        """Offered = every answered push's lines (acknowledged or refused); taken = acknowledged."""
        return cls(t, counts["lines"] + counts["failed_lines"], counts["line_bytes"] + counts["failed_line_bytes"],
                   counts["lines"], counts["line_bytes"])

    @classmethod
    def of_loki(cls, t: float, loki: LokiCounters) -> Reading:
        """Offered = lines Loki received; taken = received minus discarded."""
        return cls(t, loki.lines_received, loki.bytes_received, loki.accepted_lines, loki.accepted_bytes)

    def __add__(self, other: Reading) -> Reading:
        return Reading(self.t + other.t, self.offered_lines + other.offered_lines, self.offered_bytes + other.offered_bytes,
                       self.taken_lines + other.taken_lines, self.taken_bytes + other.taken_bytes)

    def __sub__(self, earlier: Reading) -> Reading:
        return Reading(self.t - earlier.t, self.offered_lines - earlier.offered_lines,
                       self.offered_bytes - earlier.offered_bytes, self.taken_lines - earlier.taken_lines,
                       self.taken_bytes - earlier.taken_bytes)

    def rates(self) -> Rates | None:
        """A difference's rates (None over no time)."""
        if self.t <= 0:
            return None
        return Rates(Rate(self.offered_lines / self.t, self.offered_bytes / self.t / MIB),
                     Rate(self.taken_lines / self.t, self.taken_bytes / self.t / MIB))


@dataclass(frozen=True)
class Rate:
    lines_per_s: float
    mib_per_s: float

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.lines_per_s + other.lines_per_s, self.mib_per_s + other.mib_per_s)

    def as_dict(self) -> dict[str, float]:
        return {"lines_per_s": round(self.lines_per_s, 1), "mib_per_s": round(self.mib_per_s, 3)}


@dataclass(frozen=True)
class Rates:
    offered: Rate
    taken: Rate

    def __add__(self, other: Rates) -> Rates:
        return Rates(self.offered + other.offered, self.taken + other.taken)


def total(rates: Iterable[Rates | None]) -> Rates | None:
    """The sum of the sources that have a figure (None if none has)."""
    known = [r for r in rates if r is not None]
    if not known:
        return None
    result = known[0]
    for r in known[1:]:
        result = result + r
    return result


class Window:
    """One source's readings over the last ``window_s``: its rates, exact between the first and last."""

    def __init__(self, window_s: float = WINDOW_S, stale_s: float = STALE_S) -> None:
        self.window_s, self.stale_s = window_s, stale_s
        self.readings: deque[Reading] = deque()

    def add(self, reading: Reading) -> None:
        if self.readings and reading.offered_lines < self.readings[-1].offered_lines:
            self.readings.clear()          # a counter went back: Loki restarted
        self.readings.append(reading)
        # Keep the last reading at or before the window's start, so the span covers the whole window.
        while len(self.readings) >= 2 and self.readings[1].t <= reading.t - self.window_s:
            self.readings.popleft()

    def rates(self, now: float) -> Rates | None:
        """Rates over the window; None without two readings, or when the source went silent."""
        if len(self.readings) < 2 or now - self.readings[-1].t > self.stale_s:
            return None
        return (self.readings[-1] - self.readings[0]).rates()


@dataclass(frozen=True)
class Goal:
    """The figure the run is held against: gate.yml's ``ingest_lines_per_s`` at ``avg_line_bytes``."""

    lines_per_s: float | None
    line_bytes: float | None
    note: str

    @classmethod
    def from_policy(cls, path: Path = POLICY) -> Goal:
        try:
            policy = load_policy(path)
            lines, size = policy.target("ingest_lines_per_s"), policy.target("avg_line_bytes")
        except InputError as exc:
            return cls(None, None, f"unknown: {exc}")
        return cls(lines.value, size.value,
                   f"{path} targets.ingest_lines_per_s, MiB/s at targets.avg_line_bytes {size.value:g} B")

    @property
    def rate(self) -> Rate | None:
        if self.lines_per_s is None or self.line_bytes is None:
            return None
        return Rate(self.lines_per_s, self.lines_per_s * self.line_bytes / MIB)

    def share(self, lines_per_s: float) -> str:
        return "" if not self.lines_per_s else f"{lines_per_s / self.lines_per_s:.0%} of the target"


@dataclass(frozen=True)
class RunFigures:
    """One run, start to stop: what was offered, acknowledged and accepted, and whether all was stored.

    ``stored`` counts the tag's lines in Loki; ``acknowledged_for_tag`` is every line acknowledged
    under that tag by this Locust process (a tag may span several runs started from the UI).
    """

    run_tag: str
    tally: Reading                       # difference: t = the run's seconds
    failed_pushes: Mapping[str, int]
    loki: Reading | None                 # difference of Loki's counters over the run
    loki_note: str
    acknowledged_for_tag: int
    peak: Rate | None = None             # the highest live rate taken (Loki's accepted, else acknowledged)
    peak_of: str = ""
    tally_note: str = ""                 # why the tally may lack workers' last counts ("" when it does not)
    stored: int | None = None
    stored_note: str = "counting…"

    def as_dict(self) -> dict[str, Any]:
        rates, loki = self.tally.rates(), self.loki.rates() if self.loki else None
        return {"run_tag": self.run_tag, "seconds": round(self.tally.t, 1),
                "offered_lines": int(self.tally.offered_lines), "offered_bytes": int(self.tally.offered_bytes),
                "acknowledged_lines": int(self.tally.taken_lines), "acknowledged_bytes": int(self.tally.taken_bytes),
                "offered": rates.offered.as_dict() if rates else None,
                "acknowledged": rates.taken.as_dict() if rates else None,
                "failed_pushes": dict(self.failed_pushes),
                "loki_accepted_lines": int(self.loki.taken_lines) if self.loki else None,
                "loki_accepted": loki.taken.as_dict() if loki else None, "loki_note": self.loki_note,
                "peak": self.peak.as_dict() if self.peak else None, "peak_of": self.peak_of,
                "tally_note": self.tally_note,
                "stored_lines": self.stored, "acknowledged_for_tag": self.acknowledged_for_tag,
                "stored_note": self.stored_note}

    def stored_verdict(self) -> str:
        """The count against the acknowledged lines, in words."""
        if self.stored is None:
            return self.stored_note
        counted = f"{self.stored:,} of {self.acknowledged_for_tag:,} acknowledged lines counted in Loki"
        missing = self.acknowledged_for_tag - self.stored
        if missing == 0:
            return f"{counted}: all stored"
        if missing > 0:
            return f"{counted}: {missing:,} missing"
        why = self.tally_note or "pushes Loki stored whose answer never came"
        return f"{counted}: {-missing:,} more than acknowledged ({why})"


def summary(run: RunFigures, goal: Goal) -> str:
    """The run's figures in one line (headless runs print it at stop, once)."""
    rates = run.tally.rates()
    parts = [f"obs-gate load, in lines, over {run.tally.t:.0f} s (tag {run.run_tag}):"]
    if rates is not None:
        parts.append(f"offered {rates.offered.lines_per_s:,.0f} lines/s ({rates.offered.mib_per_s:.2f} MiB/s), "
                     f"acknowledged {rates.taken.lines_per_s:,.0f} lines/s;")
    loki = run.loki.rates() if run.loki else None
    caveat = f" ({run.loki_note})" if run.loki_note else ""
    parts.append(f"Loki accepted {loki.taken.lines_per_s:,.0f} lines/s{caveat};" if loki else f"Loki accepted: {run.loki_note};")
    if run.peak is not None:
        share = f", {goal.share(run.peak.lines_per_s)}" if goal.lines_per_s else ""
        parts.append(f"highest {WINDOW_S:.0f} s: {run.peak.lines_per_s:,.0f} lines/s {run.peak_of}{share};")
    if goal.lines_per_s is not None:
        parts.append(f"target {goal.lines_per_s:,.0f} lines/s;")
    if run.failed_pushes:
        parts.append(f"failed pushes: {dict(run.failed_pushes)};")
    parts.append(f"stored: {run.stored_verdict()}")
    return " ".join(parts)


def _figure(rate: Rate | None) -> tuple[str, str]:
    return ("—", "—") if rate is None else (f"{rate.lines_per_s:,.0f}", f"{rate.mib_per_s:.2f}")


def _row(figure: str, rate: Rate | None, note: str) -> dict[str, str]:
    lines, mib = _figure(rate)
    return {"figure": figure, "lines": lines, "mib": mib, "note": note}


@dataclass(frozen=True)
class Snapshot:
    """Everything the tab and the JSON route show at one moment."""

    state: str
    run_tag: str
    goal: Goal
    tally: Rates | None                   # all workers: offered and acknowledged
    loki: Rates | None
    loki_note: str                        # why there is no Loki figure ("" when there is)
    workers: Mapping[str, Rates | None] = field(default_factory=dict)
    run: RunFigures | None = None

    def as_dict(self) -> dict[str, Any]:
        def rate(r: Rate | None) -> dict[str, float] | None:
            return r.as_dict() if r else None
        return {"state": self.state, "run_tag": self.run_tag, "window_s": WINDOW_S,
                "target": {**(rate(self.goal.rate) or {"lines_per_s": None, "mib_per_s": None}), "note": self.goal.note},
                "live": {"offered": rate(self.tally.offered if self.tally else None),
                         "acknowledged": rate(self.tally.taken if self.tally else None),
                         "loki_accepted": rate(self.loki.taken if self.loki else None), "loki_note": self.loki_note,
                         "workers": {w: {"offered": rate(r.offered if r else None), "acknowledged": rate(r.taken if r else None)}
                                     for w, r in self.workers.items()}},
                "run": self.run.as_dict() if self.run else None,
                "rows": self.rows()}

    def rows(self) -> list[dict[str, str]]:
        """The tab's table: live rates, the target, each worker, then the last run's figures."""
        last = f"last {WINDOW_S:.0f} s"
        spread = f"; {len(self.workers)} workers" if self.workers else ""
        loki_note = self.loki_note or f"its counters, received − discarded, {last}"
        if self.loki is not None:
            discarding = self.loki.offered.lines_per_s - self.loki.taken.lines_per_s
            loki_note += f"; discarding {discarding:,.0f} lines/s" if discarding >= 1 else ""
        taken = self.loki.taken if self.loki else self.tally.taken if self.tally else None
        rows = [_row("offered", self.tally.offered if self.tally else None,
                     f"pushes answered, acknowledged or refused, {last}{spread}"),
                _row("acknowledged (204)", self.tally.taken if self.tally else None, last),
                _row("Loki accepted", self.loki.taken if self.loki else None, loki_note)]
        share = self.goal.share(taken.lines_per_s) if taken is not None and taken.lines_per_s > 0 else ""
        rows.append(_row("target", self.goal.rate, f"{self.goal.note}{f'; now {share}' if share else ''}"))
        for index, (worker, rates) in enumerate(self.workers.items(), 1):
            rows.append(_row(f"worker {index}: offered", rates.offered if rates else None, worker))
        if self.run is not None:
            rows.extend(self._run_rows(self.run))
        return rows

    def _run_rows(self, run: RunFigures) -> list[dict[str, str]]:
        rates, loki = run.tally.rates(), run.loki.rates() if run.loki else None
        failed = sum(run.failed_pushes.values())
        return [
            _row("last run: offered", rates.offered if rates else None,
                 f"average of {run.tally.offered_lines:,.0f} lines over {run.tally.t:.0f} s"),
            _row("last run: acknowledged", rates.taken if rates else None,
                 f"{run.tally.taken_lines:,.0f} lines; {failed} pushes failed"
                 + (f": {dict(run.failed_pushes)}" if failed else "")),
            _row("last run: Loki accepted", loki.taken if loki else None,
                 "; ".join(filter(None, (f"{run.loki.taken_lines:,.0f} lines", run.loki_note))) if run.loki else run.loki_note),
            _row(f"last run: highest {WINDOW_S:.0f} s", run.peak,
                 f"{run.peak_of}; {self.goal.share(run.peak.lines_per_s)}" if run.peak and self.goal.lines_per_s
                 else run.peak_of),
            {"figure": "stored lines", "lines": "", "mib": "",
             "note": f"{run.stored_verdict()} (gate_run={run.run_tag})"},
        ]




def stored_lines(query: Query, run_tag: str, since_s: float, expected: int, timeout_s: float = COUNT_TIMEOUT_S) -> int:
    """Lines Loki counts for the run's tag, polled until at least ``expected`` (or the timeout: the last count)."""
    return stored.count_stored(query, run_tag, since_s, expected, timeout_s, at_least=True,
                               fatal=(urllib.error.HTTPError, ValueError))  # a refusal, an answer that is no count


def loki_query(options: LoadOptions, create_context: Callable[..., Any]) -> Query:
    """An instant LogQL query where the pushes went (nginx with the read credential, or Loki directly).

    Over urllib, as the preflight push: httpx checks its pooled connections with ``select.epoll``,
    which gevent's patching removes.
    """
    context = client_context(options.ca_file, create_context) if options.tls else None
    headers = {}
    if options.read_auth is not None:
        token = base64.b64encode(":".join(options.read_auth).encode()).decode()
        headers["Authorization"] = f"Basic {token}"

    def query(logql: str, at_ns: int) -> list[Series]:
        url = f"{options.host}{INSTANT_QUERY_PATH}?{urlencode({'query': logql, 'time': str(at_ns)})}"
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=COUNT_QUERY_TIMEOUT_S,
                                    context=context) as response:
            return series(json.load(response)["data"])
    return query


def loki_increase(earlier: LokiCounters, later: LokiCounters) -> Reading:
    """What Loki counted between two scrapes; counters lower than before mean it restarted, counting from 0
    (as Prometheus' ``increase`` reads a reset)."""
    if later.lines_received < earlier.lines_received:
        return Reading.of_loki(0, later)
    return Reading.of_loki(0, later) - Reading.of_loki(0, earlier)


class Board:
    """The figures of the master (or the only process); a worker keeps none, it reports its tally."""

    def __init__(self, tally: Tally, options: Callable[[Environment], LoadOptions],
                 create_context: Callable[..., Any]) -> None:
        self.tally, self.options, self.create_context = tally, options, create_context
        self.environment: Environment | None = None
        self.distributed = self.headless = False
        self.goal = Goal(None, None, "unknown: not read yet")
        self.local = Window()
        self.workers: dict[str, Window] = {}
        self.worker_counts: dict[str, dict[str, int]] = {}
        self.final_reports: set[str] = set()
        self.loki = Window()
        self.metrics_url, self.loki_note, self.run_tag = "", NO_METRICS, ""
        self.started_at: float | None = None
        self.stopped_at: float | None = None
        self.baseline: dict[str, Any] = {}
        self.loki_last: LokiCounters | None = None
        self.loki_run: Reading | None = None              # what Loki counted since the run's first scrape
        self.loki_restarts = 0
        self.tags: dict[str, tuple[float, int]] = {}     # tag -> (first start, lines acknowledged under it)
        self.run: RunFigures | None = None
        self.peak: Rate | None = None
        self.generation = 0                               # one per run started
        self.sampling = False
        self.finisher: Greenlet | None = None

    # --- Locust's events -------------------------------------------------------------------------

    def attach(self, environment: Environment, distributed: bool) -> None:
        """At init: remember the run's environment, read the target, add the tab and the route."""
        self.environment, self.distributed = environment, distributed
        ns = environment.parsed_options
        self.headless = bool(ns is None or getattr(ns, "headless", False))
        self.metrics_url = getattr(ns, "loki_metrics_url", "") or ""
        self.run_tag = getattr(ns, "run_tag", "") or ""
        self.loki_note = "" if self.metrics_url else NO_METRICS
        self.goal = Goal.from_policy()
        web = environment.web_ui
        if web is None or web.app is None:
            return
        web.template_args["extended_tabs"] = [{"title": "obs-gate lines/s", "key": TAB}]
        web.template_args["extended_tables"] = [{"key": TAB, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}]
        web.app.add_url_rule(ROUTE, "obsgate_figures", web.auth_required_if_enabled(lambda: self.snapshot().as_dict()))
        stats = web.app.view_functions[STATS_VIEW]
        web.app.view_functions[STATS_VIEW] = lambda *args, **kwargs: self.extend_stats(stats(*args, **kwargs))

    def extend_stats(self, response: Any) -> Any:
        """The tab's rows on every /stats/requests answer (what the UI polls), as Locust's example does.

        (Wrapping that view rather than an ``after_request`` hook: the hook needs Flask's ``request``,
        and Flask is Locust's dependency, not obs-gate's.)
        """
        if not response.is_json:
            return response
        data = response.get_json()
        data["extended_stats"] = [{"key": TAB, "data": self.snapshot().rows()}]
        response.set_data(json.dumps(data))
        return response

    def test_start(self, environment: Environment) -> None:
        try:
            options = self.options(environment)
        except OptionError:
            return                              # the run is being stopped for it (user.py)
        now = time.time()
        self.metrics_url, self.run_tag = options.loki_metrics_url, options.run_tag
        self.loki_note = "" if self.metrics_url else NO_METRICS
        self.started_at, self.stopped_at, self.run, self.peak = now, None, None, None
        self.generation += 1
        self.baseline = self.tally.counts()
        self.loki_last, self.loki_run, self.loki_restarts = None, None, 0
        self.final_reports.clear()
        self.tags.setdefault(self.run_tag, (now, 0))
        self.sampling = True
        gevent.spawn(self._sample, self.generation)       # the last run's sampler ends: its generation is past

    def worker_report(self, client_id: str, data: Mapping[str, Any]) -> None:
        """A worker's deltas, added up per worker; its first report with no users after a stop is its last."""
        delta = data.get("obsgate")
        if delta is not None:
            counts = self.worker_counts.setdefault(client_id, dict.fromkeys(("lines", "failed_lines", "line_bytes",
                                                                             "failed_line_bytes"), 0))
            for key in counts:
                counts[key] += delta[key]
            self.workers.setdefault(client_id, Window()).add(Reading.of_tally(time.time(), counts))
        if self.stopped_at is not None and data.get("user_count") == 0:
            self.final_reports.add(client_id)

    def test_stop(self, environment: Environment) -> None:
        if self.started_at is None:
            return
        self.stopped_at = time.time()
        if not self.headless:                   # headless: at quitting, when the process is about to end
            self.finisher = gevent.spawn(self.finish, self.distributed)

    def quitting(self, environment: Environment) -> None:
        if self.started_at is None:
            return
        if self.finisher is not None:
            self.finisher.join(timeout=FINAL_REPORTS_TIMEOUT_S + COUNT_TIMEOUT_S + COUNT_QUERY_TIMEOUT_S)
        elif self.run is None:
            self.finish(wait_for_workers=False)

    # --- the figures -----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        now = time.time()
        runner = self.environment.runner if self.environment else None
        tally = total(w.rates(now) for w in self.workers.values()) if self.distributed else self.local.rates(now)
        return Snapshot(state=str(runner.state) if runner else "", run_tag=self.run_tag, goal=self.goal, tally=tally,
                        loki=self.loki.rates(now), loki_note=self.loki_note,
                        workers={w: window.rates(now) for w, window in self.workers.items()}, run=self.run)

    def finish(self, wait_for_workers: bool) -> None:
        """The run's figures once every count is in: the workers' last reports, Loki's counters, the stored lines.

        A run started from the UI meanwhile owns the board: this one's figures are then given up, not mixed in.
        """
        generation = self.generation
        try:
            tally_note = self._await_final_reports() if wait_for_workers else HEADLESS_MASTER \
                if self.distributed else ""
            if generation != self.generation:
                log.warning("obs-gate load: a new run started before the last one's figures were in: not shown")
                return
            last_read = self._scrape()
            stopped = self.stopped_at or time.time()
            assert self.started_at is not None
            tally = Reading.of_tally(stopped, self.tally.counts()) - Reading.of_tally(self.started_at, self.baseline)
            failed = {k: v - self.baseline["failures"].get(k, 0) for k, v in self.tally.failures.items()
                      if v > self.baseline["failures"].get(k, 0)}
            loki = replace(self.loki_run, t=tally.t) if self.loki_run is not None else None
            since, acknowledged = self.tags[self.run_tag]
            acknowledged += int(tally.taken_lines)
            self.tags[self.run_tag] = (since, acknowledged)
            loki_note = self.loki_note or "no reading" if loki is None else \
                f"its last reading failed ({self.loki_note}): counted up to the one before" if not last_read else \
                f"Loki restarted {self.loki_restarts}x: what it took just before is not counted" if self.loki_restarts else ""
            self.run = RunFigures(self.run_tag, tally, failed, loki, loki_note,
                                  acknowledged, self.peak, "Loki accepted" if self.metrics_url else "acknowledged",
                                  tally_note)
            run = self._count(self.run, since)
            log.info("%s", summary(run, self.goal))
            if generation == self.generation:
                self.run = run
        finally:
            if generation == self.generation:
                self.sampling = False

    def _count(self, run: RunFigures, since: float) -> RunFigures:
        assert self.environment is not None
        try:
            query = loki_query(self.options(self.environment), self.create_context)
            return replace(run, stored=stored_lines(query, run.run_tag, since, run.acknowledged_for_tag), stored_note="")
        except (OptionError, WaitTimeout, OSError, KeyError, ValueError) as exc:
            return replace(run, stored_note=f"not counted: {type(exc).__name__}: {str(exc)[:200]}")

    def _await_final_reports(self) -> str:
        """Wait for every worker's report with no users left; what is missing, in words ("" if nothing)."""
        expected = set(self.workers)
        try:
            poll(lambda: expected <= self.final_reports or None, timeout_s=FINAL_REPORTS_TIMEOUT_S,
                 what="every worker's last report after the stop", interval_s=0.5)
        except WaitTimeout:
            missing = f"{len(expected - self.final_reports)} of {len(expected)} workers sent no report after the stop"
            log.warning("obs-gate load: %s: their last counts are missing", missing)
            return missing
        return ""

    def _sample(self, generation: int) -> None:
        """The local tally every second and Loki's counters every 2 s, from the start until the run's figures are final."""
        next_scrape = 0.0
        while self.sampling and generation == self.generation:
            now = time.time()
            if not self.distributed:
                self.local.add(Reading.of_tally(now, self.tally.counts()))
            if now >= next_scrape:
                self._scrape()
                next_scrape = now + SCRAPE_S
            if self.stopped_at is None:
                self._note_peak(self.snapshot())
            gevent.sleep(SAMPLE_S)

    def _note_peak(self, now: Snapshot) -> None:
        source = now.loki if self.metrics_url else now.tally
        if source is not None and (self.peak is None or source.taken.lines_per_s > self.peak.lines_per_s):
            self.peak = source.taken

    def _scrape(self) -> bool:
        """One reading of Loki's counters into the live window and the run's total; False if none was had."""
        if not self.metrics_url:
            return False
        try:
            reading = counters.scrape(self.metrics_url, timeout_s=SCRAPE_TIMEOUT_S)
        except (OSError, ValueError) as exc:
            self.loki_note = f"unknown: Loki's counters unreadable at {self.metrics_url}: {exc}"
            return False
        self.loki_note = ""
        if self.loki_last is not None:
            self.loki_run = (self.loki_run or Reading(0, 0, 0, 0, 0)) + loki_increase(self.loki_last, reading)
            self.loki_restarts += reading.lines_received < self.loki_last.lines_received
        self.loki_last = reading
        self.loki.add(Reading.of_loki(time.time(), reading))
        return True


def listen() -> None:
    """Register the board on Locust's events (the locustfile calls this once)."""
    import gevent.ssl
    from locust import events
    from locust.runners import MasterRunner, WorkerRunner

    from obsgate.load.user import TALLY, current_options

    board = Board(TALLY, current_options, gevent.ssl.create_default_context)

    def on(environment: Environment) -> bool:
        return board.environment is environment and not isinstance(environment.runner, WorkerRunner)

    @events.init.add_listener
    def _init(environment: Environment, **_: Any) -> None:
        if not isinstance(environment.runner, WorkerRunner):
            board.attach(environment, isinstance(environment.runner, MasterRunner))

    @events.test_start.add_listener
    def _start(environment: Environment, **_: Any) -> None:
        if on(environment):
            board.test_start(environment)

    @events.worker_report.add_listener
    def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        board.worker_report(client_id, data)

    @events.test_stop.add_listener
    def _stop(environment: Environment, **_: Any) -> None:
        if on(environment):
            board.test_stop(environment)

    @events.quitting.add_listener
    def _quitting(environment: Environment, **_: Any) -> None:
        if on(environment):
            board.quitting(environment)
