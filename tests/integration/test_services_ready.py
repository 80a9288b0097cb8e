"""Every service starts from stack/docker-compose.yml and passes its own readiness check.

Seed success criterion: "All Docker services start and pass health checks".
Readiness is the compose healthcheck run inside the container, polled with a deadline.
"""

import pytest

from obsgate.bringup.stack import Stack
from obsgate.clients import LokiAPI
from obsgate.core.recorder import GateRecorder


def _ready(stack: Stack, service: str, gate: GateRecorder) -> None:
    handle = stack[service].require()
    gate.evidence["ready_after_s"] = handle.ready_after_s
    gate.measure("service_ready_s", handle.ready_after_s or 0.0, name=f"{service}_ready_s")


@pytest.mark.gate(category="Functionality", weight=3)
def test_loki_is_ready(stack: Stack, gate: GateRecorder, request: pytest.FixtureRequest) -> None:
    _ready(stack, "loki", gate)
    loki_api: LokiAPI = request.getfixturevalue("loki_api")   # only once Loki is known to be up
    response = loki_api.ready()
    gate.evidence["GET /ready"] = f"{response.status_code} {response.text.strip()[:80]}"
    assert response.status_code == 200, f"Loki /ready answered {response.status_code}: {response.text[:200]}"


@pytest.mark.gate(category="Functionality", weight=2)
def test_prometheus_is_ready(stack: Stack, gate: GateRecorder) -> None:
    _ready(stack, "prometheus", gate)


@pytest.mark.gate(category="Functionality", weight=2)
def test_alertmanager_is_ready(stack: Stack, gate: GateRecorder) -> None:
    _ready(stack, "alertmanager", gate)


@pytest.mark.gate(category="Functionality", weight=2)
def test_grafana_is_ready(stack: Stack, gate: GateRecorder) -> None:
    _ready(stack, "grafana", gate)


@pytest.mark.gate(category="Functionality", weight=3)
def test_nginx_is_ready(stack: Stack, gate: GateRecorder) -> None:
    _ready(stack, "nginx", gate)
