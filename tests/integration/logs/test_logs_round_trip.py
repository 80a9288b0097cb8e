"""Logs go in through nginx and come back out byte-identical, in both push formats real agents use.

Seed: backend and frontend loggers push JSON to /loki/api/v1/push; Promtail-style agents push
Loki's native protobuf + snappy. Whatever a till logs (unicode, a 64 KiB dump, the seed's
error JSON with stack and ids) must be what an operator reads back, to the byte and nanosecond.
The site's own lines (``site_log_lines``, the top-level conftest.py) travel as a stream of their own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

import pytest

from obsgate.checks.logs import Entry, LogsClient, PosEvent, PushFormat, Stream, backend_log, frontend_log
from obsgate.core.recorder import GateRecorder

LARGE_LINE_BYTES = 64 * 1024
QUERYABLE_TIMEOUT_S = 15.0


def _line_of_exactly(size: int, head: str) -> str:
    """``head`` + filler + multi-byte tail, exactly ``size`` UTF-8 bytes (tail checks no cut at the end)."""
    tail = "…é✓🍷"
    filler = size - len(head.encode()) - len(tail.encode())
    return head + ("0123456789abcdef" * (filler // 16 + 1))[:filler] + tail


def _corpus(ts: int, site_lines: Sequence[str]) -> list[Stream]:
    """Streams covering what must survive the trip, the site's lines last; each entry unique, timestamps to the
    nanosecond."""
    sale = PosEvent("STORE_017", "T-017-02", "U-8812", "error", "Payment failed at checkout",
                    "PaymentDeclinedError", "Card declined: insufficient funds", str(uuid.uuid4()))
    frontend = PosEvent("STORE_017", "T-017-02", "U-8812", "error", "Scanner disconnected",
                        "DeviceError", "Barcode scanner not responding — reconnect", str(uuid.uuid4()))
    b_labels, b_line = backend_log(sale, ts + 4)
    f_labels, f_line = frontend_log(frontend, ts + 5)
    text: list[Entry] = [
        (ts, "plain ASCII line: sale 4711 closed"),
        (ts + 1, "Zahlung fehlgeschlagen – café ñ 日本語 한국어 العربية עברית 🍷🧾 e\u0301 \u200d \u2028 \ufeff"),
        (ts + 2, 'tab\tquote" back\\slash\nsecond line\r\n  indented  '),
        (ts + 3, _line_of_exactly(LARGE_LINE_BYTES, f"large {ts} ")),
    ]
    streams: list[Stream] = [({"service": "pos-backend", "kind": "text"}, text),
                             (b_labels, [(ts + 4, b_line)]),
                             (f_labels, [(ts + 5, f_line)])]
    if site_lines:
        streams.append(({"service": "pos-site", "kind": "site"}, [(ts + 6 + i, line) for i, line in enumerate(site_lines)]))
    return streams


def _round_trip(logs: LogsClient, gate: GateRecorder, fmt: PushFormat, site_lines: Sequence[str]) -> None:
    streams = _corpus(time.time_ns(), site_lines)
    pushed = sorted(entry for _, entries in streams for entry in entries)
    got = logs.push_and_wait(streams, fmt, timeout_s=QUERYABLE_TIMEOUT_S)
    gate.evidence["pushed"] = {"format": fmt, "entries": len(pushed), "site_lines": len(site_lines),
                               "bytes": sum(len(line.encode()) for _, line in pushed)}
    assert len(got) == len(pushed), f"{len(got)} entries came back for {len(pushed)} pushed (duplicates?)"
    for (ts, line), (got_ts, got_line) in zip(pushed, got, strict=True):
        assert got_ts == ts, f"timestamp changed: pushed {ts}, read {got_ts}"
        assert got_line.encode() == line.encode(), (
            f"line at {ts} changed: pushed {len(line.encode())} B, read {len(got_line.encode())} B; "
            f"starts {got_line[:80]!r}")


@pytest.mark.gate(category="Functionality", weight=5)
def test_logs_json_push_round_trip_is_byte_identical(logs: LogsClient, gate: GateRecorder, site_log_lines: list[str]) -> None:
    """JSON push (the seed's backend and browser loggers) through nginx reads back unchanged."""
    _round_trip(logs, gate, "json", site_log_lines)


@pytest.mark.gate(category="Functionality", weight=3)
def test_logs_protobuf_push_round_trip_is_byte_identical(logs: LogsClient, gate: GateRecorder,
                                                        site_log_lines: list[str]) -> None:
    """protobuf + snappy push (Loki's native format, as agents send it) through nginx reads back unchanged."""
    _round_trip(logs, gate, "protobuf", site_log_lines)
