"""Loki's HTTP API: push (JSON and protobuf+snappy), LogQL queries, /config, /metrics."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from obsgate.clients.http import API, data
from obsgate.clients.logproto import CONTENT_TYPE, encode

Labels = Mapping[str, str]


class LokiAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/ready")

    def push(self, streams: Sequence[tuple[Labels, Sequence[tuple[int, str]]]]) -> httpx.Response:
        """Push in Loki's JSON format; each stream is (labels, [(unix_ns, line), ...])."""
        body = {"streams": [{"stream": dict(labels), "values": [[str(ts), line] for ts, line in values]}
                            for labels, values in streams]}
        return self.post("/loki/api/v1/push", json=body)

    def push_protobuf(self, streams: Sequence[tuple[Labels, Sequence[tuple[int, str]]]]) -> httpx.Response:
        """Push in Loki's native format (protobuf PushRequest, snappy block), as Promtail/Alloy do."""
        return self.post("/loki/api/v1/push", content=encode(streams),
                         headers={"Content-Type": CONTENT_TYPE})

    def query_range(self, query: str, start_ns: int, end_ns: int | None = None, limit: int = 1000,
                    direction: str = "forward") -> Any:
        params = {"query": query, "start": str(start_ns), "end": str(end_ns or time.time_ns()),
                  "limit": str(limit), "direction": direction}
        return data(self.get("/loki/api/v1/query_range", params=params))

    def query(self, query: str, time_ns: int | None = None, limit: int = 100) -> Any:
        """An instant query (LogQL metric queries: ``count_over_time`` and friends)."""
        params = {"query": query, "time": str(time_ns or time.time_ns()), "limit": str(limit)}
        return data(self.get("/loki/api/v1/query", params=params))

    def config(self) -> str:
        """The effective configuration Loki runs with (YAML text)."""
        response = self.get("/config")
        response.raise_for_status()
        return response.text

    def metrics(self) -> str:
        response = self.get("/metrics")
        response.raise_for_status()
        return response.text
