"""Fixtures of the alerting and monitoring-the-monitor checks.

What is expected (scrape jobs, rules, ``for:`` durations, receivers, channels) is read
from the Prometheus and Alertmanager configs the compose file mounts.
"""

from __future__ import annotations

import pytest

from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.checks.alerting.monitor import scraped_service
from obsgate.gate.hooks import RUN_KEY
from obsgate.run import GateRun
from obsgate.stackfiles.prometheus import PrometheusConfig, ScrapeTarget


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per scrape target of the mounted prometheus.yml: each service's monitoring on its own."""
    if "scrape_target" in metafunc.fixturenames:
        run = metafunc.config.stash[RUN_KEY]
        targets = PrometheusConfig.of_service(run.project.services["prometheus"]).targets()
        metafunc.parametrize("scrape_target", targets, ids=[t.job for t in targets])


@pytest.fixture(scope="session")
def prometheus_config(gate_run: GateRun) -> PrometheusConfig:
    return PrometheusConfig.of_service(gate_run.project.services["prometheus"])


@pytest.fixture
def service(stack: Stack, scrape_target: ScrapeTarget) -> ServiceHandle:
    """The service behind ``scrape_target``, whether it can run here or not (the check tells the two apart)."""
    return scraped_service(stack, scrape_target)
