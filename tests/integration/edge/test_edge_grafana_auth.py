"""Grafana's own login, as users reach it through nginx: no anonymous access, no default or
documented seed passwords, no self sign-up, and the deployment's generated admin password works.

The judging is obsgate.checks.grafana (unit-tested with Grafana's documented answers);
here it is fed live answers. Not evaluated where Grafana cannot run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.bringup.target import grafana_admin_password
from obsgate.checks import grafana as gc
from obsgate.clients import Gateway, GrafanaAPI
from obsgate.core.recorder import GateRecorder

# Grafana's built-in default and the passwords the seed's setup documents.
KNOWN_PASSWORDS = ("admin", "admin123", "ChangeMe123!")
Opener = Callable[[BasicAuth | None], GrafanaAPI]


def admin_user(grafana: ServiceHandle) -> str:
    return grafana.spec.environment.get("GF_SECURITY_ADMIN_USER", "admin")


@pytest.fixture
def grafana_as(gateway: Gateway, grafana: ServiceHandle) -> Iterator[Opener]:
    """Open Grafana through nginx with given credentials (None: anonymous); closes what it opened."""
    opened: list[GrafanaAPI] = []

    def make(auth: BasicAuth | None) -> GrafanaAPI:
        api = gateway.grafana(auth)
        opened.append(api)
        return api

    yield make
    for api in opened:
        api.close()


@pytest.mark.gate(category="Security", weight=3)
def test_grafana_refuses_anonymous_api_access(grafana_as: Opener, gate: GateRecorder) -> None:
    """Dashboards and datasources show production logs: nothing without signing in."""
    api = grafana_as(None)
    problems = []
    for path in ("/api/search", "/api/datasources", "/api/user"):
        reply = gc.Reply.of(api.get(path))
        gate.evidence[f"anonymous GET {path}"] = reply.short()
        problems += gc.auth_refused_problems(f"anonymous GET {path}", reply)
    assert not problems, f"Grafana answers anonymous API requests: {problems}"


@pytest.mark.gate(category="Security", weight=4)
def test_grafana_refuses_default_and_seed_passwords(grafana_as: Opener, grafana: ServiceHandle,
                                                    gate: GateRecorder) -> None:
    """admin/admin and the passwords from the seed's docs are the first thing an attacker tries."""
    user = admin_user(grafana)
    problems = []
    for password in KNOWN_PASSWORDS:
        reply = gc.Reply.of(grafana_as(BasicAuth(user, password)).user())
        gate.evidence[f"{user}/{password}"] = reply.status
        problems += gc.auth_refused_problems(f"{user}/{password}", reply)
    assert not problems, f"Grafana accepts a known password: {problems}"


@pytest.mark.gate(category="Security", weight=2)
def test_grafana_sign_up_disabled(grafana_as: Opener, gate: GateRecorder) -> None:
    """Self sign-up would hand anyone who reaches the edge a Grafana account."""
    reply = gc.Reply.of(grafana_as(None).signup(f"obs-gate-{uuid.uuid4().hex[:8]}@example.invalid"))
    gate.evidence["POST /api/user/signup"] = reply.short()
    problems = gc.signup_problems(reply)
    assert not problems, problems[0] if problems else ""


@pytest.mark.gate(category="Security", weight=2)
def test_grafana_generated_admin_password_works(grafana_as: Opener, grafana: ServiceHandle,
                                                run_secrets: RunSecrets, gate: GateRecorder) -> None:
    """The deployment's generated admin password (GRAFANA_ADMIN_PASSWORD) must be the one in force."""
    user = admin_user(grafana)
    reply = gc.Reply.of(grafana_as(BasicAuth(user, grafana_admin_password(run_secrets))).user())
    gate.evidence["GET /api/user as admin"] = reply.status
    problems = gc.admin_user_problems(user, reply)
    assert not problems, problems[0] if problems else ""
