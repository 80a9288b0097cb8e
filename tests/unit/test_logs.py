"""Harness helpers of the logs checks, against a tiny in-memory stand-in for Loki's HTTP API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from obsgate.checks.logs import (
    MIB,
    RUN_LABEL,
    LogsClient,
    LokiLimits,
    PosEvent,
    PushRefused,
    backend_log,
    frontend_log,
    padded_lines,
    parse_bytes,
    percentile,
    push_burst,
    push_to_queryable_s,
)
from obsgate.clients import Endpoint, LokiAPI, logproto
from obsgate.core.wait import WaitTimeout

# What Loki 2.9.3 prints on /config for the stack's limits (excerpt, same formatting).
CONFIG = """\
ingester:
  max_chunk_age: 2h0m0s
limits_config:
  ingestion_rate_mb: 16
  ingestion_burst_size_mb: 32
  max_line_size: 256KB
  reject_old_samples: true
  reject_old_samples_max_age: 1w
  unordered_writes: true
"""


@dataclass
class FakeLoki:
    """Push (JSON or protobuf) and query_range/query by exact label matchers; pipelines are ignored."""

    streams: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    refuse_after_bytes: int | None = None
    hidden_pushes: int = 0             # the next N pushes are accepted but not yet queryable
    received: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/loki/api/v1/push":
            return self.push(request)
        matchers = dict(re.findall(r'(\w+)="([^"]*)"', request.url.params["query"].split("}")[0]))
        found = {s: v for s, v in self.streams.items() if matchers.items() <= dict(re.findall(r'(\w+)="([^"]*)"', s)).items()}
        if request.url.path.endswith("/query_range"):
            result = [{"stream": {}, "values": [[str(ts), line] for ts, line in values]} for values in found.values()]
            return httpx.Response(200, json={"status": "success", "data": {"resultType": "streams", "result": result}})
        by = re.search(r"sum by \((\w+)\)", request.url.params["query"])
        counts: dict[str, int] = {}
        for s, values in found.items():
            key = dict(re.findall(r'(\w+)="([^"]*)"', s)).get(by.group(1) if by else "", "")
            counts[key] = counts.get(key, 0) + len(values)
        vector = [{"metric": {by.group(1) if by else "": k}, "value": [0, str(n)]} for k, n in counts.items()]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": vector}})

    def push(self, request: httpx.Request) -> httpx.Response:
        if request.headers["content-type"] == "application/json":
            body = json.loads(request.content)
            streams = [(logproto.selector(s["stream"]), [(int(t), line) for t, line in s["values"]]) for s in body["streams"]]
        else:
            streams = logproto.decode(request.content)
        size = sum(len(line.encode()) for _, entries in streams for _, line in entries)
        if self.refuse_after_bytes is not None and self.received + size > self.refuse_after_bytes:
            return httpx.Response(429, text="Ingestion rate limit exceeded for user fake (limit: 1 bytes/sec)")
        self.received += size
        if self.hidden_pushes:
            self.hidden_pushes -= 1
            return httpx.Response(204)
        for selector, entries in streams:
            self.streams.setdefault(selector, []).extend(entries)
        return httpx.Response(204)


@pytest.fixture
def loki(monkeypatch: pytest.MonkeyPatch) -> FakeLoki:
    fake = FakeLoki()
    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(fake.handle), **kw))
    return fake


@pytest.fixture
def logs(loki: FakeLoki) -> Iterator[LogsClient]:
    api = LokiAPI(Endpoint(lambda: "http://loki.test"))
    yield LogsClient(api, api, "run1-abcd", evidence=lambda: "EVIDENCE")
    api.close()


@pytest.mark.parametrize(("text", "size"), [("256KB", 262144), ("12MB", 12 * MIB), ("0B", 0), ("1GB", 1 << 30),
                                            ("1024", 1024), (4096, 4096), ("1KiB", 1024)])
def test_parse_bytes_uses_powers_of_1024(text: str | int, size: int) -> None:
    assert parse_bytes(text) == size


def test_parse_bytes_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a byte size"):
        parse_bytes("lots")


def test_limits_from_loki_config() -> None:
    limits = LokiLimits.from_config(CONFIG)
    assert limits == LokiLimits(reject_old_samples=True, reject_old_samples_max_age_s=604800, max_line_size=262144,
                                max_chunk_age_s=7200, unordered_writes=True, ingestion_rate_bytes=16 * MIB,
                                ingestion_burst_bytes=32 * MIB)
    assert limits.out_of_order_window_s == 3600


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (50, 95, 100)
    assert percentile([0.3] * 50 + [9.0] * 2, 95) == 0.3     # 2 of 52 slow probes stay above p95
    assert percentile([0.3] * 49 + [9.0] * 3, 95) == 9.0
    with pytest.raises(ValueError):
        percentile([], 95)
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_backend_log_has_the_seed_fields() -> None:
    event = PosEvent("STORE_7", "T-7-1", "U-1", "error", "Payment failed", "PaymentDeclinedError", "Card declined", "c-1")
    labels, line = backend_log(event, 1_700_000_000_123_000_000)
    assert labels == {"service": "pos-backend", "location": "STORE_7", "environment": "production", "level": "error"}
    doc = json.loads(line)
    assert doc["timestamp"] == "2023-11-14T22:13:20.123Z"
    assert (doc["locationId"], doc["terminalId"], doc["userId"], doc["correlationId"]) == ("STORE_7", "T-7-1", "U-1", "c-1")
    assert doc["error"] == "Card declined" and doc["stack"].startswith("PaymentDeclinedError: Card declined\n    at ")
    assert "error" not in json.loads(backend_log(PosEvent("S", "T", "U", "info", "ok"), 0)[1])


def test_frontend_log_keeps_level_inside_the_line() -> None:
    labels, line = frontend_log(PosEvent("STORE_7", "T-7-1", "U-1", "warn", "slow scan"), 0)
    assert "level" not in labels and json.loads(line)["level"] == "warn"


def test_push_labels_every_stream_with_the_run_and_the_gate_job(logs: LogsClient, loki: FakeLoki) -> None:
    logs.push_ok([({"service": "pos-backend"}, [(1, "a")])], "protobuf")
    logs.push_ok([({"service": "pos-backend", RUN_LABEL: "someone-else", "job": "pos"}, [(2, "b")])])
    assert loki.streams == {'{gate_run="run1-abcd", job="obs-gate", service="pos-backend"}': [(1, "a"), (2, "b")]}


def test_push_ok_names_status_and_body(logs: LogsClient, loki: FakeLoki) -> None:
    loki.refuse_after_bytes = 0
    with pytest.raises(PushRefused, match=r"json push answered 429 .*Ingestion rate limit.*expected 204\)\nEVIDENCE"):
        logs.push_ok([({"a": "b"}, [(1, "x")])])


def test_push_and_wait_polls_until_queryable(logs: LogsClient, loki: FakeLoki) -> None:
    got = logs.push_and_wait([({"a": "b"}, [(2, "y"), (1, "x")])], timeout_s=2)
    assert got == [(1, "x"), (2, "y")]


def test_wait_for_says_what_is_missing(logs: LogsClient, loki: FakeLoki) -> None:
    loki.hidden_pushes = 1
    logs.push_ok([({"a": "b"}, [(1, "lost line")])])
    with pytest.raises(WaitTimeout) as caught:
        logs.wait_for(logs.selector(), [(1, "lost line")], 0, timeout_s=0.3, interval_s=0.05)
    assert "waiting for 1 pushed entries" in str(caught.value)
    assert str(caught.value).endswith("EVIDENCE\n1 of 1 entries missing, 0 returned; first missing: ts=1 line='lost line'")


def test_padded_lines_have_the_exact_size() -> None:
    lines = padded_lines(10, 3, 1024, "007")
    assert [len(line.encode()) for _, line in lines] == [1024] * 3
    assert [ts for ts, _ in lines] == [10, 11, 12] and lines[0][1].startswith("007-000000 {")
    with pytest.raises(ValueError, match="shorter than one seed log line"):
        padded_lines(0, 1, 100, "x")


def test_burst_stops_at_the_first_refusal(logs: LogsClient, loki: FakeLoki) -> None:
    loki.refuse_after_bytes = 5 * 64 * 1024
    burst = push_burst(logs, 64 * 1024, 1024, max_bytes=MIB, max_s=10)
    assert burst.accepted == {f"{n:03d}": 64 for n in range(5)} and burst.refused_batch == "005"
    assert burst.refusal is not None and burst.refusal.status_code == 429
    assert burst.accepted_bytes == 5 * 64 * 1024 and burst.pushes == 6
    assert logs.count_by("batch", 0) == {f"{n:03d}": 64 for n in range(5)}


def test_burst_is_bounded_in_bytes(logs: LogsClient, loki: FakeLoki) -> None:
    burst = push_burst(logs, 64 * 1024, 1024, max_bytes=256 * 1024, max_s=10)
    assert burst.refusal is None and burst.pushes == 4 and burst.accepted_bytes == 256 * 1024


def test_freshness_probe_measures_until_the_line_is_read(logs: LogsClient, loki: FakeLoki) -> None:
    read_api = LokiAPI(Endpoint(lambda: "http://loki.test"))
    loki.hidden_pushes = 1
    with pytest.raises(WaitTimeout):
        push_to_queryable_s(logs, 0, 0.2, read_api)
    assert 0 <= push_to_queryable_s(logs, 1, 2, read_api) < 2
