"""Background drills of the integration checks, started with the first check of the run.

``loki_outage_drill`` (obsgate.checks.resilience.outage) stops Loki on a stack of its own
and, when a selected check asks for ``loki_down_paged``, waits out LokiDown's ``for:``:
started at once, its wait overlaps everything else. Without that check the outage lasts
only as long as the gateway probes do.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obsgate.checks.resilience.outage import BackgroundOutage, OutageDrill, outage_in_background
from obsgate.gate.policy import Policy
from obsgate.run import GateRun


@pytest.fixture(scope="session", autouse=True)
def loki_outage_background(request: pytest.FixtureRequest) -> Iterator[BackgroundOutage | None]:
    """The outage drill, in the background when a selected check needs it (else nothing starts)."""
    needs = [set(item.fixturenames) for item in request.session.items]
    if not any(n & {"loki_outage_drill", "loki_down_paged"} for n in needs):
        yield None
        return
    gate_run: GateRun = request.getfixturevalue("gate_run")
    policy: Policy = request.getfixturevalue("policy")
    with outage_in_background(gate_run, policy, page=any("loki_down_paged" in n for n in needs)) as future:
        yield future


@pytest.fixture(scope="session")
def loki_outage_drill(loki_outage_background: BackgroundOutage | None) -> OutageDrill:
    """The finished outage drill (each part carries its own outcome)."""
    assert loki_outage_background is not None, "loki_outage_drill requested but not started"
    return loki_outage_background.drill.result()


@pytest.fixture(scope="session")
def loki_down_paged(loki_outage_background: BackgroundOutage | None) -> BackgroundOutage:
    """The outage drill, which then also waits for LokiDown at the receiver (not waited for here)."""
    assert loki_outage_background is not None, "loki_down_paged requested but not started"
    return loki_outage_background
