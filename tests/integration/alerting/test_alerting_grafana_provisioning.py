"""Grafana comes up provisioned: its database healthy, the Loki and Prometheus datasources with the
uids the dashboards use, healthy, the dashboards in their folder, no provisioning errors logged, and
a line this run pushed readable through Grafana's Loki datasource.

Expectations are read from stack/grafana/provisioning and stack/grafana/dashboards as mounted;
the judging is obsgate.checks.grafana (unit-tested with Grafana's documented answers).
Not evaluated where Grafana cannot run.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.checks import grafana as gc
from obsgate.checks.logs import RUN_LABEL, describe, new_run_label
from obsgate.clients import Gateway, GrafanaAPI
from obsgate.clients.logproto import selector
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import poll
from obsgate.run import GateRun


@pytest.mark.gate(category="Functionality", weight=1)
def test_grafana_health_reports_database_ok(grafana_api: GrafanaAPI, grafana: ServiceHandle,
                                            gate: GateRecorder) -> None:
    """Grafana's own health: its database (users, dashboards, alert state) is usable."""
    reply = gc.Reply.of(grafana_api.health())
    gate.evidence["GET /api/health"] = reply.short()
    problems = gc.health_problems(reply)
    assert not problems, "; ".join(problems)


@pytest.mark.gate(category="Functionality", weight=2)
def test_grafana_datasources_provisioned(grafana_api: GrafanaAPI, grafana: ServiceHandle,
                                         gate: GateRecorder) -> None:
    """Dashboards reference datasources by uid: a missing or renamed one empties every panel."""
    expected = gc.provisioned_datasources(grafana.spec)
    gate.evidence["provisioned"] = [d.__dict__ for d in expected]
    problems = gc.datasource_problems(expected, grafana_api.datasources())
    assert not problems, "; ".join(problems)


@pytest.mark.gate(category="Functionality", weight=2)
def test_grafana_datasources_healthy(grafana_api: GrafanaAPI, grafana: ServiceHandle, gate: GateRecorder) -> None:
    """Each provisioned datasource must reach its backend (URL, network, credentials)."""
    problems = []
    for datasource in gc.provisioned_datasources(grafana.spec):
        reply = gc.Reply.of(grafana_api.datasource_health(datasource.uid))
        gate.evidence[f"health {datasource.uid}"] = reply.short()
        problems += gc.datasource_health_problems(datasource.uid, reply)
    assert not problems, "; ".join(problems)


@pytest.mark.gate(category="Functionality", weight=2)
def test_grafana_dashboards_in_provisioned_folder(grafana_api: GrafanaAPI, grafana: ServiceHandle,
                                                  gate: GateRecorder) -> None:
    """The shipped dashboards exist, in the folder their provider puts them in."""
    expected = gc.provisioned_dashboards(grafana.spec)
    gate.evidence["provisioned"] = [f.__dict__ for f in expected]
    problems = gc.dashboard_problems(expected, grafana_api.search(type="dash-db"))
    assert not problems, "; ".join(problems)


@pytest.mark.gate(category="Functionality", weight=1)
def test_grafana_log_shows_no_provisioning_errors(grafana: ServiceHandle, gate: GateRecorder) -> None:
    """A provisioning error (bad dashboard JSON, bad datasource) is logged, not shown to anyone."""
    errors = gc.provisioning_errors(grafana.logs(tail=2000))
    gate.evidence["provisioning errors"] = errors[:20]
    assert not errors, "Grafana logged provisioning errors: " + "; ".join(errors[:10])


@pytest.mark.gate(category="Functionality", weight=3)
def test_grafana_reads_a_pushed_line_through_loki_datasource(grafana_api: GrafanaAPI, grafana: ServiceHandle,
                                                              loki: ServiceHandle, gateway: Gateway,
                                                              run_secrets: RunSecrets, gate_run: GateRun,
                                                              gate: GateRecorder) -> None:
    """What users do: a line pushed through nginx, read back by a LogQL query through Grafana."""
    uid = next((d.uid for d in gc.provisioned_datasources(grafana.spec) if d.type == "loki"), None)
    assert uid, "no Loki datasource is provisioned"
    label, line = new_run_label(gate_run.run_id), json.dumps({"message": "via grafana", "id": uuid.uuid4().hex})
    start = time.time_ns()
    push = gateway.loki(run_secrets.push)
    try:
        response = push.push([({RUN_LABEL: label, "service": "obs-gate-grafana"}, [(start, line)])])
    finally:
        push.close()
    assert response.status_code == 204, f"push through nginx answered {describe(response)}"
    query = selector({RUN_LABEL: label})
    replies: list[gc.Reply] = []

    def found() -> bool:
        replies.append(gc.Reply.of(grafana_api.loki_query_range(uid, query, start, time.time_ns() + 60 * 10**9)))
        return line in gc.loki_lines(replies[-1])

    poll(found, timeout_s=15, what=f"{query} through Grafana's datasource {uid!r}",
         evidence=lambda: f"last answer: {replies[-1].short() if replies else 'none'}")
    gate.evidence["query"] = query
