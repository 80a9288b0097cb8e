"""Every service starts from stack/docker-compose.yml and passes its own readiness check.

Seed success criterion: "All Docker services start and pass health checks".
Readiness is the compose healthcheck run inside the container, polled with a deadline. A --target's
containers are not the gate's to look into: there each service must answer where clients reach it
(obsgate.checks.readiness).
"""

import pytest

from obsgate.checks.readiness import public_ready
from obsgate.clients import LokiAPI
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun


def _ready(service: str, gate_run: GateRun, request: pytest.FixtureRequest, gate: GateRecorder) -> None:
    if gate_run.target is not None:
        gate.evidence["answers"] = public_ready(service, request.getfixturevalue("gateway"), gate_run.secrets.read,
                                                request.getfixturevalue("prometheus_config"))
        return
    handle = gate_run.stack()[service].require()
    gate.evidence["ready_after_s"] = handle.ready_after_s
    gate.measure("service_ready_s", handle.ready_after_s or 0.0, name=f"{service}_ready_s")


@pytest.mark.gate(category="Functionality", weight=3)
def test_loki_is_ready(gate_run: GateRun, gate: GateRecorder, request: pytest.FixtureRequest) -> None:
    _ready("loki", gate_run, request, gate)
    if gate_run.target is not None:
        return
    loki_api: LokiAPI = request.getfixturevalue("loki_api")   # only once Loki is known to be up
    response = loki_api.ready()
    gate.evidence["GET /ready"] = f"{response.status_code} {response.text.strip()[:80]}"
    assert response.status_code == 200, f"Loki /ready answered {response.status_code}: {response.text[:200]}"


@pytest.mark.gate(category="Functionality", weight=2)
def test_prometheus_is_ready(gate_run: GateRun, gate: GateRecorder, request: pytest.FixtureRequest) -> None:
    _ready("prometheus", gate_run, request, gate)


@pytest.mark.gate(category="Functionality", weight=2)
def test_alertmanager_is_ready(gate_run: GateRun, gate: GateRecorder, request: pytest.FixtureRequest) -> None:
    _ready("alertmanager", gate_run, request, gate)


@pytest.mark.gate(category="Functionality", weight=2)
def test_grafana_is_ready(gate_run: GateRun, gate: GateRecorder, request: pytest.FixtureRequest) -> None:
    _ready("grafana", gate_run, request, gate)


@pytest.mark.gate(category="Functionality", weight=3)
def test_nginx_is_ready(gate_run: GateRun, gate: GateRecorder, request: pytest.FixtureRequest) -> None:
    _ready("nginx", gate_run, request, gate)
