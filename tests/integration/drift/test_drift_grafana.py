"""Grafana runs the approved provisioning: its datasources and dashboards, listed by its API, against
stack/grafana as the compose file mounts it (the version is judged with the others, test_drift_versions.py).

In a ``--target`` run Grafana is asked through nginx with the service-account token
(OBSGATE_GRAFANA_TOKEN); on the gate's own stack, as its admin. Not evaluated where Grafana cannot run.
"""

from __future__ import annotations

import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks import drift
from obsgate.clients import GrafanaAPI
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_datasources_match_provisioning(grafana_api: GrafanaAPI, grafana: ServiceHandle,
                                                gate: GateRecorder) -> None:
    """GET /api/datasources: each provisioned datasource with its name, type, URL and default flag."""
    approved = drift.provisioned_datasource_settings(grafana.spec)
    gate.evidence["provisioned"] = [d.uid for d in approved]
    problems = drift.datasource_drift(approved, grafana_api.datasource_settings())
    assert not problems, drift.explained(problems, drift.GRAFANA_FIX)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_dashboards_match_provisioning(grafana_api: GrafanaAPI, grafana: ServiceHandle,
                                               gate: GateRecorder) -> None:
    """GET /api/search: each provisioned dashboard with its file's title, in its provider's folder."""
    approved = drift.provisioned_boards(grafana.spec)
    gate.evidence["provisioned"] = [b.uid for b in approved]
    problems = drift.dashboard_drift(approved, grafana_api.dashboards())
    assert not problems, drift.explained(problems, drift.GRAFANA_FIX)
