"""Alerts reach the on-call channel: a test alert through the production route tree, and the real
"Loki down" alert when Loki is stopped, each timed phase by phase against gate.yml.

The test alert travels on a small second stack of this run (Prometheus + Alertmanager with
production configs, one test rule file, a receiver of its own); it runs in the background
while the Loki outage check waits out LokiDown's ``for:``, so the two long waits overlap.
Both fail at once, with the arithmetic, when the config alone cannot meet the policy.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from obsgate.checks.alerting.alertpath import TestAlertPath, Trip
from obsgate.checks.alerting.outage import LokiDownCheck, LokiOutage
from obsgate.checks.alerting.phases import judge_phases
from obsgate.checks.alerting.slack import payload_summary
from obsgate.checks.static import alerting
from obsgate.clients import AlertmanagerAPI, PrometheusAPI
from obsgate.clients.webhook import WebhookReceiver
from obsgate.gate.policy import Policy
from obsgate.gate.recorder import GateRecorder
from obsgate.run import GateRun


@pytest.fixture(scope="module", autouse=True)
def test_alert_trip(gate_run: GateRun, policy: Policy) -> Iterator[Future[Trip]]:
    """Start the test alert's trip in the background as soon as this module runs."""
    # Mounted into containers whose users are unprivileged: a world-readable dir (pytest's are 0700).
    workdir = Path(tempfile.mkdtemp(prefix=f"obsgate-{gate_run.run_id}-test-alert-"))
    workdir.chmod(0o755)
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="obsgate-test-alert") as pool:
            future = pool.submit(lambda: TestAlertPath(gate_run, workdir, policy).run_once())
            yield future
            future.exception()          # wait for the overlay to be removed before the run goes on
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.gate(category="Resilience", weight=4)
def test_loki_down_alert_reaches_receiver(loki_outage: LokiOutage, alert_receiver: WebhookReceiver,
                                          prometheus_api: PrometheusAPI, alertmanager_api: AlertmanagerAPI,
                                          gate_run: GateRun, policy: Policy, gate: GateRecorder) -> None:
    """With Loki stopped, on-call must hear "LokiDown" through the production path within outage_to_page_s."""
    check = LokiDownCheck(alerting.load(gate_run.project, policy), policy)
    gate.evidence["rule"] = {"expr": check.rule.expr, "for_s": check.rule.for_s, "labels": check.rule.labels}
    gate.evidence["worst case"] = check.budget.arithmetic
    check.wait_until_quiet(prometheus_api)
    page = check.page(loki_outage, alert_receiver, prometheus_api, alertmanager_api)
    gate.evidence.update(page.evidence())
    judge_phases(gate, page.phases())


@pytest.mark.gate(category="Functionality", weight=4)
def test_test_alert_reaches_critical_receiver(test_alert_trip: Future[Trip], gate: GateRecorder) -> None:
    """A critical alert must reach the critical Slack channel within the delivery target."""
    trip = test_alert_trip.result()
    payload = trip.delivery.json()
    gate.evidence["route"] = {"critical": trip.receiver, "channels": trip.channels, "warning": trip.warning_receiver}
    gate.evidence["payload"] = payload_summary(trip.delivery)
    gate.evidence.update(trip.evidence())
    assert trip.receiver != trip.warning_receiver, (
        f"critical and warning alerts both route to {trip.receiver!r}: nothing pages for critical ones")
    assert payload.get("channel") in trip.channels, (
        f"test alert posted to channel {payload.get('channel')!r}; the route tree sends critical alerts to "
        f"receiver {trip.receiver!r} with channels {trip.channels}")
    judge_phases(gate, trip.phases())
