"""The round-trip, search and freshness checks fail by their own judgement, not only through a refused push.

The live self-tests (tests/selftest/test_logs_checks_fail.py) fail them with a 502 from the push or a Loki
refusing queries: the checks never get to judge a line. Here the checks of tests/integration/logs are called
as they are, against an in-memory Loki (Loki's HTTP API served through httpx's MockTransport: JSON and
protobuf+snappy pushes, log queries with the LogQL the checks use) that accepts every push and answers every
query, but changes one thing: a line's bytes on the way out, a label on the way in, which run's lines a query
may see, or how long a line takes to become readable. Recorded input rather than a live variant: the same
faults in a real Loki need a Loki image CI lacks, and a slow Loki would keep the machine busy for minutes.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

import obsgate.checks.logs as logs_module
import tests.integration.logs.test_logs_freshness as freshness
import tests.integration.logs.test_logs_round_trip as round_trip
import tests.integration.logs.test_logs_search as search
from obsgate.checks.logs import RUN_LABEL, LogsClient
from obsgate.clients import Endpoint, LokiAPI, logproto
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder

ROOT = Path(__file__).resolve().parents[2]
MATCHER = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
# LogQL pipeline stages the checks use: a line filter, the json parser, a label filter.
STAGE = re.compile(r'\|=\s*("(?:[^"\\]|\\.)*")|\|\s*(json)\b|\|\s*(\w+)\s*=\s*("(?:[^"\\]|\\.)*")')
Labels = dict[str, str]


def _labels(selector: str) -> Labels:
    return {k: json.loads(f'"{v}"') for k, v in MATCHER.findall(selector)}


@dataclass
class Loki:
    """Loki's push and query_range, in memory; each fault a hook the broken variants set."""

    streams: list[tuple[Labels, list[tuple[int, str]]]] = field(default_factory=list)
    on_push: Callable[[Labels], Labels] = lambda labels: labels            # what the distributor keeps
    on_read: Callable[[str], str] = lambda line: line                      # what the query path answers
    matches: Callable[[Labels, Labels], bool] = lambda wanted, labels: wanted.items() <= labels.items()
    visible_after_queries: int = 0     # a pushed line is returned from this many queries after its push on
    queries: int = 0
    pushed_at: dict[tuple[int, str], int] = field(default_factory=dict)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/loki/api/v1/push":
            return self.push(request)
        assert request.url.path == "/loki/api/v1/query_range", request.url
        self.queries += 1
        query = request.url.params["query"]
        head, _, pipeline = query.partition("}")
        wanted = _labels(head)
        result = []
        for labels, entries in self.streams:
            if not self.matches(wanted, labels):
                continue
            values = [[str(ts), self.on_read(line)] for ts, line in entries
                      if self.queries - self.pushed_at[(ts, line)] > self.visible_after_queries
                      and self._passes(pipeline, labels, line)]
            if values:
                result.append({"stream": labels, "values": values})
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "streams", "result": result}})

    @staticmethod
    def _passes(pipeline: str, labels: Labels, line: str) -> bool:
        fields = dict(labels)
        for text, parse, key, value in STAGE.findall(pipeline):
            if text:
                if json.loads(text) not in line:
                    return False
            elif parse:
                try:
                    fields |= {k: str(v) for k, v in json.loads(line).items()}
                except (ValueError, AttributeError):
                    return False
            elif fields.get(key) != json.loads(value):
                return False
        return True

    def push(self, request: httpx.Request) -> httpx.Response:
        if request.headers["content-type"] == "application/json":
            streams = [(s["stream"], [(int(t), line) for t, line in s["values"]])
                       for s in json.loads(request.content)["streams"]]
        else:
            streams = [(_labels(selector), entries) for selector, entries in logproto.decode(request.content)]
        for labels, entries in streams:
            self.streams.append((self.on_push(labels), entries))
            self.pushed_at |= {entry: self.queries for entry in entries}
        return httpx.Response(204)


@pytest.fixture
def loki(monkeypatch: pytest.MonkeyPatch) -> Loki:
    fake = Loki()
    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(fake.handle), **kw))
    return fake


@pytest.fixture
def api(loki: Loki) -> Iterator[LokiAPI]:
    client = LokiAPI(Endpoint(lambda: "http://loki.test"))
    yield client
    client.close()


@pytest.fixture
def logs(api: LokiAPI) -> LogsClient:
    return LogsClient(api, api, "obsgate-unit-run-0001", evidence=lambda: "(Loki's log tail)")


ROUND_TRIPS = {"json": round_trip.test_logs_json_push_round_trip_is_byte_identical,
               "protobuf": round_trip.test_logs_protobuf_push_round_trip_is_byte_identical}


@pytest.mark.parametrize("fmt", ROUND_TRIPS)
def test_round_trip_checks_pass_on_a_faithful_loki(fmt: str, loki: Loki, logs: LogsClient, gate: GateRecorder) -> None:
    ROUND_TRIPS[fmt](logs, gate, ["site line ✓"])
    assert gate.evidence["pushed"]["entries"] == 7


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The round trip's wait for its lines cut from 15 s to 1 s: a changed line never turns up, however long."""
    monkeypatch.setattr(round_trip, "QUERYABLE_TIMEOUT_S", 1.0)


@pytest.mark.parametrize("fmt", ROUND_TRIPS)
def test_round_trip_checks_fail_naming_the_line_whose_bytes_changed(fmt: str, loki: Loki, logs: LogsClient,
                                                                    gate: GateRecorder, quick: None) -> None:
    """A query path that normalizes Unicode (NFC, as a re-encoding proxy might): "e" + combining acute, 3 bytes,
    comes back as "é", 2 bytes; everything else is returned as pushed. All 6 entries come back, one of them not
    the line pushed: the check fails at once naming it, its sizes and the first byte that differs."""
    loki.on_read = lambda line: unicodedata.normalize("NFC", line)
    with pytest.raises(AssertionError) as failed:
        ROUND_TRIPS[fmt](logs, gate, [])
    reason = str(failed.value)
    assert reason.startswith("1 of the pushed lines came back changed; the first at ts="), reason
    assert "pushed 106 B, read 105 B, first difference at byte " in reason, reason
    assert "line starts 'Zahlung fehlgeschlagen – café ñ 日本語 한국어 العربية עברית 🍷🧾 e\u0301 " in reason, reason


def test_round_trip_check_fails_on_a_line_cut_short(loki: Loki, logs: LogsClient, gate: GateRecorder,
                                                   quick: None) -> None:
    """A query path that cuts lines at 16 KiB (a proxy buffer): the 64 KiB dump is the line named."""
    loki.on_read = lambda line: line[:16384]
    with pytest.raises(AssertionError, match=r"changed; the first at ts=\d+: pushed 65536 B, read 16384 B, first "
                                             r"difference at byte 16384: pushed b'.*line starts 'large "):
        round_trip.test_logs_json_push_round_trip_is_byte_identical(logs, gate, [])


def test_search_check_passes_on_a_faithful_loki(loki: Loki, logs: LogsClient, gate: GateRecorder) -> None:
    search.test_logs_searchable_by_store_terminal_and_error_type(logs, gate, SimpleNamespace(run_id="unit-run"))
    assert gate.evidence["searches"]["store (label)"].startswith("4 of 4 expected")


def test_search_check_fails_when_the_store_label_is_lost_on_the_way_in(loki: Loki, logs: LogsClient,
                                                                      gate: GateRecorder) -> None:
    """Every line is stored and found by its run, but without its ``location`` label (a relabelling agent or
    proxy dropping it): the search by store finds none of the four STORE_101 lines."""
    loki.on_push = lambda labels: {k: v for k, v in labels.items() if k != "location"}
    with pytest.raises(AssertionError) as failed:
        search.test_logs_searchable_by_store_terminal_and_error_type(logs, gate, SimpleNamespace(run_id="unit-run"))
    reason = str(failed.value)
    assert reason.startswith("search by store (label) found 0 lines, expected 4\n"), reason
    assert 'query: {gate_run="obsgate-unit-run-0001", location="STORE_101"}' in reason
    assert "missing: ['{\"message\": \"Sale completed\"" in reason, reason


def test_search_check_fails_when_a_search_returns_another_runs_lines(loki: Loki, logs: LogsClient,
                                                                    gate: GateRecorder) -> None:
    """A Loki that matches streams on every label but the run's (a tenant or label mix-up): the other run's
    lines, pushed at the same moment with the same stores, come back in this run's search."""
    loki.matches = lambda wanted, labels: all(labels.get(k) == v for k, v in wanted.items() if k != RUN_LABEL)
    with pytest.raises(AssertionError) as failed:
        search.test_logs_searchable_by_store_terminal_and_error_type(logs, gate, SimpleNamespace(run_id="unit-run"))
    assert str(failed.value).startswith("search by store (label) returned another run's lines: ['{"), failed.value


@dataclass
class Clock:
    """monotonic() for obsgate.checks.logs: each query Loki answers takes ``per_query_s``."""

    loki: Loki
    per_query_s: float

    def monotonic(self) -> float:
        return self.loki.queries * self.per_query_s

    @staticmethod
    def time_ns() -> int:
        import time
        return time.time_ns()


def test_freshness_check_fails_when_lines_become_readable_late(loki: Loki, logs: LogsClient, api: LokiAPI,
                                                              policy: Policy, gate: GateRecorder,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Each pushed line is returned from the second query after its push, and each query takes 4.5 s of the
    probe's clock: every probe reads its line 9 s after pushing it, over freshness_p95_s's 7.5 s band."""
    loki.visible_after_queries = 1
    monkeypatch.setattr(logs_module, "time", Clock(loki, per_query_s=4.5))
    with pytest.raises(AssertionError) as failed:
        freshness.test_logs_freshness_p95_push_to_queryable(logs, api, policy, gate)
    assert str(failed.value) == "freshness_p95_s: 9 s > target 5 s (outside soft-miss band <= 7.5)", failed.value
    assert gate.evidence["freshness"]["probes"] == freshness.FRESHNESS_PROBES
    assert gate.evidence["freshness"]["p50_s"] == 9.0


def test_freshness_check_passes_when_lines_are_readable_at_once(loki: Loki, logs: LogsClient, api: LokiAPI,
                                                               policy: Policy, gate: GateRecorder,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs_module, "time", Clock(loki, per_query_s=0.5))
    freshness.test_logs_freshness_p95_push_to_queryable(logs, api, policy, gate)
    assert gate.evidence["freshness"]["p95_s"] == 0.5
