"""Fixtures of the alerting and monitoring-the-monitor checks.

What is expected (scrape jobs, rules, ``for:`` durations, receivers, channels) is read
from the Prometheus and Alertmanager configs the compose file mounts.
"""

from __future__ import annotations

import pytest

from obsgate.gate.hooks import RUN_KEY
from obsgate.run import GateRun
from obsgate.stackfiles.mounts import PrometheusConfig


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per scrape target of the mounted prometheus.yml: each service's monitoring on its own."""
    if "scrape_target" in metafunc.fixturenames:
        run = metafunc.config.stash[RUN_KEY]
        targets = PrometheusConfig.of_service(run.project.services["prometheus"]).targets()
        metafunc.parametrize("scrape_target", targets, ids=[t.job for t in targets])


@pytest.fixture(scope="session")
def prometheus_config(gate_run: GateRun) -> PrometheusConfig:
    return PrometheusConfig.of_service(gate_run.project.services["prometheus"])
