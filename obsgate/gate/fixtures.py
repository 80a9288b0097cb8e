"""The gate's fixtures, one per resource: the run, its policy and secrets, the stack, each
service and its typed client, the gateway, the alert receiver, and the check's recorder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.clients import AlertmanagerAPI, Endpoint, Gateway, GrafanaAPI, LokiAPI, PrometheusAPI
from obsgate.clients.webhook import WebhookReceiver
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.gate.hooks import RECORDER_KEY, RUN_KEY
from obsgate.run import GateRun


@pytest.fixture(scope="session")
def gate_run(pytestconfig: pytest.Config) -> GateRun:
    return pytestconfig.stash[RUN_KEY]


@pytest.fixture(scope="session")
def policy(gate_run: GateRun) -> Policy:
    return gate_run.policy


@pytest.fixture(scope="session")
def run_secrets(gate_run: GateRun) -> RunSecrets:
    return gate_run.secrets


@pytest.fixture(scope="session")
def stack(gate_run: GateRun) -> Stack:
    """The whole compose stack, up and ready (brought up once, on first use)."""
    return gate_run.stack()


@pytest.fixture
def gate(request: pytest.FixtureRequest, policy: Policy) -> GateRecorder:
    """Record measurements (judged against gate.yml targets) and evidence for this check."""
    recorder = GateRecorder(policy)
    request.node.stash[RECORDER_KEY] = recorder
    return recorder


def _service(stack: Stack, name: str) -> ServiceHandle:
    return stack[name].require()


def _port(handle: ServiceHandle) -> int:
    """The service's own port, as the compose file exposes it."""
    if not handle.spec.expose:
        raise NotEvaluated(f"{handle.name} exposes no port in the compose file")
    return handle.spec.expose[0]


@pytest.fixture(scope="session")
def loki(stack: Stack) -> ServiceHandle:
    return _service(stack, "loki")


@pytest.fixture(scope="session")
def prometheus(stack: Stack) -> ServiceHandle:
    return _service(stack, "prometheus")


@pytest.fixture(scope="session")
def alertmanager(stack: Stack) -> ServiceHandle:
    return _service(stack, "alertmanager")


@pytest.fixture(scope="session")
def grafana(stack: Stack) -> ServiceHandle:
    return _service(stack, "grafana")


@pytest.fixture(scope="session")
def nginx(stack: Stack) -> ServiceHandle:
    return _service(stack, "nginx")


@pytest.fixture(scope="session")
def loki_api(loki: ServiceHandle) -> Iterator[LokiAPI]:
    api = LokiAPI(Endpoint.direct(loki, _port(loki)))
    yield api
    api.close()


@pytest.fixture(scope="session")
def prometheus_api(prometheus: ServiceHandle) -> Iterator[PrometheusAPI]:
    api = PrometheusAPI(Endpoint.direct(prometheus, _port(prometheus)))
    yield api
    api.close()


@pytest.fixture(scope="session")
def alertmanager_api(alertmanager: ServiceHandle) -> Iterator[AlertmanagerAPI]:
    api = AlertmanagerAPI(Endpoint.direct(alertmanager, _port(alertmanager)))
    yield api
    api.close()


@pytest.fixture(scope="session")
def grafana_api(grafana: ServiceHandle, run_secrets: RunSecrets) -> Iterator[GrafanaAPI]:
    """Grafana's API as its admin (user from the compose file, password generated for this run)."""
    api = GrafanaAPI.as_admin(grafana, run_secrets)
    yield api
    api.close()


@pytest.fixture(scope="session")
def gateway(nginx: ServiceHandle, run_secrets: RunSecrets) -> Gateway:
    """nginx as clients reach it: HTTPS on the published port, verified against the run's CA."""
    return Gateway(nginx, run_secrets)


@pytest.fixture(scope="session")
def alert_receiver(stack: Stack, gate_run: GateRun) -> WebhookReceiver:
    """Where Alertmanager's Slack receiver posts in this run (the Slack URL secret points here)."""
    if gate_run.webhook is None:
        raise NotEvaluated("the run's webhook receiver is not running")
    return gate_run.webhook
