"""Logs can be found the ways the seed requires: by store id, terminal id, level and error type.

Seed success criterion: "Can search logs by store ID, terminal ID, error type". Stores are
the ``location`` label and errors carry a ``level`` label (the seed's backend transport);
terminal ids and error types live inside the JSON line, reached with LogQL's json parser
and line filters. A second run label pushes the same stores and terminals at the same time:
a run must never see another run's lines.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from obsgate.checks.logs import Entry, LogsClient, PosEvent, Stream, backend_log, frontend_log, new_run_label
from obsgate.clients.logproto import quote
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun

QUERYABLE_TIMEOUT_S = 15.0
DECLINED, SYNC = "PaymentDeclinedError", "InventorySyncError"

EVENTS = (
    ("backend", PosEvent("STORE_101", "T-101-01", "U-1001", "info", "Sale completed")),
    ("backend", PosEvent("STORE_101", "T-101-02", "U-1002", "error", "Payment failed", DECLINED, "Card declined")),
    ("backend", PosEvent("STORE_101", "T-101-02", "U-1002", "warn", "Receipt printer low on paper")),
    ("backend", PosEvent("STORE_202", "T-202-01", "U-2001", "error", "Payment failed", DECLINED, "Card expired")),
    ("backend", PosEvent("STORE_202", "T-202-01", "U-2001", "error", "Stock sync failed", SYNC, "Upstream 503")),
    ("backend", PosEvent("STORE_202", "T-202-03", "U-2003", "info", "Shift opened")),
    ("frontend", PosEvent("STORE_101", "T-101-02", "U-1002", "error", "Scanner lost", "DeviceError", "USB reset")),
)


@dataclass(frozen=True)
class Logged:
    kind: str
    event: PosEvent
    entry: Entry


def _push_run(client: LogsClient, ts: int) -> list[Logged]:
    """The EVENTS as one run's tills log them (fresh correlation ids), pushed and queryable."""
    logged, streams = [], []
    for i, (kind, template) in enumerate(EVENTS):
        event = dataclasses.replace(template, correlation_id=str(uuid.uuid4()))
        labels, line = (backend_log if kind == "backend" else frontend_log)(event, ts + i)
        streams.append((labels, [(ts + i, line)]))
        logged.append(Logged(kind, event, (ts + i, line)))
    client.push_and_wait(_merge(streams), timeout_s=QUERYABLE_TIMEOUT_S)
    return logged


def _merge(streams: list[tuple[dict[str, str], list[Entry]]]) -> list[Stream]:
    """One stream per label set, as a batching transport sends them."""
    merged: dict[tuple[tuple[str, str], ...], list[Entry]] = {}
    for labels, entries in streams:
        merged.setdefault(tuple(sorted(labels.items())), []).extend(entries)
    return [(dict(key), entries) for key, entries in merged.items()]


@pytest.mark.gate(category="Functionality", weight=4)
def test_logs_searchable_by_store_terminal_and_error_type(logs: LogsClient, gate: GateRecorder,
                                                          gate_run: GateRun) -> None:
    """Each seed search (store, terminal, level, error type, and all combined) finds exactly its lines."""
    ts = time.time_ns()
    other_run = dataclasses.replace(logs, label=new_run_label(gate_run.run_id))
    theirs = {x.entry for x in _push_run(other_run, ts)}
    ours = _push_run(logs, ts)
    run = logs.selector()[1:-1]

    searches: dict[str, tuple[str, Callable[[Logged], bool]]] = {
        "store (label)": (f'{{{run}, location="STORE_101"}}', lambda x: x.event.store == "STORE_101"),
        "terminal (json field)": (f'{{{run}}} | json | terminalId="T-202-01"',
                                  lambda x: x.event.terminal == "T-202-01"),
        "level (label)": (f'{{{run}, level="error"}}', lambda x: x.kind == "backend" and x.event.level == "error"),
        "level (json field, frontend)": (f'{{{run}, service="pos-frontend"}} | json | level="error"',
                                         lambda x: x.kind == "frontend" and x.event.level == "error"),
        "error type (line filter)": (f"{{{run}}} |= {quote(DECLINED + ':')}", lambda x: x.event.error_type == DECLINED),
        "error message (json field)": (f'{{{run}}} | json | error="Upstream 503"', lambda x: x.event.error == "Upstream 503"),
        "store + level + terminal + error type": (
            f'{{{run}, location="STORE_202", level="error"}} | json | terminalId="T-202-01" |= {quote(SYNC)}',
            lambda x: x.event.store == "STORE_202" and x.event.error_type == SYNC),
    }
    found: dict[str, str] = {}
    for name, (query, wanted) in searches.items():
        expected = sorted(x.entry for x in ours if wanted(x))
        got = logs.entries(query, ts)
        found[name] = f"{len(got)} of {len(expected)} expected: {query}"
        leaked = [e[1][:120] for e in got if e in theirs]
        assert not leaked, f"search by {name} returned another run's lines: {leaked}\nquery: {query}"
        assert got == expected, (f"search by {name} found {len(got)} lines, expected {len(expected)}\n"
                                 f"query: {query}\nmissing: {[e[1][:120] for e in expected if e not in got]}\n"
                                 f"unexpected: {[e[1][:120] for e in got if e not in expected]}")
    gate.evidence["searches"] = found
