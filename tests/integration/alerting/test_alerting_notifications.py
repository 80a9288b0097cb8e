"""Alerts reach the on-call channel: a test alert through the production route tree, timed phase by
phase against gate.yml, and an alert that fired while Alertmanager was down, once it is back.

Both travel on a small second stack of this run (Prometheus + Alertmanager with production
configs, one test rule file, a receiver of its own): first the test alert's trip, then, on
the same overlay, Alertmanager stopped, a second test alert fired and Alertmanager started
again; in the background from the run's first integration check on (tests/integration/conftest.py),
each drill judged on its own.
Both fail at once, with the arithmetic, when the config alone cannot meet the policy.
"""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from obsgate.checks.alerting.alertpath import Trip
from obsgate.checks.alerting.amoutage import Return
from obsgate.checks.alerting.phases import judge_phases
from obsgate.checks.alerting.slack import payload_summary
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Functionality", weight=4)
def test_test_alert_reaches_critical_receiver(test_alert_trip: Future[Trip], gate: GateRecorder) -> None:
    """A critical alert must reach the critical Slack channel within the delivery target."""
    trip = test_alert_trip.result()
    payload = trip.delivery.slack()
    gate.evidence["route"] = {"critical": trip.receiver, "channels": trip.channels, "warning": trip.warning_receiver}
    gate.evidence["payload"] = payload_summary(trip.delivery)
    gate.evidence.update(trip.evidence())
    assert trip.receiver != trip.warning_receiver, (
        f"critical and warning alerts both route to {trip.receiver!r}: nothing pages for critical ones")
    assert payload.channel in trip.channels, (
        f"test alert posted to channel {payload.channel!r}; the route tree sends critical alerts to "
        f"receiver {trip.receiver!r} with channels {trip.channels}")
    judge_phases(gate, trip.phases(), trip.load)


@pytest.mark.gate(category="Resilience", weight=3)
def test_alert_fired_during_alertmanager_outage_is_delivered_after_its_return(
        alertmanager_return: Future[Return], gate: GateRecorder) -> None:
    """With Alertmanager down Prometheus evaluates on and fires; once it is back the alert reaches on-call
    within alert_after_alertmanager_return_s."""
    outage = alertmanager_return.result()
    gate.evidence.update(outage.evidence())
    gate.measure("alert_after_alertmanager_return_s", outage.return_s, name="alert_after_alertmanager_return_s")
