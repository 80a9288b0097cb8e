"""The deployment runs the approved images: what Loki, Prometheus and Grafana say they are (their build info,
through nginx) against the version the approved image's tag names (the ``--image`` the gate ran, else the
compose pin). A tag naming no version (``latest``) leaves the check not evaluated, saying why.
"""

from __future__ import annotations

import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks import drift
from obsgate.clients import GrafanaAPI, LokiAPI, PrometheusAPI
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun


def _judge(service: str, running: str, gate_run: GateRun, gate: GateRecorder) -> None:
    approved = drift.approved_image(service, gate_run.overrides, gate_run.project)
    gate.evidence[f"{service} approved"] = f"{approved.ref} ({approved.source})"
    gate.evidence[f"{service} running"] = running
    problems = drift.version_problems(approved, running)
    assert not problems, drift.explained(problems, drift.IMAGE_FIX)


@pytest.mark.gate(category="Configuration", weight=2)
def test_loki_runs_the_approved_version(read_loki: LokiAPI, gate_run: GateRun, gate: GateRecorder) -> None:
    """GET /loki/api/v1/status/buildinfo: Loki runs the version the gate approved."""
    _judge("loki", read_loki.buildinfo().version, gate_run, gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_prometheus_runs_the_approved_version(read_prometheus: PrometheusAPI, gate_run: GateRun,
                                              gate: GateRecorder) -> None:
    """GET /prometheus/api/v1/status/buildinfo: Prometheus runs the version the gate approved."""
    _judge("prometheus", read_prometheus.buildinfo().version, gate_run, gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_runs_the_approved_version(grafana_api: GrafanaAPI, grafana: ServiceHandle, gate_run: GateRun,
                                           gate: GateRecorder) -> None:
    """GET /api/health: Grafana runs the version the gate approved."""
    _judge("grafana", grafana_api.version(), gate_run, gate)
