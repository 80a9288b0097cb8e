"""Logs Loki has acknowledged survive its container being re-created (new container, same volume).

Seed success criterion: "Services survive restart". The container is removed and created
again from the compose spec (as ``docker compose up`` does after an image or config change):
what was pushed before must be readable through nginx afterwards, byte-identical. Loki keeps
recent lines in its WAL on the loki-data volume until they are flushed to chunks.
"""

from __future__ import annotations

import time
import uuid

import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.logs import LogsClient, PosEvent, backend_log
from obsgate.gate.recorder import GateRecorder

QUERYABLE_TIMEOUT_S = 15.0
RECOVERED_TIMEOUT_S = 20.0   # covers nginx re-resolving Loki's new address (resolver valid=10s)


@pytest.mark.gate(category="Resilience", weight=4)
def test_loki_logs_survive_container_recreation(logs: LogsClient, loki: ServiceHandle, gate: GateRecorder) -> None:
    """Lines acknowledged before Loki's container is re-created are all there, unchanged, after it."""
    ts = time.time_ns()
    events = [PosEvent("STORE_303", f"T-303-0{i}", "U-3030", "error", "Payment failed", "PaymentDeclinedError",
                       "Card declined", str(uuid.uuid4())) for i in range(1, 4)]
    labels = backend_log(events[0], ts)[0]
    pushed = [(ts + i, backend_log(event, ts + i)[1]) for i, event in enumerate(events)]
    logs.push_and_wait([(labels, pushed)], timeout_s=QUERYABLE_TIMEOUT_S)

    before = loki.container.short_id
    gate.evidence["recreate_ready_s"] = round(loki.recreate(), 2)
    gate.evidence["container"] = f"{before} -> {loki.container.short_id}"
    started = time.monotonic()
    got = logs.wait_for(logs.selector(), pushed, ts, RECOVERED_TIMEOUT_S)
    gate.evidence["queryable_again_after_s"] = round(time.monotonic() - started, 2)
    assert got == sorted(pushed), f"after re-creation Loki returned {len(got)} entries for {len(pushed)} pushed, or changed ones"
