"""Loki's HTTP API: push (JSON and protobuf+snappy), LogQL queries (one page, or all pages), the live tail
(a websocket), /config, /metrics, its build info.

Query answers are parsed here, once: a log query's streams (``LokiStreams``), a metric query's
series (Prometheus' format: ``obsgate.clients.prometheus.Series``), a tail's messages (``Tailed``).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import websocket

from obsgate.clients.http import API, ServiceError, labels_of
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

    def labelled(self) -> list[tuple[Labels, Entry]]:
        """Every entry with its stream's labels, oldest first (a stable sort: one stream's equal timestamps
        keep the order Loki gave them)."""
        return sorted(((s.labels, e) for s in self.streams for e in s.entries), key=lambda pair: pair[1][0])


@dataclass(frozen=True)
class Page:
    """One query of a paged read: the window's start, how many entries Loki answered, how many were new."""

    start_ns: int
    answered: int
    new: int
    last_ns: int | None


@dataclass
class Paged:
    """A log query read page by page: every entry once, oldest first, and how the pages went.

    ``stalled`` says why paging stopped before a short page (the read is then incomplete), else is empty.
    """

    entries: list[tuple[Labels, Entry]] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    stalled: str = ""


@dataclass(frozen=True)
class Tailed:
    """One entry a live tail delivered, with when it arrived (``time.monotonic()``)."""

    labels: Labels
    entry: Entry
    arrived_s: float


class LokiTail:
    """A live tail: Loki's ``/loki/api/v1/tail`` websocket, read message by message."""

    def __init__(self, socket: websocket.WebSocket) -> None:
        self.socket = socket
        self.dropped = 0            # entries Loki said it dropped (a slow reader)

    def receive(self, timeout_s: float) -> list[Tailed]:
        """The entries of the next message, or none if nothing came within ``timeout_s`` (Loki's pings are
        answered on the way)."""
        self.socket.settimeout(timeout_s)
        try:
            text = self.socket.recv()
        except websocket.WebSocketTimeoutException:
            return []
        arrived = time.monotonic()
        message = json.loads(text or "{}")
        self.dropped += len(message.get("dropped_entries") or ())
        return [Tailed(labels_of(s.get("stream")), (int(ts), str(line)), arrived)
                for s in message.get("streams") or () for ts, line in s["values"]]

    def close(self) -> None:
        self.socket.close()


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

    def pages(self, query: str, start_ns: int, end_ns: int, page_lines: int, max_pages: int = 1000) -> Paged:
        """Every entry of a log query, ``page_lines`` per query (at most Loki's max_entries_limit_per_query),
        as Grafana and logcli page: forward, each next window starting at the last timestamp answered.

        Loki has no cursor, so entries sharing that timestamp come again in the next page: those already
        read are dropped (by stream, timestamp and line). A full page whose last timestamp is not after its
        window's start cannot move the window: more than a page at one timestamp, or an answer that ignores
        the window asked (e.g. a cache keyed without the query string); paging stops and says so.
        """
        paged = Paged()
        start = start_ns
        seen_at_start: set[tuple[tuple[tuple[str, str], ...], int, str]] = set()
        for _ in range(max_pages):
            answer = self.query_range(query, start, end_ns, limit=page_lines).labelled()
            new = [(labels, entry) for labels, entry in answer
                   if (tuple(sorted(labels.items())), *entry) not in seen_at_start]
            paged.entries += new
            last = answer[-1][1][0] if answer else None
            paged.pages.append(Page(start, len(answer), len(new), last))
            if len(answer) < page_lines or last is None:
                return paged
            if last <= start:
                paged.stalled = (f"page {len(paged.pages)} ({len(answer)} entries from ts {start}) ends at ts {last},"
                                 " not after its window's start: the window cannot move on")
                return paged
            seen_at_start = {(tuple(sorted(labels.items())), *entry) for labels, entry in answer if entry[0] == last}
            start = last
        paged.stalled = f"still full after {max_pages} pages of {page_lines}"
        return paged

    def tail(self, query: str, start_ns: int, limit: int = 100, timeout_s: float = 10.0) -> LokiTail:
        """Open a live tail of ``query`` (entries since ``start_ns``) on this endpoint, with its credentials and
        TLS context; a refused upgrade is a ServiceError with Loki's or the proxy's status and reason."""
        base = self.endpoint.base_url()
        url = "ws" + base.removeprefix("http") + "/loki/api/v1/tail?" + urlencode(
            {"query": query, "start": str(start_ns), "limit": str(limit)})
        headers = [f"{k}: {v}" for k, v in self.endpoint.headers.items()]
        if self.endpoint.auth is not None:
            pair = ":".join(self.endpoint.auth.pair).encode()
            headers.append("Authorization: Basic " + base64.b64encode(pair).decode())
        verify = self.endpoint.verify
        sslopt: dict[str, Any] = ({"context": verify} if isinstance(verify, ssl.SSLContext)
                                  else {} if verify else {"cert_reqs": ssl.CERT_NONE})
        try:
            socket = websocket.create_connection(url, timeout=timeout_s, header=headers, sslopt=sslopt,
                                                 enable_multithread=True)
        except websocket.WebSocketBadStatusException as exc:
            body = exc.resp_body.decode(errors="replace") if isinstance(exc.resp_body, bytes) else str(exc.resp_body or "")
            request = httpx.Request("GET", url.replace("ws", "http", 1))
            raise ServiceError(self.endpoint.service, httpx.Response(exc.status_code, text=body or str(exc),
                                                                     request=request)) from exc
        return LokiTail(socket)

    def query(self, query: str, time_ns: int | None = None, limit: int = 100) -> list[Series]:
        """An instant metric query (``count_over_time`` and friends)."""
        return series(self.data("/loki/api/v1/query", query=query, time=str(time_ns or time.time_ns()),
                                limit=str(limit)))

    def config(self) -> str:
        """The effective configuration Loki runs with (YAML text)."""
        return self.ok("GET", "/config").text
