"""State survives a restart, a stop/start and a re-creation; nginx follows a re-created upstream.

Seed success criterion "services survive restart". Each stateful service is restarted,
stopped and started, and re-created on its named volume (obsgate.checks.resilience.lifecycle);
each way back to ready is timed against ``service_ready_s``; Grafana keeps the folders and
dashboards users created (obsgate.checks.resilience.dashboards). On the resilience stack,
never the run's shared one.
"""

from __future__ import annotations

import time

import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.logs import LogsClient
from obsgate.checks.resilience.dashboards import create_dashboard, dashboard_missing
from obsgate.checks.resilience.lifecycle import Survival, address_taken, failures, survive_each
from obsgate.checks.resilience.loglines import lines_missing
from obsgate.checks.resilience.silences import create_silence, silence_missing
from obsgate.checks.resilience.tsdb import last_scrape, scrape_missing
from obsgate.clients import AlertmanagerAPI, Gateway, GrafanaAPI, PrometheusAPI
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import poll
from obsgate.run import GateRun

QUERYABLE_TIMEOUT_S = 15.0
SERVED_AGAIN_TIMEOUT_S = 25.0   # nginx re-resolves every 10s (resolver valid=10s), plus readiness


def _record(gate: GateRecorder, service: str, results: list[Survival]) -> None:
    for r in results:
        gate.measure("service_ready_s", r.ready_s, name=f"{service}_{r.lifecycle}_ready_s")


@pytest.mark.gate(category="Resilience", weight=2)
def test_loki_lines_survive_restart_stop_start_and_recreation(own_logs: LogsClient, own_loki: ServiceHandle,
                                                             gate: GateRecorder) -> None:
    """Lines acknowledged before are all queryable, unchanged, after restart, stop/start and re-creation."""
    ts = time.time_ns()
    pushed = [(ts + i, f"line {i} pushed before the restarts") for i in range(10)]
    own_logs.push_and_wait([(own_logs.labels(), pushed)], timeout_s=QUERYABLE_TIMEOUT_S)
    results = survive_each(own_loki, lambda: lines_missing(own_logs, pushed, QUERYABLE_TIMEOUT_S))
    _record(gate, "loki", results)
    lost = failures(results, "loki")
    assert not lost, "; ".join(lost)


@pytest.mark.gate(category="Resilience", weight=2)
def test_prometheus_series_survive_restart_stop_start_and_recreation(
        own_prometheus: ServiceHandle, own_prometheus_api: PrometheusAPI, gate: GateRecorder) -> None:
    """Every series of a scrape before is still there after restart, stop/start and re-creation."""
    scrape = last_scrape(own_prometheus_api, "prometheus")
    gate.evidence["scrape"] = {"job": scrape.job, "at_s": scrape.at_s, "series": scrape.series}
    results = survive_each(own_prometheus, lambda: scrape_missing(own_prometheus_api, scrape))
    _record(gate, "prometheus", results)
    lost = failures(results, "prometheus")
    assert not lost, "; ".join(lost)


@pytest.mark.gate(category="Resilience", weight=2)
def test_alertmanager_silences_survive_restart_stop_start_and_recreation(
        own_alertmanager: ServiceHandle, own_alertmanager_api: AlertmanagerAPI, gate_run: GateRun,
        gate: GateRecorder) -> None:
    """A silence an operator set is still active after restart, stop/start and re-creation."""
    silence = create_silence(own_alertmanager_api, "gate_run", gate_run.run_id)
    gate.evidence["silence"] = silence
    results = survive_each(own_alertmanager, lambda: silence_missing(own_alertmanager_api, silence))
    _record(gate, "alertmanager", results)
    lost = failures(results, "alertmanager")
    assert not lost, "; ".join(lost)


@pytest.mark.gate(category="Resilience", weight=2)
def test_grafana_dashboards_survive_restart_stop_start_and_recreation(
        own_grafana: ServiceHandle, own_grafana_api: GrafanaAPI, gate_run: GateRun, gate: GateRecorder) -> None:
    """A folder and a dashboard a user created are still there, unchanged, after restart, stop/start and
    re-creation."""
    dashboard = create_dashboard(own_grafana_api, gate_run.run_id)
    gate.evidence["dashboard"] = {"uid": dashboard.uid, "folder": dashboard.folder_uid}
    results = survive_each(own_grafana, lambda: dashboard_missing(own_grafana_api, dashboard))
    _record(gate, "grafana", results)
    lost = failures(results, "grafana")
    assert not lost, "; ".join(lost)


@pytest.mark.gate(category="Resilience", weight=2)
def test_nginx_serves_prometheus_again_after_its_recreation_without_restart(
        own_gateway: Gateway, own_prometheus: ServiceHandle, gate: GateRecorder) -> None:
    """Re-created on a new address, Prometheus is served through nginx again; nginx itself untouched."""
    api = own_gateway.prometheus(own_gateway.secrets.read)
    nginx = own_gateway.handle
    before = (nginx.container.attrs["State"]["StartedAt"], own_prometheus.ip)
    assert api.ready().status_code == 200, "Prometheus not served through nginx before the re-creation"
    with address_taken(own_prometheus, nginx.image.ref):
        gate.evidence["prometheus_recreate_ready_s"] = round(own_prometheus.recreate(), 2)
    gate.evidence["prometheus_ip"] = f"{before[1]} -> {own_prometheus.ip}"
    started = time.monotonic()
    poll(lambda: api.ready().status_code == 200, timeout_s=SERVED_AGAIN_TIMEOUT_S,
         what="nginx to serve the re-created Prometheus (/prometheus/-/ready 200)")
    gate.evidence["served_again_after_s"] = round(time.monotonic() - started, 2)
    api.close()
    assert nginx.container.attrs["State"]["StartedAt"] == before[0], "nginx was restarted meanwhile"
