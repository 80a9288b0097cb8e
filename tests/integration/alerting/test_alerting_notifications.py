"""Alerts reach the on-call channel: a test alert through the production route tree, timed against
gate.yml's alert_delivery_s, and the real "Loki down" alert when Loki is stopped.

The test alert travels on a small second stack of this run (Prometheus + Alertmanager with
production configs, plus one test rule file); it runs in the background while the Loki
outage check waits out LokiDown's ``for:``, so the two long waits overlap.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from obsgate.checks.alerting.alertpath import Delivered, LokiOutage, TestAlertPath, announces, payload_summary, rfc3339
from obsgate.checks.stackfiles import PrometheusConfig
from obsgate.clients import PrometheusAPI
from obsgate.clients.webhook import WebhookReceiver
from obsgate.gate.policy import Policy
from obsgate.gate.recorder import GateRecorder
from obsgate.run import GateRun
from obsgate.wait import poll

LOKI_DOWN = "LokiDown"          # stack/prometheus/rules/loki.yml: Loki not scraped successfully


@pytest.fixture(scope="module", autouse=True)
def test_alert_trip(gate_run: GateRun, policy: Policy,
                    prometheus_config: PrometheusConfig) -> Iterator[Future[Delivered]]:
    """Start the test alert's trip in the background as soon as this module runs."""
    # The rule can turn true just after an evaluation: one interval, then the delivery budget's warn bound.
    timeout = prometheus_config.evaluation_interval_s + (policy.target("alert_delivery_s").warn or 60)
    # Mounted into containers whose users are unprivileged: a world-readable dir (pytest's are 0700).
    workdir = Path(tempfile.mkdtemp(prefix=f"obsgate-{gate_run.run_id}-test-alert-"))
    workdir.chmod(0o755)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="obsgate-test-alert") as pool:
            future = pool.submit(TestAlertPath(gate_run, workdir, timeout).run_once)
            yield future
            future.exception()          # wait for the overlay to be removed before the run goes on
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.gate(category="Resilience", weight=4)
def test_loki_down_alert_reaches_receiver(loki_outage: LokiOutage, alert_receiver: WebhookReceiver,
                                          prometheus_api: PrometheusAPI, prometheus_config: PrometheusConfig,
                                          policy: Policy, gate: GateRecorder) -> None:
    """With Loki stopped, on-call must hear "LokiDown" through the production path, unaided."""
    rule = next((r for r in prometheus_config.alert_rules() if r.name == LOKI_DOWN), None)
    assert rule is not None, f"no {LOKI_DOWN} alert in the rule files of {prometheus_config.path}"
    gate.evidence["rule"] = {"expr": rule.expr, "for_s": rule.for_s, "labels": rule.labels}

    # Start from a healthy state, or the alert's clock would already run (e.g. Loki still starting).
    def quiet() -> bool:
        return not any(a["labels"].get("alertname") == LOKI_DOWN for a in prometheus_api.alerts())

    poll(quiet, timeout_s=2 * prometheus_config.scrape_interval_s + prometheus_config.evaluation_interval_s + 5,
         what=f"no {LOKI_DOWN} alert pending before Loki is stopped", evidence=lambda: str(prometheus_api.alerts()))
    stopped_at = loki_outage.begin()
    # Next scrape fails, next evaluation starts `for:`, then the delivery budget.
    budget = (prometheus_config.scrape_interval_s + prometheus_config.evaluation_interval_s + rule.for_s
              + (policy.target("alert_delivery_s").warn or 60))
    delivery = alert_receiver.wait_for(lambda d: d.received_at >= stopped_at and announces(d, LOKI_DOWN),
                                       timeout_s=budget, what=f"{LOKI_DOWN} at the Slack receiver after Loki stopped")
    gate.evidence["payload"] = payload_summary(delivery)
    gate.evidence["stop_to_receiver_s"] = round(delivery.received_at - stopped_at, 1)
    gate.evidence["all deliveries since the stop"] = [payload_summary(d)["attachments"] for d in alert_receiver.deliveries
                                                      if d.received_at >= stopped_at]
    active = next((a for a in prometheus_api.alerts() if a["labels"].get("alertname") == LOKI_DOWN), None)
    if active is not None:
        firing_at = rfc3339(active["activeAt"]) + rule.for_s
        gate.measure("alert_delivery_s", max(0.0, delivery.received_at - firing_at),
                     name="loki_down_firing_to_receiver_s")


@pytest.mark.gate(category="Functionality", weight=4)
def test_test_alert_reaches_critical_receiver(test_alert_trip: Future[Delivered], gate: GateRecorder) -> None:
    """A critical alert must reach the critical Slack channel within the delivery target."""
    delivered = test_alert_trip.result()
    payload = delivered.delivery.json()
    gate.evidence["route"] = {"critical": delivered.receiver, "channels": delivered.channels,
                              "warning": delivered.warning_receiver}
    assert delivered.receiver != delivered.warning_receiver, (
        f"critical and warning alerts both route to {delivered.receiver!r}: nothing pages for critical ones")
    gate.evidence["payload"] = payload_summary(delivered.delivery)
    gate.evidence["rule true -> active (s)"] = (round(delivered.active_at - delivered.true_at, 1)
                                                 if delivered.active_at else None)
    assert payload.get("channel") in delivered.channels, (
        f"test alert posted to channel {payload.get('channel')!r}; the route tree sends critical alerts to "
        f"receiver {delivered.receiver!r} with channels {delivered.channels}")
    gate.measure("alert_delivery_s", delivered.latency_s, name="test_alert_true_to_receiver_s")
