"""CORS on the browser log push, checked with raw HTTP against the real nginx.

Browsers on the POS and back-office origins push logs with fetch(); nginx.conf's
allow-list (``map $http_origin $cors_origin``) says which origins may. A browser only
shows client code the real status (204, 401, 429, 502) if that response carries the
CORS headers too.
"""

from __future__ import annotations

import httpx
import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.edge.probes import (
    PUSH,
    PUSH_LOCATION,
    burst,
    echo_problems,
    listed_origins,
    preflight,
    preflight_problems,
    push_body,
    shown,
    unlisted_origins,
)
from obsgate.checks.logs import describe, new_run_label
from obsgate.clients import API, Gateway
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun
from obsgate.stackfiles.nginx import CorsAllowList, NginxConf


@pytest.mark.gate(category="Security", weight=3)
def test_cors_preflight_from_allowed_origin_is_answered(anon: API, nginx: ServiceHandle,
                                                        cors_allow_list: CorsAllowList,
                                                        gate: GateRecorder) -> None:
    """A listed origin's preflight must allow POST with Authorization and Content-Type, or no push is sent."""
    failures = []
    for origin in listed_origins(cors_allow_list, gate.evidence):
        response = preflight(anon, origin)
        gate.evidence[f"preflight {origin}"] = shown(response)
        failures += [f"{origin}: {p}" for p in preflight_problems(response, origin)]
    assert not failures, "preflight from allowed origins refused: " + "; ".join(failures)


@pytest.mark.gate(category="Security", weight=3)
def test_cors_preflight_from_unlisted_origin_gets_no_allow_origin(anon: API, nginx: ServiceHandle,
                                                                  cors_allow_list: CorsAllowList,
                                                                  gate: GateRecorder) -> None:
    """Any origin not on the list (near misses included) must get no Access-Control-Allow-Origin."""
    admitted = {}
    for origin in unlisted_origins(cors_allow_list):
        response = preflight(anon, origin)
        gate.evidence[f"preflight {origin}"] = shown(response)
        allow = response.headers.get_list("access-control-allow-origin")
        if allow or response.headers.get("access-control-allow-credentials"):
            admitted[origin] = shown(response)
    assert not admitted, f"unlisted origins admitted by nginx's CORS answer: {admitted}"


@pytest.mark.gate(category="Security", weight=2)
def test_cors_headers_on_accepted_push(as_push: API, loki: ServiceHandle, cors_allow_list: CorsAllowList,
                                       gate_run: GateRun, gate: GateRecorder) -> None:
    """A browser must see the 204 of an accepted push (else it retries or reports a failure)."""
    origin = listed_origins(cors_allow_list, gate.evidence)[0]
    response = as_push.post(
        PUSH, json=push_body(new_run_label(gate_run.run_id)), headers={"Origin": origin})
    gate.evidence["push 204"] = shown(response)
    assert response.status_code == 204, f"authenticated push answered {describe(response)}"
    problems = echo_problems(response, origin)
    assert not problems, f"204 push answer hides its status from {origin}: {problems}"


@pytest.mark.gate(category="Security", weight=3)
def test_cors_headers_on_refused_push(bare_nginx: Gateway, run_secrets: RunSecrets, nginx_conf: NginxConf,
                                      cors_allow_list: CorsAllowList, gate_run: GateRun,
                                      gate: GateRecorder) -> None:
    """401, 429 and 502 must carry CORS too, so browser code can tell 'wrong credential' from 'slow down'
    from 'Loki down'. Checked on a nginx-only stack of this run (no Loki behind it, a rate budget of its own)."""
    origin = listed_origins(cors_allow_list, gate.evidence)[0]
    headers = {"Origin": origin}
    body = push_body(new_run_label(gate_run.run_id))
    anon, pusher = bare_nginx.api(), bare_nginx.api(run_secrets.push)
    try:
        seen: dict[int, httpx.Response | None] = {502: pusher.post(PUSH, json=body, headers=headers),
                                                 401: anon.post(PUSH, json=body, headers=headers)}
        limit = nginx_conf.rate_limit(PUSH_LOCATION)
        gate.evidence["rate_limit"] = str(limit)
        if limit is not None:
            # Enough unauthenticated requests to exhaust the configured burst several times over.
            excess = burst(anon, 3 * (limit.burst + 1) + int(limit.rate_per_s), body, headers)
            gate.evidence["burst"] = excess.summary()
            seen[429] = excess.first.get(429)
    finally:
        anon.close()
        pusher.close()
    failures = []
    for status, response in seen.items():
        if response is None:
            failures.append(f"{status}: not provoked by a burst beyond nginx.conf's limit ({limit})")
            continue
        gate.evidence[f"push {status}"] = shown(response)
        if response.status_code != status:
            failures.append(f"{status}: got {describe(response)}")
        failures += [f"{status}: {p}" for p in echo_problems(response, origin)]
    assert not failures, "push refusals without CORS (the browser sees an opaque network error): " + "; ".join(failures)
