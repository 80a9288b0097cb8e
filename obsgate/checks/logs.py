"""Harness helpers for the logs-in-and-out checks: run labels, POS log payloads, push and
poll-until-queryable through the gateway, Loki's effective limits, percentiles.

Every stream a check pushes carries ``gate_run=<run id>-<random>``, and every query selects
on it, so parallel or repeated runs (and other checks of the same run) never see each
other's lines.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from obsgate.clients import LokiAPI
from obsgate.clients.logproto import quote, selector
from obsgate.clients.loki import Entry
from obsgate.core.wait import poll
from obsgate.stackfiles import loki as loki_config
from obsgate.stackfiles.prometheus import prom_duration_s

RUN_LABEL = "gate_run"
# Every line the gate writes also carries one dedicated job label: on a --target (production) an operator
# finds, filters out or deletes the gate's lines by it, whatever else the check labels them with.
GATE_JOB = {"job": "obs-gate"}
NS = 1_000_000_000
MIB = 1 << 20
QUERY_SLACK_NS = 60 * NS          # query end lies this far in the future: host/container clock skew

Labels = Mapping[str, str]
Stream = tuple[Labels, Sequence[Entry]]
PushFormat = Literal["json", "protobuf"]

_BYTES = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGTPE]?)I?B?", re.IGNORECASE)


def new_run_label(run_id: str) -> str:
    """A label value unique to this run and this check."""
    return f"{run_id}-{uuid.uuid4().hex[:8]}"


def parse_bytes(text: str | int) -> int:
    """Bytes in a Loki size as /config prints it (``256KB``; KB/MB/GB are powers of 1024)."""
    if isinstance(text, int):
        return text
    match = _BYTES.fullmatch(str(text).strip())
    if match is None:
        raise ValueError(f"not a byte size: {text!r}")
    number, unit = match.groups()
    return int(float(number) * 1024 ** " KMGTPE".index(unit.upper() or " "))


@dataclass(frozen=True)
class LokiLimits:
    """The push limits Loki actually runs with (its ``/config``), which the rejection checks probe."""

    reject_old_samples: bool
    reject_old_samples_max_age_s: float
    max_line_size: int                  # bytes; 0 = unlimited
    max_chunk_age_s: float              # out-of-order window = half of this
    unordered_writes: bool
    ingestion_rate_bytes: float         # per second, per tenant
    ingestion_burst_bytes: float

    @classmethod
    def from_config(cls, text: str) -> LokiLimits:
        config: dict[str, Any] = loki_config.effective(text, "loki").data
        limits, ingester = config["limits_config"], config["ingester"]
        return cls(
            reject_old_samples=bool(limits["reject_old_samples"]),
            reject_old_samples_max_age_s=prom_duration_s(limits["reject_old_samples_max_age"]),
            max_line_size=parse_bytes(limits["max_line_size"]),
            max_chunk_age_s=prom_duration_s(ingester["max_chunk_age"]),
            unordered_writes=bool(limits["unordered_writes"]),
            ingestion_rate_bytes=float(limits["ingestion_rate_mb"]) * MIB,
            ingestion_burst_bytes=float(limits["ingestion_burst_size_mb"]) * MIB,
        )

    @property
    def out_of_order_window_s(self) -> float:
        """How far behind a stream's newest entry Loki 2.9 still accepts a line (max_chunk_age / 2)."""
        return self.max_chunk_age_s / 2


def percentile(values: Collection[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100): a value that was actually observed."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {q}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# --- payloads shaped like the seed's POS backend and frontend loggers ----------------------

@dataclass(frozen=True)
class PosEvent:
    """One thing that happened at a till: who, where, and (for errors) what failed."""

    store: str
    terminal: str
    user: str
    level: str
    message: str
    error_type: str | None = None       # the Error's class, first word of its stack
    error: str | None = None            # the Error's message
    correlation_id: str = ""


def _iso(ts_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ns // NS)) + f".{ts_ns // 1_000_000 % 1000:03d}Z"


def _error_fields(event: PosEvent) -> dict[str, Any]:
    if event.error_type is None:
        return {}
    return {"error": event.error,
            "stack": f"{event.error_type}: {event.error}\n"
                     f"    at PaymentService.charge (/app/dist/payment/payment.service.js:88:19)\n"
                     f"    at async TransactionsController.checkout (/app/dist/transactions.controller.js:41:7)"}


def backend_log(event: PosEvent, ts_ns: int, environment: str = "production") -> tuple[dict[str, str], str]:
    """(labels, line) as the seed's NestJS LoggerService + LokiTransport send them."""
    labels = {"service": "pos-backend", "location": event.store, "environment": environment, "level": event.level}
    line = {"message": event.message, "level": event.level, "timestamp": _iso(ts_ns),
            "service": "pos-backend", "location": event.store, "version": "1.4.2",
            "environment": environment, "hostname": f"pos-api-{event.store.lower()}",
            **_error_fields(event),
            "locationId": event.store, "terminalId": event.terminal, "userId": event.user,
            "correlationId": event.correlation_id, "pid": 4242,
            "memory": {"rss": 187_432_960, "heapTotal": 98_566_144, "heapUsed": 71_304_112, "external": 2_150_336}}
    return labels, json.dumps(line, ensure_ascii=False)


def frontend_log(event: PosEvent, ts_ns: int, environment: str = "production") -> tuple[dict[str, str], str]:
    """(labels, line) as the seed's browser LokiLogger sends them (level only inside the line)."""
    labels = {"service": "pos-frontend", "location": event.store, "environment": environment}
    line = {"level": event.level, "message": event.message, "timestamp": _iso(ts_ns), **_error_fields(event),
            "locationId": event.store, "terminalId": event.terminal, "userId": event.user,
            "correlationId": event.correlation_id}
    return labels, json.dumps(line, ensure_ascii=False)


# --- pushing and reading back through the gateway ------------------------------------------

class PushRefused(AssertionError):
    """A push that should have been accepted was not; the message carries status and body."""


def describe(response: httpx.Response) -> str:
    """Status, the headers that matter and the start of the body: evidence for a push answer."""
    headers = {k: v for k, v in response.headers.items() if k.lower() in ("content-type", "server", "retry-after")}
    return f"{response.status_code} {headers} {response.text.strip()[:600]!r}"


@dataclass
class LogsClient:
    """Pushes as the POS clients do and reads back as operators do, inside one run label."""

    push_api: LokiAPI
    read_api: LokiAPI
    label: str
    evidence: Callable[[], str] = lambda: ""

    def labels(self, **extra: str) -> dict[str, str]:
        return {RUN_LABEL: self.label, **extra}

    def selector(self, **extra: str) -> str:
        return selector(self.labels(**extra))

    def push(self, streams: Sequence[Stream], fmt: PushFormat = "json") -> httpx.Response:
        """One push request; every stream gets this client's run label."""
        own = [({**labels, **GATE_JOB, RUN_LABEL: self.label}, entries) for labels, entries in streams]
        return self.push_api.push(own) if fmt == "json" else self.push_api.push_protobuf(own)

    def push_ok(self, streams: Sequence[Stream], fmt: PushFormat = "json") -> httpx.Response:
        response = self.push(streams, fmt)
        if response.status_code != 204:
            raise PushRefused(f"{fmt} push answered {describe(response)} (expected 204)\n{self.evidence()}")
        return response

    def entries(self, query: str, start_ns: int, limit: int = 1000, api: LokiAPI | None = None) -> list[Entry]:
        """Every (ts, line) a log query returns, across streams, oldest first."""
        return (api or self.read_api).query_range(query, start_ns, time.time_ns() + QUERY_SLACK_NS, limit=limit).entries()

    def wait_for(self, query: str, expected: Collection[Entry], start_ns: int, timeout_s: float,
                 api: LokiAPI | None = None, interval_s: float = 0.25) -> list[Entry]:
        """Poll ``query`` until an entry is returned at every expected timestamp; on timeout say which are
        missing. One that comes back at its timestamp with other bytes fails at once, naming the first byte that
        differs: a changed line is not a missing one, and waiting longer would not bring the original back."""
        wanted = set(expected)
        due = Counter(ts for ts, _ in wanted)
        seen: list[Entry] = []

        def probe() -> list[Entry] | None:
            nonlocal seen
            seen = self.entries(query, start_ns, limit=max(1000, 2 * len(wanted)), api=api)
            if not due <= Counter(ts for ts, _ in seen):
                return None
            changed = sorted(wanted - set(seen))
            if changed:
                raise LineChanged(_changed_line(changed[0], seen, len(changed)))
            return seen

        def missing() -> str:
            gone = sorted(wanted - set(seen))
            first = f"; first missing: ts={gone[0][0]} line={gone[0][1][:200]!r}" if gone else ""
            # Last, so it survives when a report keeps only the tail of a long failure.
            return f"{self.evidence()}\n{len(gone)} of {len(wanted)} entries missing, {len(seen)} returned{first}"

        return poll(probe, timeout_s=timeout_s, what=f"{len(wanted)} pushed entries from {query}",
                    interval_s=interval_s, evidence=missing, fatal=(LineChanged,))

    def push_and_wait(self, streams: Sequence[Stream], fmt: PushFormat = "json", timeout_s: float = 10.0) -> list[Entry]:
        """Push (must be accepted), then poll this run label until every pushed entry is queryable."""
        self.push_ok(streams, fmt)
        pushed = [entry for _, entries in streams for entry in entries]
        start = min(ts for ts, _ in pushed)
        return self.wait_for(self.selector(), pushed, start, timeout_s)

    def count_by(self, label: str, start_ns: int) -> dict[str, int]:
        """Lines stored per value of ``label`` within this run label since ``start_ns`` (a metric query)."""
        window_s = max(1, math.ceil((time.time_ns() - start_ns) / NS) + 1)
        counted = self.read_api.query(f"sum by ({label}) (count_over_time({self.selector()}[{window_s}s]))")
        return {s.labels.get(label, ""): int(s.value) for s in counted}


class LineChanged(AssertionError):
    """A pushed line came back at its timestamp with other bytes: the check's failure, not a reason to wait."""


def _changed_line(pushed: Entry, seen: Sequence[Entry], count: int) -> str:
    """Which line came back changed, where its bytes first differ, and how many lines did."""
    ts, line = pushed
    read = next(got for t, got in seen if t == ts).encode()
    sent = line.encode()
    at = next((i for i, (a, b) in enumerate(zip(sent, read, strict=False)) if a != b), min(len(sent), len(read)))
    return (f"{count} of the pushed lines came back changed; the first at ts={ts}: pushed {len(sent)} B, read "
            f"{len(read)} B, first difference at byte {at}: pushed {sent[at:at + 16]!r}, read {read[at:at + 16]!r}; "
            f"line starts {line[:80]!r}")


def push_to_queryable_s(logs: LogsClient, probe: int, timeout_s: float, read_api: LokiAPI) -> float:
    """One freshness probe: seconds from sending a push until ``read_api`` returns the line."""
    line = json.dumps({"message": "freshness probe", "probe": probe, "id": uuid.uuid4().hex})
    started, ts = time.monotonic(), time.time_ns()
    logs.push_ok([(logs.labels(service="pos-backend", probe="freshness"), [(ts, line)])])
    query = logs.selector(probe="freshness") + f" |= {quote(line)}"
    logs.wait_for(query, [(ts, line)], ts, timeout_s, api=read_api, interval_s=0.05)
    return time.monotonic() - started


# --- a bounded burst against Loki's per-tenant ingestion limit --------------------------------

@dataclass
class Burst:
    """What a bounded burst of pushes saw: what was accepted, and the first refusal if any."""

    accepted: dict[str, int]                 # batch label -> lines accepted (204)
    accepted_bytes: int
    elapsed_s: float
    refused_batch: str | None = None
    refusal: httpx.Response | None = None

    @property
    def pushes(self) -> int:
        return len(self.accepted) + (self.refusal is not None)


def padded_lines(ts: int, count: int, line_bytes: int, batch: str) -> list[Entry]:
    """``count`` seed-shaped backend error lines of exactly ``line_bytes`` bytes (ASCII), unique per batch."""
    event = PosEvent("STORE_042", "T-042-03", "U-4242", "error", "Payment failed", "PaymentDeclinedError",
                     "Card declined", str(uuid.uuid4()))
    _, body = backend_log(event, ts)
    lines = []
    for i in range(count):
        head = f"{batch}-{i:06d} {body} "
        if len(head) > line_bytes:
            raise ValueError(f"line_bytes {line_bytes} is shorter than one seed log line ({len(head)} B)")
        lines.append((ts + i, head + "." * (line_bytes - len(head))))
    return lines


def push_burst(logs: LogsClient, batch_bytes: int, line_bytes: int, max_bytes: int, max_s: float) -> Burst:
    """Push protobuf batches of ``batch_bytes`` back to back (one stream per batch) until one is refused,
    or ``max_bytes`` were sent, or ``max_s`` passed. Any answer but 204 ends the burst."""
    count = max(1, batch_bytes // line_bytes)
    burst = Burst({}, 0, 0.0)
    started = time.monotonic()
    for n in range(max(1, max_bytes // (count * line_bytes))):
        if time.monotonic() - started > max_s:
            break
        batch = f"{n:03d}"
        entries = padded_lines(time.time_ns(), count, line_bytes, batch)
        response = logs.push([(logs.labels(probe="burst", batch=batch), entries)], "protobuf")
        burst.elapsed_s = time.monotonic() - started
        if response.status_code != 204:
            burst.refused_batch, burst.refusal = batch, response
            break
        burst.accepted[batch] = len(entries)
        burst.accepted_bytes += sum(len(line.encode()) for _, line in entries)
    return burst
