"""Canary-grade data path: every line the gate pushes carries its stream and a sequence number, so
what comes back (a paged query, a live tail) is judged line by line, as Grafana's loki-canary does:
how many lines of each stream are *missing*, came back twice (*duplicate*), or came back after a
later one of the same stream (*out of order*), not only whether the totals match.

Safe on a production deployment (``--target``): the lines are small, carry the run label
(``gate_run=<run id>-<random>``) and the gate's one dedicated job label (``job=obs-gate``, as every
line the gate writes); nothing is deleted or reconfigured.

The tail is read through nginx with the read credential, as Grafana's live view does; its latency
is push acknowledged (204) -> entry delivered by the tail. Paging moves the window by the last
timestamp answered (``LokiAPI.pages``), as Grafana and logcli do.

Lines that have left the ingester are answered from storage (container mode only: an overlay of its
own). Loki's own integration tests (integration/loki_micro_services_test.go, 2.9 through 3.x) prove it
with a querier started with ``-querier.query-store-only=true`` after the ingester flushed: that querier
asks no ingester, so whatever it answers came from the chunks and index in storage. The single binary
cannot do it alone (2.9.3, measured: with the flag, its own freshly flushed lines stay invisible until
their index is shipped, and its index-shipper client leaves out what it uploaded itself), so the overlay
runs the production Loki, plus a second container of the same image and config on the same volume:

- the writer: the production command plus ``-ingester.flush-on-shutdown=true``; a graceful restart writes
  every chunk and ships the TSDB index (otherwise built every 15 minutes);
- the store querier: ``-target=querier -querier.query-store-only=true``, the compactor it filters deletes
  with at ``-common.compactor-address=http://loki:3100`` (a querier refuses to start without one while
  retention is on), and its index cache in a directory of its own on the volume; restarted after the
  writer's, so it lists the shipped index (it re-lists only every ``resync_interval``, 5 minutes).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from obsgate.bringup.context import RunContext
from obsgate.bringup.overlay import overlay_stack
from obsgate.checks.logs import NS, QUERY_SLACK_NS, LogsClient, Stream, new_run_label, percentile
from obsgate.clients.loki import Entry, LokiAPI, LokiTail, Paged, Tailed
from obsgate.core.causes import EXTERNAL
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.wait import WaitTimeout, poll
from obsgate.stackfiles.compose import ServiceSpec

CANARY = {"probe": "canary"}        # beside the run label and the gate's one job label (obsgate.checks.logs.GATE_JOB)
STREAM_LABEL = "canary_stream"
PREFIX = "obsgate-canary"
_LINE = re.compile(rf"^{PREFIX} stream=(?P<stream>\S+) seq=(?P<seq>\d+)(?: |$)")


def canary_line(stream: str, seq: int) -> str:
    """``obsgate-canary stream=<stream> seq=<seq>``: small, and says what it is to whoever finds it."""
    return f"{PREFIX} stream={stream} seq={seq:06d}"


def parse_line(line: str) -> tuple[str, int] | None:
    """(stream, seq) of a canary line; None for any other line."""
    match = _LINE.match(line)
    return (match["stream"], int(match["seq"])) if match else None


def stream_names(count: int) -> list[str]:
    return [f"s{i}" for i in range(count)]


def canary_streams(logs: LogsClient, names: Sequence[str], lines: int, start_ns: int, per_ts: int = 1) -> list[Stream]:
    """``lines`` numbered lines per stream (labels: the run label, ``probe=canary``, ``canary_stream``); the timestamps of
    one stream rise by 1 ns every ``per_ts`` lines (``per_ts`` > 1: lines sharing a timestamp, as a
    millisecond clock gives them), streams interleaved so no two streams share a timestamp."""
    count = len(names)
    return [(logs.labels(**CANARY, **{STREAM_LABEL: name}),
             [(start_ns + (seq // per_ts) * count + i, canary_line(name, seq)) for seq in range(lines)])
            for i, name in enumerate(names)]


@dataclass(frozen=True)
class StreamTally:
    """What came back of one stream: loki-canary's counts."""

    stream: str
    pushed: int
    received: int
    missing: int
    duplicate: int
    out_of_order: int
    first_missing: int | None = None

    def describe(self) -> str:
        first = f" (first seq {self.first_missing})" if self.first_missing is not None else ""
        return (f"{self.stream}: {self.pushed} pushed, {self.received} read, {self.missing} missing{first},"
                f" {self.duplicate} duplicate, {self.out_of_order} out of order")


@dataclass(frozen=True)
class Tallies:
    """Every stream's tally, and lines that were no line of the canary's."""

    streams: tuple[StreamTally, ...]
    foreign: int = 0

    @property
    def missing(self) -> int:
        return sum(t.missing for t in self.streams)

    @property
    def duplicate(self) -> int:
        return sum(t.duplicate for t in self.streams)

    @property
    def out_of_order(self) -> int:
        return sum(t.out_of_order for t in self.streams)

    @property
    def final(self) -> bool:
        """Nothing missing, or a fault waiting cannot undo (a duplicate, an out-of-order line)."""
        return self.missing == 0 or self.duplicate > 0 or self.out_of_order > 0

    def describe(self) -> str:
        foreign = f"; {self.foreign} lines of no canary stream" if self.foreign else ""
        return "per stream: " + "; ".join(t.describe() for t in self.streams) + foreign

    def as_evidence(self) -> dict[str, dict[str, int | None]]:
        return {t.stream: {"pushed": t.pushed, "received": t.received, "missing": t.missing,
                           "duplicate": t.duplicate, "out_of_order": t.out_of_order, "first_missing": t.first_missing}
                for t in self.streams}


def tally(pushed: Mapping[str, int], lines: Iterable[str]) -> Tallies:
    """Count, per stream, lines missing, duplicated and out of order in ``lines`` (in the order read).

    ``pushed`` maps each stream to how many lines (seq 0 .. n-1) were pushed. A line is out of order when
    it is the first of its seq to arrive but a higher seq of its stream came before it; a repeat is a
    duplicate only (never also out of order), so one stray page counts once.
    """
    seen: dict[str, Counter[int]] = {name: Counter() for name in pushed}
    high: dict[str, int] = {}
    late: Counter[str] = Counter()
    foreign = 0
    for line in lines:
        parsed = parse_line(line)
        if parsed is None or parsed[0] not in pushed or not 0 <= parsed[1] < pushed[parsed[0]]:
            foreign += 1
            continue
        stream, seq = parsed
        if not seen[stream][seq] and seq < high.get(stream, -1):
            late[stream] += 1
        seen[stream][seq] += 1
        high[stream] = max(high.get(stream, -1), seq)
    tallies = []
    for stream, count in pushed.items():
        got = seen[stream]
        gone = [seq for seq in range(count) if not got[seq]]
        tallies.append(StreamTally(stream, count, sum(got.values()), len(gone),
                                   sum(n - 1 for n in got.values() if n > 1), late[stream], gone[0] if gone else None))
    return Tallies(tuple(tallies), foreign)


@dataclass
class ReadBack:
    """A paged read of the canary's lines until nothing was missing (or waiting could not help)."""

    tallies: Tallies
    paged: Paged
    reads: int
    waited_s: float

    def evidence(self) -> dict[str, object]:
        return {"tallies": self.tallies.as_evidence(), "foreign_lines": self.tallies.foreign, "reads": self.reads,
                "waited_s": round(self.waited_s, 3), "pages": len(self.paged.pages),
                "page_sizes": [p.answered for p in self.paged.pages], "stalled": self.paged.stalled or None}


def read_back(logs: LogsClient, pushed: Mapping[str, int], start_ns: int, page_lines: int,
              timeout_s: float) -> ReadBack:
    """Read every page of the run's canary streams until no line is missing; a duplicate or an out-of-order
    line ends the wait at once (waiting cannot undo it). On timeout the last read is the answer."""
    query = logs.selector(**CANARY)
    started = time.monotonic()
    last: list[ReadBack] = []

    def probe() -> ReadBack | None:
        paged = logs.read_api.pages(query, start_ns, time.time_ns() + QUERY_SLACK_NS, page_lines)
        reads = last[0].reads + 1 if last else 1
        result = ReadBack(tally(pushed, (line for _, (_, line) in paged.entries)), paged, reads,
                          time.monotonic() - started)
        last[:] = [result]
        return result if result.tallies.final else None

    try:
        return poll(probe, timeout_s=timeout_s, what=f"every canary line of {len(pushed)} streams")
    except WaitTimeout:
        if not last:
            raise
        return last[0]


def read_failure(read: ReadBack) -> str:
    """The failure context of a read: the per-stream counts, and why paging stopped early if it did."""
    stalled = f"; paging stopped early: {read.paged.stalled}" if read.paged.stalled else ""
    return read.tallies.describe() + stalled


# --- the live tail ------------------------------------------------------------------------------------

@dataclass
class TailReader:
    """Reads a live tail in a thread, keeping every entry with its arrival time."""

    tail: LokiTail
    arrived: list[Tailed] = field(default_factory=list)
    error: BaseException | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self.arrived += self.tail.receive(timeout_s=0.2)
        except Exception as exc:  # noqa: BLE001 - kept and raised in the check's thread
            if not self._stop.is_set():
                self.error = exc

    def lines(self) -> list[str]:
        return [t.entry[1] for t in list(self.arrived)]

    @contextmanager
    def running(self) -> Iterator[TailReader]:
        thread = threading.Thread(target=self.run, name="obsgate-canary-tail", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=2.0)
            self.tail.close()


@dataclass
class TailRun:
    """What the tail delivered of lines pushed one per request: per-line latency, and loki-canary's counts."""

    tallies: Tallies
    latencies_s: dict[int, float]               # seq -> push acknowledged -> delivered by the tail
    dropped: int

    @property
    def p95_s(self) -> float:
        return percentile(list(self.latencies_s.values()), 95) if self.latencies_s else float("inf")

    def evidence(self) -> dict[str, object]:
        values = list(self.latencies_s.values())
        figures = {"p50_s": round(percentile(values, 50), 4), "p95_s": round(self.p95_s, 4),
                   "max_s": round(max(values), 4)} if values else {}
        return {"tallies": self.tallies.as_evidence(), "delivered": len(values), "dropped_by_loki": self.dropped,
                **figures}


def tail_run(logs: LogsClient, tail: LokiTail, lines: int, timeout_s: float) -> TailRun:
    """Push ``lines`` numbered lines of one stream, one push each, while the tail is read; wait (up to
    ``timeout_s`` after the last push) until each was delivered. Each latency is from the push's 204 to the
    line's arrival on the tail."""
    name = "tail"
    reader = TailReader(tail)
    acked: dict[int, float] = {}
    with reader.running():
        start = time.time_ns()
        for seq in range(lines):
            logs.push_ok([(logs.labels(**CANARY, **{STREAM_LABEL: name}), [(start + seq, canary_line(name, seq))])])
            acked[seq] = time.monotonic()

        def delivered() -> bool:
            if reader.error is not None:
                raise reader.error
            counted = tally({name: lines}, reader.lines())
            return counted.final

        try:
            poll(delivered, timeout_s=timeout_s, what=f"{lines} canary lines on the live tail", interval_s=0.05)
        except WaitTimeout:
            pass
    first: dict[int, float] = {}
    for tailed in reader.arrived:
        parsed = parse_line(tailed.entry[1])
        if parsed is not None and parsed[0] == name and parsed[1] in acked:
            first.setdefault(parsed[1], tailed.arrived_s - acked[parsed[1]])
    return TailRun(tally({name: lines}, reader.lines()), first, tail.dropped)


# --- paging beyond one page ----------------------------------------------------------------------------

@dataclass(frozen=True)
class PagingPlan:
    """How the paging check reads: pages of the entries limit the repository's Loki config declares (what
    Grafana and tools page with), and more lines than one page."""

    page_lines: int
    lines: int
    per_ts: int = 3                 # lines sharing each timestamp: a page boundary falls inside a group

    @classmethod
    def of(cls, page_lines: int) -> PagingPlan:
        if page_lines <= 0:
            raise ValueError(f"max_entries_limit_per_query {page_lines}: no page size to read by")
        return cls(page_lines, page_lines + page_lines // 2 + 1)


def paging_order_faults(entries: Sequence[Entry]) -> int:
    """How many entries come back with a timestamp before the one read just before them (pages out of order)."""
    return sum(1 for (a, _), (b, _) in zip(entries, entries[1:], strict=False) if b < a)


# --- lines that left the ingester, answered from storage (container mode) -------------------------------

STORE_QUERIER = "loki-store"
WRITER_FLAGS = ("-ingester.flush-on-shutdown=true",)


def store_querier_flags(writer: str) -> tuple[str, ...]:
    return ("-target=querier", "-querier.query-store-only=true", f"-common.compactor-address=http://{writer}:3100",
            "-tsdb.shipper.cache-location=/loki/store-querier-cache")


def store_only_services(spec: ServiceSpec) -> dict[str, ServiceSpec]:
    """Loki's compose spec as the writer (flushing on shutdown) and a store-only querier on the same volumes."""
    if spec.command is None:
        raise InputError("the compose file", f"services.{spec.name}.command", "not set: no command to append the"
                         " store-only flags to", "spell out Loki's command, e.g. -config.file=...")
    writer = dataclasses.replace(spec, command=(*spec.command, *WRITER_FLAGS))
    querier = dataclasses.replace(spec, name=STORE_QUERIER, command=(*spec.command, *store_querier_flags(spec.name)),
                                  depends_on=(), ports=())
    return {spec.name: writer, STORE_QUERIER: querier}


@dataclass
class StoreRead:
    """What a store-only querier answered of lines that had left the ingester."""

    tallies: Tallies
    before_flush: int               # lines it answered while they were only in the ingester (must be 0)
    timings: dict[str, float]

    def evidence(self) -> dict[str, object]:
        return {"tallies": self.tallies.as_evidence(), "answered_before_flush": self.before_flush,
                "timings": self.timings}


def read_from_storage(run: RunContext, streams: int, lines: int, timeout_s: float) -> StoreRead:
    """On an overlay: push numbered lines to the writer, check the store querier does not have them yet, restart
    the writer (chunks flushed, index shipped), restart the querier (it lists the index), read them back there."""
    if run.target is not None:      # an overlay of the gate's own: nothing a --target's storage says
        raise NotEvaluated(EXTERNAL.text, EXTERNAL)
    spec = run.project.services["loki"]
    choices = run.image_choices()
    with overlay_stack(run, "store", store_only_services(spec), images={STORE_QUERIER: choices["loki"]}) as stack:
        writer, querier = stack["loki"].require(), stack[STORE_QUERIER].require()
        with LokiAPI.direct(writer) as push, LokiAPI.direct(querier) as read:
            logs = LogsClient(push, read, new_run_label(run.run_id), evidence=lambda: querier.log_tail(20))
            names = stream_names(streams)
            start = time.time_ns()
            logs.push_ok(canary_streams(logs, names, lines, start))
            pushed = dict.fromkeys(names, lines)
            before = tally(pushed, (line for _, line in logs.entries(logs.selector(**CANARY), start - NS)))
            timings = {"writer_restart_s": round(writer.restart(), 2), "querier_restart_s": round(querier.restart(), 2)}
            read_at = time.monotonic()
            back = read_back(logs, pushed, start - NS, streams * lines + 1, timeout_s)
            timings["read_s"] = round(time.monotonic() - read_at, 2)
            return StoreRead(back.tallies, sum(t.received for t in before.streams), timings)
