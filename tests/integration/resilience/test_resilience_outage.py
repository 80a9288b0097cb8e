"""Loki down: on-call is paged, nginx fails fast and CORS-readable, pushes work again once Loki is back.

All from one outage on a stack of its own (obsgate.checks.resilience.outage), run in the
background from the first integration check on; each check judges its own part.
"""

from __future__ import annotations

import pytest

from obsgate.checks import grafana as gc
from obsgate.checks.alerting.phases import judge_phases
from obsgate.checks.resilience.outage import BackgroundOutage, OutageDrill
from obsgate.core.recorder import GateRecorder

GATEWAY_ERRORS = (502, 503, 504)


@pytest.mark.gate(category="Resilience", weight=4)
def test_loki_down_alert_reaches_receiver(loki_down_paged: BackgroundOutage, gate: GateRecorder) -> None:
    """With Loki stopped, on-call must hear "LokiDown" through the production path within outage_to_page_s; time a
    busy machine ate (Prometheus evaluating late, no service fault) makes it inconclusive, not failed."""
    check = loki_down_paged.check.get()         # a config that cannot page in time fails here, at once
    gate.evidence["worst case"] = check.budget.arithmetic
    page = loki_down_paged.drill.result().page.get()
    gate.evidence["rule"] = {"expr": page.rule.expr, "for_s": page.rule.for_s, "labels": page.rule.labels}
    gate.evidence.update(page.evidence())
    judge_phases(gate, page.phases(), page.load)


@pytest.mark.gate(category="Resilience", weight=3)
def test_push_through_nginx_fails_fast_while_loki_is_down(loki_outage_drill: OutageDrill, gate: GateRecorder) -> None:
    """Clients must get 502/503/504 within gateway_error_s (so they buffer and retry), never a hanging request."""
    answers = loki_outage_drill.answers.get()
    gate.evidence["answers"] = [a.short() for a in answers]
    wrong = [a.short() for a in answers if a.status not in GATEWAY_ERRORS]
    gate.measure("gateway_error_s", max(a.seconds for a in answers), name="loki_down_slowest_push_answer_s")
    assert not wrong, f"pushes while Loki was down did not answer {GATEWAY_ERRORS}: {wrong}"


@pytest.mark.gate(category="Resilience", weight=2)
def test_cors_headers_on_gateway_errors_while_loki_is_down(loki_outage_drill: OutageDrill,
                                                           gate: GateRecorder) -> None:
    """A browser must be able to read "Loki down" (else it sees an opaque network error and cannot back off)."""
    answers = loki_outage_drill.answers.get()
    origin = loki_outage_drill.origin
    gate.evidence["origin"] = origin
    gate.evidence["answers"] = [a.short() for a in answers]
    problems = [f"{a.after_down_s:.1f} s into the outage ({a.status}): {p}"
                for a in answers for p in (a.cors_problems or ((a.error,) if a.error else ()))]
    assert not problems, "gateway errors without CORS: " + "; ".join(problems)


@pytest.mark.gate(category="Resilience", weight=3)
def test_push_succeeds_again_after_loki_returns_without_touching_other_services(
        loki_outage_drill: OutageDrill, gate: GateRecorder) -> None:
    """Loki back and ready: pushes through the same nginx succeed within upstream_recovery_s, nothing restarted."""
    recovery = loki_outage_drill.recovery.get()
    gate.measure("service_ready_s", recovery.loki_ready_s, name="loki_ready_after_outage_s")
    gate.evidence["restarted"] = recovery.restarted
    gate.evidence["loki address"] = recovery.addresses
    assert not recovery.restarted, f"services restarted during Loki's outage: {recovery.restarted}"
    gate.measure("upstream_recovery_s", recovery.push_again_s, name="push_accepted_after_loki_ready_s")


@pytest.mark.gate(category="Resilience", weight=1)
def test_grafana_loki_datasource_reports_loki_down(loki_outage_drill: OutageDrill, gate: GateRecorder) -> None:
    """Grafana must say its Loki datasource is failing (else empty panels read as "no errors")."""
    reply = loki_outage_drill.grafana.get()
    gate.evidence["datasource health"] = reply.short()
    assert gc.datasource_health_problems(str(loki_outage_drill.evidence.get("grafana datasource")), reply), (
        f"Grafana reported its Loki datasource healthy while Loki was stopped: {reply.short()}")
