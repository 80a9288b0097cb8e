"""nginx's push rate limit: a burst beyond it gets 429 for the excess, and normal traffic passes
again right after. The limit (rate, burst) is read from nginx.conf; the burst is bounded."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.edge.probes import PUSH, PUSH_LOCATION, burst, push_body
from obsgate.checks.logs import describe, new_run_label
from obsgate.clients import API
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import poll
from obsgate.run import GateRun
from obsgate.stackfiles.nginx import NginxConf


@pytest.fixture
def push_budget_refilled(nginx_conf: NginxConf) -> Iterator[None]:
    """Afterwards, wait until nginx's push bucket is empty again: here every client reaches nginx from one
    address (docker's port publishing), so a drained budget would turn the next checks' pushes into 429."""
    yield
    limit = nginx_conf.rate_limit(PUSH_LOCATION)
    if limit is not None:
        # Nothing shows the bucket's level without spending it: wait the time it takes to drain, by the clock.
        refilled_at = time.monotonic() + (limit.burst + 1) / limit.rate_per_s
        poll(lambda: time.monotonic() >= refilled_at, timeout_s=(limit.burst + 2) / limit.rate_per_s,
             what="nginx's push rate budget to refill", interval_s=0.1)


@pytest.mark.gate(category="Security", weight=3)
@pytest.mark.usefixtures("push_budget_refilled")
def test_push_rate_limit_refuses_excess_then_recovers(as_push: API, loki: ServiceHandle, nginx: ServiceHandle,
                                                      nginx_conf: NginxConf, gate_run: GateRun,
                                                      gate: GateRecorder) -> None:
    """One misbehaving client (or a flood with the public push credential) must not swamp Loki."""
    limit = nginx_conf.rate_limit(PUSH_LOCATION)
    gate.evidence["nginx.conf limit"] = str(limit)
    assert limit is not None, f"{PUSH_LOCATION} has no limit_req in nginx.conf: pushes are unlimited"
    body = push_body(new_run_label(gate_run.run_id))
    # Bounded: the burst allowance twice over plus one second's worth at the configured rate.
    sent = burst(as_push, 2 * (limit.burst + 1) + int(limit.rate_per_s), body, {})
    gate.evidence["burst"] = sent.summary()
    passed = sent.statuses[204]
    # What nginx's leaky bucket lets through: the burst, the first request, the rate over the burst's
    # duration (+1 for the millisecond rounding of its clock).
    ceiling = limit.burst + 1 + limit.rate_per_s * sent.elapsed_s + 1
    others = {s: n for s, n in sent.statuses.items() if s not in (204, 429)}
    assert not others, f"burst answers other than 204/429: {others}; first: {[describe(sent.first[s]) for s in others]}"
    assert sent.statuses[429] > 0, f"no 429 in a burst of {sum(sent.statuses.values())} pushes " \
        f"({sent.summary()}) against {limit}"
    assert limit.burst <= passed <= ceiling, (
        f"{passed} pushes passed; nginx.conf ({limit}) allows between {limit.burst} and {ceiling:.0f} "
        f"in {sent.elapsed_s:.2f}s")

    started = time.monotonic()

    def accepted() -> httpx.Response | None:
        response = as_push.post(PUSH, json=push_body(new_run_label(gate_run.run_id)))
        return response if response.status_code == 204 else None

    # Right after: within two request intervals at the configured rate, plus a second of slack.
    poll(accepted, timeout_s=1.0 + 2 / limit.rate_per_s, what="a normal push to pass again after the burst",
         interval_s=1 / limit.rate_per_s)
    gate.evidence["recovered_after_s"] = round(time.monotonic() - started, 3)
