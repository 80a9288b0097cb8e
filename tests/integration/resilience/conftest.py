"""Fixtures of the resilience checks.

``crash_stack`` is a second stack of this run (Loki and Prometheus from the production
compose specs, their own volumes): the crash checks SIGKILL its services, which on the
run's shared stack would make every check running beside them fail. ``retention_drill``
is a third, Loki alone with its timing accelerated (obsgate.checks.resilience.retention),
pushed to and shipped once for the compactor and retention checks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obsgate.bringup.overlay import overlay_stack
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.checks.logs import LogsClient, new_run_label
from obsgate.checks.resilience.retention import RetentionDrill, Settings, accelerated
from obsgate.clients import Endpoint, LokiAPI, PrometheusAPI
from obsgate.gate.recorder import GateRecorder
from obsgate.run import GateRun


@pytest.fixture(scope="session")
def crash_stack(gate_run: GateRun) -> Iterator[Stack]:
    services = {name: gate_run.project.services[name] for name in ("loki", "prometheus")}
    with overlay_stack(gate_run, "crash", services) as stack:
        yield stack


@pytest.fixture
def crash_loki(crash_stack: Stack) -> ServiceHandle:
    return crash_stack["loki"].require()


@pytest.fixture
def crash_prometheus(crash_stack: Stack) -> ServiceHandle:
    return crash_stack["prometheus"].require()


@pytest.fixture
def crash_logs(crash_loki: ServiceHandle, gate_run: GateRun, gate: GateRecorder) -> Iterator[LogsClient]:
    """Push to and read from the crash stack's Loki directly, inside a label of this check."""
    api = LokiAPI(Endpoint.direct(crash_loki, crash_loki.spec.expose[0]))
    client = LogsClient(api, api, new_run_label(gate_run.run_id), evidence=lambda: crash_loki.log_tail(20))
    gate.evidence["run_label"] = client.selector()
    yield client
    api.close()


@pytest.fixture
def crash_prometheus_api(crash_prometheus: ServiceHandle) -> Iterator[PrometheusAPI]:
    api = PrometheusAPI(Endpoint.direct(crash_prometheus, crash_prometheus.spec.expose[0]))
    yield api
    api.close()


@pytest.fixture(scope="session")
def retention_drill(gate_run: GateRun) -> Iterator[RetentionDrill]:
    """An accelerated Loki with expired and recent lines pushed, flushed and its index shipped."""
    with overlay_stack(gate_run, "retention", {"loki": accelerated(gate_run.project.services["loki"])}) as stack:
        loki = stack["loki"].require()
        api = LokiAPI(Endpoint.direct(loki, loki.spec.expose[0]))
        logs = LogsClient(api, api, new_run_label(gate_run.run_id), evidence=lambda: loki.log_tail(20))
        drill = RetentionDrill(loki, api, logs, Settings.from_config(api.config()))
        drill.push_and_ship()
        yield drill
        api.close()
