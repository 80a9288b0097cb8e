"""Fixtures of the drift checks: what was approved (the compose file and its config files, as read by
obsgate.stackfiles) and the running programs as the gateway shows them with the read credential.

Every check asks only for what works in both modes (``gateway``, ``run_secrets``, ``gate_run`` and the
service fixtures, whose ``.spec`` a ``--target`` keeps), so the same checks judge the gate's own stack
and a deployment it did not start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.clients import Gateway, GrafanaAPI, LokiAPI, PrometheusAPI
from obsgate.core.errors import NotEvaluated
from obsgate.run import GateRun
from obsgate.stackfiles.prometheus import PrometheusConfig


def external(gate_run: GateRun) -> bool:
    """Whether the run judges a deployment it did not start (``--target``)."""
    return getattr(gate_run, "target", None) is not None


@pytest.fixture(scope="session")
def approved_prometheus(gate_run: GateRun) -> PrometheusConfig:
    """prometheus.yml and its rule files as the compose file mounts them: what the gate approved."""
    return PrometheusConfig.of_service(gate_run.project.services["prometheus"])


@pytest.fixture
def read_loki(loki: ServiceHandle, gateway: Gateway, run_secrets: RunSecrets) -> Iterator[LokiAPI]:
    """Loki through nginx with the read credential (asks for ``loki``: not evaluated where it cannot run)."""
    api = gateway.loki(run_secrets.read)
    yield api
    api.close()


@pytest.fixture
def read_prometheus(prometheus: ServiceHandle, gateway: Gateway, run_secrets: RunSecrets) -> Iterator[PrometheusAPI]:
    """Prometheus through nginx with the read credential."""
    api = gateway.prometheus(run_secrets.read)
    yield api
    api.close()


@pytest.fixture
def read_grafana(request: pytest.FixtureRequest, grafana: ServiceHandle, gateway: Gateway, gate_run: GateRun,
                 run_secrets: RunSecrets) -> Iterator[GrafanaAPI]:
    """Grafana's API: through nginx with the service-account token of a ``--target``, else as the run's admin."""
    if not external(gate_run):
        yield request.getfixturevalue("grafana_api")
        return
    token = getattr(run_secrets, "grafana_token", "")
    if not token:
        raise NotEvaluated("external target: no Grafana token (export OBSGATE_GRAFANA_TOKEN, a Grafana "
                           "service-account token with the Viewer role)")
    api = GrafanaAPI(gateway.endpoint(upstream="grafana", Authorization=f"Bearer {token}"))
    yield api
    api.close()
