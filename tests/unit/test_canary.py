"""The canary's judgement and its Loki client parts (paging, the live tail), against small stand-ins."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websocket

from obsgate.bringup.secrets import BasicAuth
from obsgate.checks.canary import (
    CANARY,
    STORE_QUERIER,
    PagingPlan,
    canary_line,
    canary_streams,
    paging_order_faults,
    parse_line,
    read_back,
    read_from_storage,
    store_only_services,
    stream_names,
    tally,
)
from obsgate.checks.logs import LogsClient
from obsgate.clients import Endpoint, LokiAPI, ServiceError
from obsgate.clients.loki import LokiTail
from obsgate.core.causes import EXTERNAL
from obsgate.core.errors import NotEvaluated
from obsgate.stackfiles.compose import ServiceSpec

Row = tuple[dict[str, str], int, str]


@dataclass
class PagingLoki:
    """query_range as Loki answers it: entries with start <= ts < end, oldest first, at most ``limit``; equal
    timestamps in the order pushed. ``cache_first``: every query answers the first one's page (a cache keyed
    without the query string)."""

    rows: list[Row] = field(default_factory=list)
    late: list[Row] = field(default_factory=list)     # queryable from the second query on
    cache_first: bool = False
    asked: list[dict[str, str]] = field(default_factory=list)
    first: httpx.Response | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/loki/api/v1/push":
            for s in json.loads(request.content)["streams"]:
                self.rows += [(s["stream"], int(ts), line) for ts, line in s["values"]]
            return httpx.Response(204)
        params = dict(request.url.params)
        self.asked.append(params)
        if len(self.asked) == 2:
            self.rows += self.late
        if self.cache_first and self.first is not None:
            return self.first
        wanted = dict(re.findall(r'(\w+)="([^"]*)"', params["query"]))
        start, end, limit = int(params["start"]), int(params["end"]), int(params["limit"])
        rows = sorted((r for r in self.rows if wanted.items() <= r[0].items() and start <= r[1] < end),
                      key=lambda r: r[1])[:limit]
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for labels, ts, line in rows:
            streams.setdefault(tuple(sorted(labels.items())), []).append([str(ts), line])
        result = [{"stream": dict(k), "values": v} for k, v in streams.items()]
        response = httpx.Response(200, json={"status": "success", "data": {"resultType": "streams", "result": result}})
        self.first = self.first or response
        return response


@pytest.fixture
def loki(monkeypatch: pytest.MonkeyPatch) -> PagingLoki:
    fake = PagingLoki()
    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(fake.handle), **kw))
    return fake


@pytest.fixture
def logs(loki: PagingLoki) -> Iterator[LogsClient]:
    api = LokiAPI(Endpoint(lambda: "https://loki.test"))
    yield LogsClient(api, api, "run1-abcd")
    api.close()


def test_canary_lines_parse_back() -> None:
    assert canary_line("s1", 7) == "obsgate-canary stream=s1 seq=000007"
    assert parse_line(canary_line("s1", 7) + " more") == ("s1", 7)
    assert parse_line("obsgate-canary stream=s1 seq=12x") is None
    assert parse_line("something else") is None


def test_canary_streams_carry_the_run_and_job_labels_and_share_timestamps_only_within_a_stream(logs: LogsClient) -> None:
    streams = canary_streams(logs, stream_names(2), 4, 1000, per_ts=2)
    assert [labels for labels, _ in streams] == [{"gate_run": "run1-abcd", "probe": "canary", "canary_stream": "s0"},
                                                 {"gate_run": "run1-abcd", "probe": "canary", "canary_stream": "s1"}]
    assert [ts for ts, _ in streams[0][1]] == [1000, 1000, 1002, 1002]
    assert [ts for ts, _ in streams[1][1]] == [1001, 1001, 1003, 1003]


def test_tally_counts_missing_duplicate_and_out_of_order_per_stream() -> None:
    lines = [canary_line("a", s) for s in (0, 1, 3, 2, 3, 3)] + [canary_line("b", 0), "noise", canary_line("b", 9)]
    counted = tally({"a": 5, "b": 2}, lines)
    a, b = counted.streams
    assert (a.received, a.missing, a.first_missing, a.duplicate, a.out_of_order) == (6, 1, 4, 2, 1)
    assert (b.received, b.missing, b.first_missing, b.duplicate, b.out_of_order) == (1, 1, 1, 0, 0)
    assert counted.foreign == 2         # a line of no canary stream, and a seq never pushed
    assert (counted.missing, counted.duplicate, counted.out_of_order) == (2, 2, 1)
    assert counted.describe().startswith("per stream: a: 5 pushed, 6 read, 1 missing (first seq 4), 2 duplicate, "
                                         "1 out of order; b: 2 pushed, 1 read, 1 missing (first seq 1)")
    assert counted.final and not tally({"a": 2}, [canary_line("a", 0)]).final


def test_a_repeated_page_counts_as_duplicates_only() -> None:
    first = [canary_line("a", s) for s in range(3)]
    counted = tally({"a": 6}, first + first)
    assert (counted.duplicate, counted.out_of_order, counted.missing) == (3, 0, 3)


def test_pages_move_by_the_last_timestamp_and_drop_what_was_read_at_it(loki: PagingLoki, logs: LogsClient) -> None:
    """Three lines share each timestamp; with pages of 4 every boundary falls inside a group: each line comes
    back once, in order, the next window starting at the last timestamp read."""
    [stream] = canary_streams(logs, ["p"], 11, 100, per_ts=3)
    logs.push_ok([stream])
    paged = logs.read_api.pages(logs.selector(**CANARY), 0, 10_000, page_lines=4)
    assert [entry for _, entry in paged.entries] == stream[1]
    assert [(p.start_ns, p.answered, p.new) for p in paged.pages] == [(0, 4, 4), (101, 4, 3), (102, 4, 3), (103, 2, 1)]
    assert not paged.stalled and [q["direction"] for q in loki.asked] == ["forward"] * 4


def test_a_page_that_cannot_move_the_window_stops_paging_and_says_so(loki: PagingLoki, logs: LogsClient) -> None:
    logs.push_ok([(logs.labels(**CANARY), [(5, canary_line("p", i)) for i in range(6)])])
    paged = logs.read_api.pages(logs.selector(**CANARY), 0, 10_000, page_lines=4)
    assert len(paged.entries) == 4 and len(paged.pages) == 2
    assert "page 2 (4 entries from ts 5) ends at ts 5, not after its window's start" in paged.stalled


def test_read_back_behind_a_cache_reports_duplicates_and_missing_at_once(loki: PagingLoki, logs: LogsClient) -> None:
    loki.cache_first = True
    names = stream_names(2)
    logs.push_ok(canary_streams(logs, names, 5, 100))
    read = read_back(logs, dict.fromkeys(names, 5), 0, page_lines=4, timeout_s=5)
    assert read.reads == 1                  # a duplicate is final: no waiting for the missing lines
    assert (read.tallies.missing, read.tallies.duplicate) == (6, 3)
    assert "ends at ts 103, not after its window's start" in read.paged.stalled


def test_read_back_waits_for_late_lines(loki: PagingLoki, logs: LogsClient) -> None:
    [stream] = canary_streams(logs, stream_names(1), 4, 100)
    logs.push_ok([(stream[0], stream[1][:2])])
    loki.late = [(dict(stream[0]), ts, line) for ts, line in stream[1][2:]]
    read = read_back(logs, {"s0": 4}, 0, page_lines=10, timeout_s=5)
    assert read.reads == 2 and read.tallies.missing == 0


def test_paging_plan_reads_more_than_one_page() -> None:
    plan = PagingPlan.of(5000)
    assert (plan.page_lines, plan.lines) == (5000, 7501)
    with pytest.raises(ValueError, match="no page size"):
        PagingPlan.of(0)


def test_paging_order_faults_count_steps_back_in_time() -> None:
    assert paging_order_faults([(1, "a"), (1, "b"), (2, "c")]) == 0
    assert paging_order_faults([(1, "a"), (3, "b"), (2, "c"), (1, "d")]) == 2


class FakeSocket:
    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.closed = False

    def settimeout(self, timeout: float) -> None:
        pass

    def recv(self) -> str:
        if not self.messages:
            raise websocket.WebSocketTimeoutException("timed out")
        return json.dumps(self.messages.pop(0))

    def close(self) -> None:
        self.closed = True


def test_tail_messages_are_parsed_with_their_arrival() -> None:
    socket = FakeSocket([{"streams": [{"stream": {"job": "x"}, "values": [["5", "a"], ["6", "b"]]}],
                          "dropped_entries": [{"timestamp": "4", "labels": "{}"}]}])
    tail = LokiTail(socket)     # type: ignore[arg-type]
    got = tail.receive(0.1)
    assert [(t.labels, t.entry) for t in got] == [({"job": "x"}, (5, "a")), ({"job": "x"}, (6, "b"))]
    assert tail.dropped == 1 and tail.receive(0.1) == []
    tail.close()
    assert socket.closed


def test_tail_opens_a_verified_websocket_with_the_read_credential(monkeypatch: pytest.MonkeyPatch) -> None:
    context = ssl.create_default_context()
    opened: dict[str, Any] = {}

    def connect(url: str, **options: Any) -> FakeSocket:
        opened.update(url=url, **options)
        return FakeSocket([])

    monkeypatch.setattr(websocket, "create_connection", connect)
    api = LokiAPI(Endpoint(lambda: "https://127.0.0.1:8443", auth=BasicAuth("reader", "s3cret"), verify=context,
                           service="loki via nginx"))
    api.tail('{job="x"}', 123)
    assert opened["url"] == "wss://127.0.0.1:8443/loki/api/v1/tail?query=%7Bjob%3D%22x%22%7D&start=123&limit=100"
    assert opened["sslopt"] == {"context": context}
    assert opened["header"] == ["Authorization: Basic cmVhZGVyOnMzY3JldA=="]


def test_a_refused_tail_is_a_service_error_naming_the_status(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, **options: Any) -> FakeSocket:
        raise websocket.WebSocketBadStatusException("Handshake status 400 Bad Request", 400, "Bad Request",
                                                    resp_body=b"Bad Request\n")

    monkeypatch.setattr(websocket, "create_connection", refuse)
    api = LokiAPI(Endpoint(lambda: "https://127.0.0.1:8443", service="loki via nginx"))
    with pytest.raises(ServiceError, match=r"loki via nginx: GET /loki/api/v1/tail -> 400: Bad Request"):
        api.tail('{job="x"}', 123)


def test_store_only_services_append_flags_and_share_the_volumes() -> None:
    spec = ServiceSpec("loki", "grafana/loki:2.9.3", command=("-config.file=/etc/loki/loki.yml",))
    services = store_only_services(spec)
    assert services["loki"].command == ("-config.file=/etc/loki/loki.yml", "-ingester.flush-on-shutdown=true")
    querier = services[STORE_QUERIER]
    assert querier.name == STORE_QUERIER and querier.mounts == spec.mounts
    assert querier.command is not None and "-querier.query-store-only=true" in querier.command
    assert "-common.compactor-address=http://loki:3100" in querier.command


def test_the_storage_spot_check_is_not_evaluated_on_an_external_target() -> None:
    @dataclass
    class Run:
        target: object

    with pytest.raises(NotEvaluated, match="external target: no container control") as raised:
        read_from_storage(Run("https://obs.staging.example"), 2, 5, 1.0)  # type: ignore[arg-type]
    assert raised.value.cause is EXTERNAL
