"""nginx basic auth in front of the push endpoint, Loki's read API and Prometheus.

Two credentials: the push one ships inside browser code and is effectively public, so it
must grant nothing but the push; the read one is for operators. Refusals are checked
without Loki (nginx answers them itself); acceptance needs the upstream that answers.
"""

from __future__ import annotations

import pytest

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.edge.probes import PUSH, push_body
from obsgate.checks.logs import describe, new_run_label
from obsgate.clients import API, Gateway
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun

LOKI_QUERY = ("/loki/api/v1/query_range", {"query": '{service="obs-gate-edge"}', "limit": "1"})
PROMETHEUS_QUERY = ("/prometheus/api/v1/query", {"query": "up"})


def wrong(auth: BasicAuth) -> dict[str, tuple[str, str]]:
    """Credentials that must be refused: right user with a wrong password, an unknown user."""
    return {"wrong password": (auth.user, auth.password[::-1] + "x"), "unknown user": ("admin", auth.password)}


def refusals(gateway: Gateway, method: str, path: str, auth: BasicAuth, gate: GateRecorder,
             **kwargs: object) -> list[str]:
    """Send the request with no, a wrong and an unknown credential; every answer must be 401."""
    attempts: dict[str, tuple[str, str] | None] = {"no credentials": None, **wrong(auth)}
    problems = []
    for what, pair in attempts.items():
        api = gateway.api(BasicAuth(*pair) if pair else None)
        try:
            response = api.request(method, path, **kwargs)
        finally:
            api.close()
        gate.evidence[f"{method} {path} with {what}"] = response.status_code
        if response.status_code != 401:
            problems.append(f"{what}: {describe(response)}")
        elif "basic" not in response.headers.get("www-authenticate", "").lower():
            problems.append(f"{what}: 401 without a Basic WWW-Authenticate challenge")
    return problems


@pytest.mark.gate(category="Security", weight=3)
def test_push_refuses_missing_and_wrong_credentials(gateway: Gateway, run_secrets: RunSecrets,
                                                    gate_run: GateRun, gate: GateRecorder) -> None:
    """Nobody without the push credential may write logs."""
    problems = refusals(gateway, "POST", PUSH, run_secrets.push, gate,
                        json=push_body(new_run_label(gate_run.run_id)))
    assert not problems, f"POST {PUSH} not refused with 401: {problems}"


@pytest.mark.gate(category="Security", weight=2)
def test_push_accepts_push_credentials(as_push: API, loki: ServiceHandle, gate_run: GateRun,
                                       gate: GateRecorder) -> None:
    """The push credential the clients carry must work (else every client loses its logs)."""
    response = as_push.post(PUSH, json=push_body(new_run_label(gate_run.run_id)))
    gate.evidence["push with push credential"] = response.status_code
    assert response.status_code == 204, f"push with the push credential answered {describe(response)}"


@pytest.mark.gate(category="Security", weight=3)
def test_loki_query_refuses_missing_and_wrong_credentials(gateway: Gateway, run_secrets: RunSecrets,
                                                          gate: GateRecorder) -> None:
    """Log contents (customer and payment data) are readable only with the read credential."""
    path, params = LOKI_QUERY
    problems = refusals(gateway, "GET", path, run_secrets.read, gate, params=params)
    assert not problems, f"GET {path} not refused with 401: {problems}"


@pytest.mark.gate(category="Security", weight=2)
def test_loki_query_accepts_read_credentials(as_read: API, loki: ServiceHandle, gate: GateRecorder) -> None:
    """Operators (and scripts) query logs through nginx with the read credential."""
    path, params = LOKI_QUERY
    response = as_read.get(path, params=params)
    gate.evidence["query with read credential"] = response.status_code
    assert response.status_code == 200, f"GET {path} with the read credential answered {describe(response)}"


@pytest.mark.gate(category="Security", weight=3)
def test_prometheus_refuses_missing_and_wrong_credentials(gateway: Gateway, run_secrets: RunSecrets,
                                                          gate: GateRecorder) -> None:
    """Prometheus (and its admin-ish API) is never open through the edge."""
    path, params = PROMETHEUS_QUERY
    problems = refusals(gateway, "GET", path, run_secrets.read, gate, params=params)
    assert not problems, f"GET {path} not refused with 401: {problems}"


@pytest.mark.gate(category="Security", weight=2)
def test_prometheus_accepts_read_credentials(as_read: API, prometheus: ServiceHandle, gate: GateRecorder) -> None:
    """Operators reach Prometheus through nginx with the read credential."""
    path, params = PROMETHEUS_QUERY
    response = as_read.get(path, params=params)
    gate.evidence["query with read credential"] = response.status_code
    assert response.status_code == 200 and response.json().get("status") == "success", (
        f"GET {path} with the read credential answered {describe(response)}")


@pytest.mark.gate(category="Security", weight=3)
def test_push_credentials_cannot_read(as_push: API, gate: GateRecorder) -> None:
    """The push credential is public (it ships in browser code): it must not read logs or metrics."""
    problems = []
    for path, params in (LOKI_QUERY, PROMETHEUS_QUERY):
        response = as_push.get(path, params=params)
        gate.evidence[f"GET {path} with push credential"] = response.status_code
        if response.status_code != 401:
            problems.append(f"GET {path} answered {response.status_code} (expected 401)")
            gate.evidence[f"GET {path} answer"] = describe(response)
    assert not problems, f"the push credential reads: {'; '.join(problems)}"
