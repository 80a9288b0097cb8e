"""TLS at the edge: plain HTTP only redirects, legacy protocol versions and weak cipher suites are
refused, modern versions accepted, security headers on every HTTPS answer, and the served certificate
chains to the run's CA.
"""

from __future__ import annotations

import re

import httpx
import pytest

from obsgate.bringup.secrets import SERVER_NAMES, RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.edge.ciphers import probe_weak_suites
from obsgate.checks.edge.probes import PUSH, SECURITY_HEADERS, preflight, shown, unlisted_origins
from obsgate.clients import API, Gateway
from obsgate.clients.tlsprobe import ProbeError, probe_version, verify_chain
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun
from obsgate.stackfiles.nginx import CorsAllowList

LEGACY = ("TLSv1", "TLSv1.1")
MODERN = ("TLSv1.2", "TLSv1.3")
PUBLIC_HOST = "obs.retail.example"      # any name a client may have used: the redirect must keep it


@pytest.mark.gate(category="Security", weight=2)
def test_http_redirects_to_https(gateway: Gateway, gate: GateRecorder) -> None:
    """Plain HTTP must never serve content (credentials would travel in clear): 301 to the same URL on https."""
    problems = []
    with httpx.Client(base_url=gateway.http_url(), follow_redirects=False, timeout=10) as client:
        for target in ("/loki/api/v1/push?probe=1", "/prometheus/api/v1/query?query=up", "/"):
            response = client.get(target, headers={"Host": PUBLIC_HOST})
            gate.evidence[f"http GET {target}"] = {"status": response.status_code,
                                                    "location": response.headers.get("location")}
            expected = f"https://{PUBLIC_HOST}{target}"
            if response.status_code != 301 or response.headers.get("location") != expected:
                problems.append(f"GET {target}: {response.status_code} location "
                                f"{response.headers.get('location')!r} (expected 301 to {expected})")
    assert not problems, "port 80 does not redirect to https: " + "; ".join(problems)


def _probe_all(nginx: ServiceHandle, versions: tuple[str, ...], gate: GateRecorder) -> dict[str, bool]:
    host, port = nginx.published(443)
    accepted = {}
    for version in versions:
        try:
            result = probe_version(host, port, version)
        except ProbeError as exc:
            raise AssertionError(f"{version} probe could not be made: {exc}") from None
        gate.evidence[version] = result.describe()
        accepted[version] = result.accepted
    return accepted


@pytest.mark.gate(category="Security", weight=3)
def test_tls_legacy_versions_refused(nginx: ServiceHandle, gate: GateRecorder) -> None:
    """TLS 1.0 and 1.1 are broken (BEAST, SHA-1 MACs) and disallowed by PCI DSS for payment systems."""
    accepted = [v for v, ok in _probe_all(nginx, LEGACY, gate).items() if ok]
    assert not accepted, f"nginx completed handshakes with {accepted}: {[gate.evidence[v] for v in accepted]}"


@pytest.mark.gate(category="Security", weight=2)
def test_tls_modern_versions_accepted(nginx: ServiceHandle, gate: GateRecorder) -> None:
    """TLS 1.2 (older POS terminals) and 1.3 must both work."""
    refused = [v for v, ok in _probe_all(nginx, MODERN, gate).items() if not ok]
    assert not refused, f"nginx refused {refused}: {[gate.evidence[v] for v in refused]}"


@pytest.mark.gate(category="Security", weight=2)
def test_tls_weak_cipher_suites_refused(nginx: ServiceHandle, gate: GateRecorder) -> None:
    """Anonymous, NULL, RC4, 3DES, MD5, CBC and non-forward-secret suites must not be negotiable at TLS 1.2;
    what this client cannot offer is listed as not tried, never passed."""
    host, port = nginx.published(443)
    try:
        probe = probe_weak_suites(host, port)
    except ProbeError as exc:
        raise AssertionError(f"weak cipher probe could not be made: {exc}") from None
    gate.evidence.update(probe.evidence())
    probe.require_tried()
    accepted = probe.accepted()
    assert not accepted, ("nginx negotiated weak TLS 1.2 suites: "
                          + "; ".join(f"{kind}: {', '.join(names)}" for kind, names in accepted.items())
                          + f" ({probe.untried()})")


@pytest.mark.gate(category="Security", weight=2)
def test_security_headers_on_https_responses(anon: API, cors_allow_list: CorsAllowList,
                                             gate: GateRecorder) -> None:
    """HSTS, X-Frame-Options and X-Content-Type-Options on every kind of answer, errors included
    (a location with its own add_header silently drops the server-level ones)."""
    answers = {
        "OPTIONS push (preflight)": preflight(anon, (*cors_allow_list.exact, *unlisted_origins(cors_allow_list))[0]),
        "POST push without credentials": anon.post(PUSH, json={}),
        "GET loki query without credentials": anon.get("/loki/api/v1/query", params={"query": "{a=\"b\"}"}),
        "GET /loki/config (refused path)": anon.get("/loki/config"),
        "GET prometheus without credentials": anon.get("/prometheus/api/v1/query", params={"query": "up"}),
        "GET /prometheus (redirect)": anon.get("/prometheus"),
        "GET / (Grafana)": anon.get("/"),
    }
    problems = []
    for what, response in answers.items():
        gate.evidence[what] = shown(response, SECURITY_HEADERS)
        hsts = response.headers.get("strict-transport-security", "")
        max_age = re.search(r"max-age=(\d+)", hsts)
        if max_age is None or int(max_age.group(1)) <= 0:
            problems.append(f"{what} ({response.status_code}): Strict-Transport-Security {hsts or 'absent'!r}")
        if response.headers.get("x-frame-options", "").upper() not in ("DENY", "SAMEORIGIN"):
            problems.append(f"{what} ({response.status_code}): X-Frame-Options "
                            f"{response.headers.get('x-frame-options')!r}")
        if response.headers.get("x-content-type-options", "").lower() != "nosniff":
            problems.append(f"{what} ({response.status_code}): X-Content-Type-Options "
                            f"{response.headers.get('x-content-type-options')!r}")
    assert not problems, "HTTPS answers without security headers: " + "; ".join(problems)


@pytest.mark.gate(category="Security", weight=2)
def test_served_certificate_chains_to_run_ca(nginx: ServiceHandle, run_secrets: RunSecrets, gate_run: GateRun,
                                             gate: GateRecorder) -> None:
    """Clients pin the deployment's CA: the certificate nginx serves must chain to it and name the host."""
    host, port = nginx.published(443)
    name = SERVER_NAMES[0] if gate_run.target is None else host    # a target: the name its URL uses
    try:
        chain = verify_chain(host, port, run_secrets.ca_cert, name)
    except ProbeError as exc:
        raise AssertionError(str(exc)) from None
    gate.evidence["certificate"] = chain.describe()
    assert chain.verified, f"served certificate does not verify against the run's CA: {chain.describe()}"
