"""Management and destructive endpoints (Prometheus' admin and lifecycle APIs, Loki's flush, shutdown, config,
ring and delete endpoints, Alertmanager's reload and silences, Grafana's admin API) are refused or absent
through the gateway, whatever credential the stack issues and with a browser's Origin.

The catalogue, the order of the requests (no trigger is ever pulled on a service that could act) and the
verdicts are obsgate.checks.edge.management; which gateway URIs reach each service, nginx.conf's reader.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.checks.edge import management as mg
from obsgate.clients import Gateway, GrafanaAPI
from obsgate.core.recorder import GateRecorder
from obsgate.stackfiles.nginx import CorsAllowList, NginxConf

NON_ADMIN_ROLES = ("Viewer", "Editor")


def credentials(run_secrets: RunSecrets) -> dict[str, BasicAuth | None]:
    """Every credential nginx knows: none, the push one (public: it ships in browser code), the read one."""
    return {"no credential": None, "push credential": run_secrets.push, "read credential": run_secrets.read}


def require_refused(audit: mg.Audit, gate: GateRecorder, service: str) -> None:
    findings = audit.findings
    gate.evidence.update({**audit.evidence(), "findings": findings})
    assert not findings, (f"{len(findings)} management request(s) reach {service} through the gateway: "
                          + "; ".join(findings))


@pytest.mark.parametrize("service", [mg.PROMETHEUS, mg.LOKI, mg.ALERTMANAGER])
@pytest.mark.gate(category="Security", weight=2)
def test_management_endpoints_refused_through_gateway(service: str, request: pytest.FixtureRequest, gateway: Gateway,
                                                      nginx_conf: NginxConf, cors_allow_list: CorsAllowList,
                                                      run_secrets: RunSecrets, gate: GateRecorder) -> None:
    """Quit, reload, TSDB admin, flush, shutdown, config, rings, deletes, silences: operator actions, not the edge's."""
    request.getfixturevalue(service)        # running here, else not evaluated
    origin = cors_allow_list.exact[0] if cors_allow_list.exact else None
    audit = mg.audit_through(gateway, nginx_conf, service, mg.callers(credentials(run_secrets), origin))
    require_refused(audit, gate, service)


@pytest.fixture
def grafana_users(grafana_api: GrafanaAPI) -> Iterator[dict[str, BasicAuth]]:
    """A Viewer and an Editor of the main organisation for this check, removed after it."""
    made: dict[str, BasicAuth] = {}
    ids = []
    try:
        for role in NON_ADMIN_ROLES:
            auth = BasicAuth(f"obs-gate-{role.lower()}-{secrets.token_hex(4)}", secrets.token_urlsafe(18))
            ids.append(grafana_api.create_user(auth.user, auth.password))
            grafana_api.set_org_role(ids[-1], role)
            made[f"Grafana {role}"] = auth
        yield made
    finally:
        for user_id in ids:
            grafana_api.delete_user(user_id)


@pytest.mark.gate(category="Security", weight=2)
def test_grafana_admin_api_refused_to_non_admin_users(grafana_users: dict[str, BasicAuth], gateway: Gateway,
                                                      nginx_conf: NginxConf, cors_allow_list: CorsAllowList,
                                                      run_secrets: RunSecrets, gate: GateRecorder) -> None:
    """Grafana's admin API (settings, users, passwords, provisioning) answers its admins only."""
    origin = cors_allow_list.exact[0] if cors_allow_list.exact else None
    who = mg.callers({**credentials(run_secrets), **grafana_users}, origin)
    require_refused(mg.audit_through(gateway, nginx_conf, mg.GRAFANA, who), gate, mg.GRAFANA)
