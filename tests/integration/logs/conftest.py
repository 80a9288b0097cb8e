"""Fixtures of the logs-in-and-out checks: a push/read client pair through the gateway
inside a label unique to the check, the limits Loki really runs with, and the page size the
canary's paging check reads by (the repository's Loki config, read in both modes).

Every check here asks for ``loki``: where Loki cannot run (no image), the check is
"not evaluated" instead of failing on nginx's 502.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.canary import PagingPlan
from obsgate.checks.logs import LogsClient, LokiLimits, new_run_label
from obsgate.clients import Gateway, LokiAPI
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun
from obsgate.stackfiles import loki as loki_config
from obsgate.stackfiles.project import ProjectFiles

ENTRIES_LIMIT = "limits_config.max_entries_limit_per_query"


@pytest.fixture
def logs(loki: ServiceHandle, gateway: Gateway, run_secrets: RunSecrets, gate_run: GateRun,
         gate: GateRecorder) -> Iterator[LogsClient]:
    """Push with the push credential and query with the read credential, both through nginx (TLS)."""
    push, read = gateway.loki(run_secrets.push), gateway.loki(run_secrets.read)
    client = LogsClient(push, read, new_run_label(gate_run.run_id))
    gate.evidence["run_label"] = client.selector()
    yield client
    push.close()
    read.close()


@pytest.fixture
def loki_limits(loki_api: LokiAPI, gate: GateRecorder) -> LokiLimits:
    """The limits from Loki's own /config (the service itself, so read directly)."""
    limits = LokiLimits.from_config(loki_api.config())
    gate.evidence["loki_limits"] = dataclasses.asdict(limits)
    return limits


@pytest.fixture
def loki_reader(logs: LogsClient, gate_run: GateRun, request: pytest.FixtureRequest) -> LokiAPI:
    """Where Grafana's Loki data source reads: Loki on the run network; a --target's Loki through its gateway with
    the read credential (its own port is not the gate's to reach)."""
    if gate_run.target is not None:
        return logs.read_api
    api: LokiAPI = request.getfixturevalue("loki_api")
    return api


@pytest.fixture
def paging_plan(gate_run: GateRun, request: pytest.FixtureRequest, gate: GateRecorder) -> PagingPlan:
    """Pages of the entries limit the repository's Loki config declares (what clients page with); in container
    mode the limit Loki's own /config reports is kept beside it as evidence."""
    files = ProjectFiles(gate_run.project)
    declared = int(loki_config.value(files.loki, ENTRIES_LIMIT))
    gate.evidence["entries_limit"] = {"declared": declared, "file": str(files.config("loki")[1])}
    if gate_run.target is None:
        loki_api: LokiAPI = request.getfixturevalue("loki_api")
        effective = loki_config.effective(loki_api.config(), "loki").get(ENTRIES_LIMIT)
        gate.evidence["entries_limit"]["effective"] = effective
    return PagingPlan.of(declared)
