"""The seed's DR plan, drilled: back up Loki's, Prometheus' (and Grafana's) volumes, wipe them, restore, start.

One drill (``backup_drill``, module-scoped) on the resilience stack runs the same backup and
restore as ``python -m obsgate backup`` / ``restore`` (obsgate.backup); each check judges one
thing it brought back, and the restore time is held to the seed's RTO. The drill leaves the
stack running and ready, so the checks after it find it as before.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from obsgate.backup import drill
from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.checks.logs import Entry, LogsClient, new_run_label
from obsgate.checks.resilience.dashboards import Dashboard, create_dashboard, dashboard_missing
from obsgate.checks.resilience.loglines import lines_missing
from obsgate.checks.resilience.tsdb import Scrape, last_scrape, scrape_missing
from obsgate.clients import LokiAPI, PrometheusAPI
from obsgate.clients.grafana import GrafanaAPI
from obsgate.core.errors import NotEvaluated
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun

QUERYABLE_TIMEOUT_S = 15.0
LINES = 20


@dataclass
class Drilled:
    """The drill's outcome and what was put in before it, for the checks to look for."""

    result: drill.DrillResult
    logs: LogsClient | None
    pushed: list[Entry]
    prometheus: PrometheusAPI | None
    scrape: Scrape | None
    grafana: GrafanaAPI | None
    dashboard: Dashboard | None


@pytest.fixture(scope="module")
def backup_drill(resilience_stack: Stack, gate_run: GateRun, run_secrets: RunSecrets) -> Iterator[Drilled]:
    """Lines pushed, a scrape noted, a dashboard saved; then the drill, once for every check of this module."""
    stack, services = resilience_stack, drill.drill_services(resilience_stack)
    logs = prometheus = grafana = None
    pushed: list[Entry] = []
    scrape = None
    dashboard = None
    if "loki" in services:
        api = LokiAPI.direct(stack["loki"])
        logs = LogsClient(api, api, new_run_label(gate_run.run_id))
        ts = time.time_ns()
        pushed = [(ts + i, f"line {i} pushed before the backup") for i in range(LINES)]
        logs.push_and_wait([(logs.labels(), pushed)], timeout_s=QUERYABLE_TIMEOUT_S)
    if "prometheus" in services:
        prometheus = PrometheusAPI.direct(stack["prometheus"])
        scrape = last_scrape(prometheus, "prometheus")
    if "grafana" in services:
        grafana = GrafanaAPI.as_admin(stack["grafana"], run_secrets)
        dashboard = create_dashboard(grafana, f"drill-{uuid.uuid4().hex[:8]}")
    with drill.backup_directory(stack.run_id) as directory:
        result = drill.run_drill(stack, services, directory)
    yield Drilled(result, logs, pushed, prometheus, scrape, grafana, dashboard)
    for opened in (logs.push_api if logs else None, prometheus, grafana):
        if opened is not None:
            opened.close()


def _judge(drilled: Drilled, service: str, missing: str | None, gate: GateRecorder) -> None:
    gate.evidence["drill"] = drilled.result.evidence()
    problems = [p for p in (drilled.result.failure(service), missing) if p]
    assert not problems, f"after the backup and restore drill: {'; '.join(problems)}"


@pytest.mark.gate(category="Resilience", weight=3)
def test_backup_restore_drill_brings_back_loki_lines(backup_drill: Drilled, own_loki: ServiceHandle,
                                                     gate: GateRecorder) -> None:
    """Every line pushed before a backup is queryable, unchanged, once its wiped volume is restored."""
    assert backup_drill.logs is not None
    _judge(backup_drill, "loki", lines_missing(backup_drill.logs, backup_drill.pushed, QUERYABLE_TIMEOUT_S), gate)


@pytest.mark.gate(category="Resilience", weight=3)
def test_backup_restore_drill_brings_back_prometheus_series(backup_drill: Drilled, own_prometheus: ServiceHandle,
                                                            gate: GateRecorder) -> None:
    """Every series of the scrape before a backup has that sample again once its wiped volume is restored."""
    assert backup_drill.prometheus is not None and backup_drill.scrape is not None
    gate.evidence["scrape"] = vars(backup_drill.scrape)
    _judge(backup_drill, "prometheus", scrape_missing(backup_drill.prometheus, backup_drill.scrape), gate)


@pytest.mark.gate(category="Resilience", weight=2)
def test_backup_restore_drill_brings_back_grafana_dashboards(backup_drill: Drilled, resilience_stack: Stack,
                                                             gate: GateRecorder) -> None:
    """A dashboard saved before a backup (in grafana.db, not a provisioned file) is back after the restore."""
    if "grafana" not in resilience_stack.services:
        raise NotEvaluated("grafana: not a service of the resilience stack")
    resilience_stack["grafana"].require()
    assert backup_drill.grafana is not None and backup_drill.dashboard is not None
    _judge(backup_drill, "grafana", dashboard_missing(backup_drill.grafana, backup_drill.dashboard), gate)


@pytest.mark.gate(category="Resilience", weight=2)
def test_backup_restore_drill_within_rto(backup_drill: Drilled, gate: GateRecorder) -> None:
    """Wipe, restore and start until every service is ready again takes less than the seed's RTO (1 h)."""
    result = backup_drill.result
    if not result.backed:
        raise NotEvaluated("no service of the DR plan (loki, grafana, prometheus) runs here")
    gate.evidence["drill"] = result.evidence()
    gate.measure("restore_rto_s", result.rto_s, name="restore_rto_s")
    assert not result.failures, "; ".join(result.failures.values())
