"""Background drills of the integration checks, started with the first check of the run.

``alert_drills`` (obsgate.checks.alerting.alertpath) times a test alert through the
production routing on a small stack of its own, then stops its Alertmanager and waits for
an alert that fired meanwhile (Prometheus resends after a minute): a minute and a half,
overlapping everything else. Only the drills a selected check needs run.

The checks that read a drill's outcome run last in the session (after the load checks,
which these mostly idle overlays leave alone), so no check waits for a drill that the
checks before it could have overlapped.

``loki_outage_drill`` (obsgate.checks.resilience.outage) stops Loki on a stack of its own
and, when a selected check asks for ``loki_down_paged``, waits out LokiDown's ``for:``:
started at once, its wait overlaps everything else. Without that check the outage lasts
only as long as the gateway probes do.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future

import pytest

from obsgate.checks.alerting.alertpath import Drills, Trip, drills_in_background
from obsgate.checks.alerting.amoutage import Return
from obsgate.checks.resilience.outage import BackgroundOutage, OutageDrill, outage_in_background
from obsgate.core import progress
from obsgate.core.policy import Policy
from obsgate.gate.fixtures import needs
from obsgate.run import GateRun

BACKGROUND = frozenset({"loki_outage_drill", "loki_down_paged", "test_alert_trip", "alertmanager_return"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Checks that read a background drill's outcome go last, in their order."""
    items.sort(key=lambda item: bool(BACKGROUND & set(getattr(item, "fixturenames", ()))))


@pytest.fixture(scope="session", autouse=True)
def loki_outage_background(request: pytest.FixtureRequest) -> Iterator[BackgroundOutage | None]:
    """The outage drill, in the background when a selected check needs it (else nothing starts)."""
    if not needs(request.session, "loki_outage_drill", "loki_down_paged"):
        yield None
        return
    gate_run: GateRun = request.getfixturevalue("gate_run")
    policy: Policy = request.getfixturevalue("policy")
    with outage_in_background(gate_run, policy, page=needs(request.session, "loki_down_paged")) as future:
        yield future


@pytest.fixture(scope="session")
def loki_outage_drill(loki_outage_background: BackgroundOutage | None) -> OutageDrill:
    """The finished outage drill (each part carries its own outcome)."""
    assert loki_outage_background is not None, "loki_outage_drill requested but not started"
    return progress.await_result(loki_outage_background.drill, "Loki outage drill", "obsgate-outage")


@pytest.fixture(scope="session")
def loki_down_paged(loki_outage_background: BackgroundOutage | None) -> BackgroundOutage:
    """The outage drill, which then also waits for LokiDown at the receiver (waited for here, showing how it goes,
    unless LokiDown's check already failed: that check fails at once)."""
    assert loki_outage_background is not None, "loki_down_paged requested but not started"
    if loki_outage_background.check.error is None:
        progress.await_done(loki_outage_background.drill, "Loki outage drill", "obsgate-outage")
    return loki_outage_background


@pytest.fixture(scope="session", autouse=True)
def alert_drills(request: pytest.FixtureRequest) -> Iterator[Drills | None]:
    """The test alert's trip and the Alertmanager outage, in the background when a selected check needs one."""
    trip, outage = needs(request.session, "test_alert_trip"), needs(request.session, "alertmanager_return")
    if not (trip or outage):
        yield None
        return
    with drills_in_background(request.getfixturevalue("gate_run"), request.getfixturevalue("policy"),
                              trip=trip, outage=outage) as drills:
        yield drills


@pytest.fixture(scope="session")
def test_alert_trip(alert_drills: Drills | None) -> Future[Trip]:
    assert alert_drills is not None, "test_alert_trip requested but not started"
    return progress.await_done(alert_drills.trip, "test alert drill", "obsgate-test-alert")


@pytest.fixture(scope="session")
def alertmanager_return(alert_drills: Drills | None) -> Future[Return]:
    assert alert_drills is not None, "alertmanager_return requested but not started"
    return progress.await_done(alert_drills.outage, "Alertmanager outage drill", "obsgate-test-alert")
