"""Loki's HTTP API: push (JSON and protobuf+snappy), LogQL queries, /config, /metrics, its build info.

Query answers are parsed here, once: a log query's streams (``LokiStreams``), a metric query's
series (Prometheus' format: ``obsgate.clients.prometheus.Series``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from obsgate.clients.http import API, labels_of
from obsgate.clients.logproto import CONTENT_TYPE, encode
from obsgate.clients.prometheus import BuildInfo, Series, series

Labels = Mapping[str, str]
Entry = tuple[int, str]           # (unix ns, line)


@dataclass(frozen=True)
class LokiStream:
    labels: Labels
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class LokiStreams:
    """A log query's answer: its streams."""

    streams: tuple[LokiStream, ...]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> LokiStreams:
        if data.get("resultType") != "streams":
            raise ValueError(f"expected a log query's streams, got {data.get('resultType')!r}")
        return cls(tuple(LokiStream(labels_of(s.get("stream")), tuple((int(ts), str(line)) for ts, line in s["values"]))
                         for s in data["result"]))

    def entries(self) -> list[Entry]:
        """Every (ts, line) across streams, oldest first."""
        return sorted(entry for stream in self.streams for entry in stream.entries)


class LokiAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/ready")

    def push(self, streams: Sequence[tuple[Labels, Sequence[Entry]]]) -> httpx.Response:
        """Push in Loki's JSON format; each stream is (labels, [(unix_ns, line), ...])."""
        body = {"streams": [{"stream": dict(labels), "values": [[str(ts), line] for ts, line in values]}
                            for labels, values in streams]}
        return self.post("/loki/api/v1/push", json=body)

    def push_protobuf(self, streams: Sequence[tuple[Labels, Sequence[Entry]]]) -> httpx.Response:
        """Push in Loki's native format (protobuf PushRequest, snappy block), as Promtail/Alloy do."""
        return self.post("/loki/api/v1/push", content=encode(streams),
                         headers={"Content-Type": CONTENT_TYPE})

    def query_range(self, query: str, start_ns: int, end_ns: int | None = None, limit: int = 1000,
                    direction: str = "forward") -> LokiStreams:
        """A log query over a time range."""
        return LokiStreams.of(self.data("/loki/api/v1/query_range", query=query, start=str(start_ns),
                                        end=str(end_ns or time.time_ns()), limit=str(limit), direction=direction))

    def buildinfo(self) -> BuildInfo:
        """What Loki says it is (``/loki/api/v1/status/buildinfo``: Prometheus' fields, not wrapped in ``data``)."""
        return BuildInfo.of(self.ok("GET", "/loki/api/v1/status/buildinfo").json())

    def query(self, query: str, time_ns: int | None = None, limit: int = 100) -> list[Series]:
        """An instant metric query (``count_over_time`` and friends)."""
        return series(self.data("/loki/api/v1/query", query=query, time=str(time_ns or time.time_ns()),
                                limit=str(limit)))

    def config(self) -> str:
        """The effective configuration Loki runs with (YAML text)."""
        return self.ok("GET", "/config").text
