"""Fixtures of the alerting and monitoring-the-monitor checks.

What is expected (scrape jobs, rules, ``for:`` durations, receivers, channels) is read
from the Prometheus and Alertmanager configs the compose file mounts.
"""

from __future__ import annotations

import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.bringup.target import RemoteService
from obsgate.checks.alerting.monitor import scraped_name, scraped_service
from obsgate.gate.hooks import RUN_KEY
from obsgate.run import GateRun
from obsgate.stackfiles.prometheus import PrometheusConfig, ScrapeTarget


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per scrape target of the mounted prometheus.yml: each service's monitoring on its own."""
    if "scrape_target" in metafunc.fixturenames:
        run = metafunc.config.stash[RUN_KEY]
        targets = PrometheusConfig.of_service(run.project.services["prometheus"]).targets()
        metafunc.parametrize("scrape_target", targets, ids=[t.job for t in targets])


@pytest.fixture
def service(gate_run: GateRun, scrape_target: ScrapeTarget, request: pytest.FixtureRequest) -> ServiceHandle | RemoteService:
    """The service behind ``scrape_target``, whether it can run here or not (the check tells the two apart); a
    --target's as its stand-in (whether it runs, only its scrape target's health can say)."""
    if gate_run.target is not None:
        remote: RemoteService = request.getfixturevalue(scraped_name(list(gate_run.project.services), scrape_target))
        return remote
    return scraped_service(request.getfixturevalue("stack"), scrape_target)
