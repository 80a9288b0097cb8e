"""The gate's fixtures, one per resource: the run, its policy and secrets, the stack, each
service and its typed client, the gateway, the alert receiver, and the check's recorder.

The fixtures of a stack's services and clients are declared once, by ``stack_fixtures``: here
for the run's stack (``loki`` ... ``nginx``, ``loki_api`` ... ``grafana_api``, ``gateway``), and
in an overlay's conftest for its own stack (the resilience checks' ``own_loki``, ``own_loki_api``,
... ``own_gateway`` on ``resilience_stack``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Literal

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.bringup.target import GRAFANA_TOKEN, RemoteService, no_control
from obsgate.clients import API, AlertmanagerAPI, Gateway, GrafanaAPI, LokiAPI, PrometheusAPI
from obsgate.clients.tls import unverified_context
from obsgate.clients.webhook import WebhookReceiver
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.gate.hooks import RECORDER_KEY, RUN_KEY
from obsgate.run import GateRun
from obsgate.stackfiles.prometheus import PrometheusConfig

RUN_STACK = "stack"
SERVICES = ("loki", "prometheus", "alertmanager", "grafana", "nginx")
DIRECT_APIS: dict[str, type[API]] = {"loki": LokiAPI, "prometheus": PrometheusAPI, "alertmanager": AlertmanagerAPI}
Scope = Literal["session", "function"]


def service_of(stack: Stack, name: str) -> ServiceHandle:
    """Service ``name`` of ``stack``, ready; not evaluated where the compose file has none or it cannot run here."""
    if name not in stack.services:
        raise NotEvaluated(f"{name}: not a service of this compose file")
    return stack[name].require()


def run_service(gate_run: GateRun, name: str) -> ServiceHandle | RemoteService:
    """Service ``name`` of the run: of its own stack (brought up on first use), or of the ``--target`` (a stand-in
    for its public surface that refuses container control)."""
    if gate_run.target is None:
        return service_of(gate_run.stack(), name)
    if name not in gate_run.project.services:
        raise NotEvaluated(f"{name}: not a service of this compose file")
    return RemoteService(gate_run.project.services[name], gate_run.target)


# A target's services whose whole API its gateway routes (with the read credential): theirs is reached there.
BEHIND_GATEWAY: dict[str, Callable[[Gateway, RunSecrets], API]] = {
    "prometheus": lambda gateway, secrets: gateway.prometheus(secrets.read)}


def direct(api: type[API], gateway_fixture: str) -> Callable[[ServiceHandle | RemoteService, pytest.FixtureRequest], API]:
    """A service's API on its own port; a target's through its gateway where that routes the whole API, else none
    (only the gateway is the gate's to reach)."""
    def make(handle: ServiceHandle | RemoteService, request: pytest.FixtureRequest) -> API:
        if not isinstance(handle, RemoteService):
            return api.direct(handle)
        if handle.name not in BEHIND_GATEWAY:
            no_control(f"{handle.name}'s own port; only the gateway is reachable")
        return BEHIND_GATEWAY[handle.name](request.getfixturevalue(gateway_fixture), request.getfixturevalue("run_secrets"))
    return make


def grafana_admin(grafana: ServiceHandle | RemoteService, secrets: RunSecrets, gateway: Gateway) -> GrafanaAPI:
    """Grafana's API as its admin; a target's through its gateway with the service-account token it was given."""
    if not isinstance(grafana, RemoteService):
        return GrafanaAPI.as_admin(grafana, secrets)
    if not secrets.grafana_token:
        raise NotEvaluated(f"external target: no Grafana token ({GRAFANA_TOKEN} is not set)")
    return GrafanaAPI(gateway.endpoint(upstream="grafana", Authorization=f"Bearer {secrets.grafana_token}"))


def front_door(nginx: ServiceHandle | RemoteService, secrets: RunSecrets) -> Gateway:
    """nginx as clients reach it; a target's verified as its options say (``--target-no-verify``: not at all)."""
    if isinstance(nginx, RemoteService) and nginx.target.no_verify:
        return Gateway(nginx, secrets, unverified_context())
    return Gateway(nginx, secrets)


def needs(session: pytest.Session, *fixtures: str) -> bool:
    """Whether a selected check asks for any of ``fixtures``, directly or through its other fixtures."""
    return any(name in getattr(item, "fixturenames", ()) for item in session.items for name in fixtures)


def _fixture(name: str, scope: Scope, needed: Sequence[str], make: Callable[..., object], doc: str) -> Any:
    """Fixture ``name``: ``make`` called with the values of the fixtures ``needed`` (in order); a client it made
    is closed after. Its signature names ``needed``, so pytest sees them as its dependencies."""
    def fixture(**given: object) -> Iterator[object]:
        value = make(*(given[n] for n in needed))
        yield value
        if isinstance(value, API):
            value.close()

    fixture.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in needed])
    fixture.__name__ = fixture.__qualname__ = name
    fixture.__doc__ = doc
    return pytest.fixture(fixture, scope=scope, name=name)


def stack_fixtures(stack: str, prefix: str = "", scope: Scope = "session") -> dict[str, Any]:
    """The fixtures of the services of fixture ``stack``, each named ``prefix`` + what it is: ``loki`` ... ``nginx``
    (the service, ready), ``loki_api``, ``prometheus_api``, ``alertmanager_api`` (on the service's own port),
    ``grafana_api`` (as its admin) and ``gateway`` (nginx as clients reach it). A module declares them all with
    ``globals().update(stack_fixtures(...))``."""
    made: dict[str, Any] = {}

    def declare(name: str, needed: Sequence[str], make: Callable[..., object], doc: str) -> None:
        made[prefix + name] = _fixture(prefix + name, scope, needed, make, doc)

    for name in SERVICES:
        if stack == RUN_STACK:
            declare(name, ["gate_run"], partial(run_service, name=name),
                    f"{name} of the run's stack, ready, or of the --target (not evaluated where it cannot run).")
        else:
            declare(name, [stack], partial(service_of, name=name),
                    f"{name} of {stack}, ready (not evaluated where it cannot run).")
    for name, api in DIRECT_APIS.items():
        declare(f"{name}_api", [prefix + name, "request"], direct(api, f"{prefix}gateway"),
                f"{name}'s API on its own port ({prefix}{name}); a --target's through its gateway, where it routes it.")
    declare("grafana_api", [f"{prefix}grafana", "run_secrets", f"{prefix}gateway"], grafana_admin,
            "Grafana's API as its admin (user from the compose file, password generated for this run; "
            "a --target's: its service-account token through the gateway).")
    declare("gateway", [f"{prefix}nginx", "run_secrets"], front_door,
            "nginx as clients reach it: HTTPS on the published port, verified against the run's CA "
            "(a --target's: its URL, verified against --target-ca).")
    return made


@pytest.fixture(scope="session")
def gate_run(pytestconfig: pytest.Config) -> GateRun:
    return pytestconfig.stash[RUN_KEY]


@pytest.fixture(scope="session")
def policy(gate_run: GateRun) -> Policy:
    return gate_run.policy


@pytest.fixture(scope="session")
def run_secrets(gate_run: GateRun) -> RunSecrets:
    return gate_run.secrets


@pytest.fixture(scope="session")
def prometheus_config(gate_run: GateRun) -> PrometheusConfig:
    """prometheus.yml and its rule files as the compose file mounts them: what the gate approved (read once)."""
    return PrometheusConfig.of_service(gate_run.project.services["prometheus"])


@pytest.fixture(scope="session")
def stack(gate_run: GateRun) -> Stack:
    """The whole compose stack, up and ready (brought up once, on first use)."""
    return gate_run.stack()


globals().update(stack_fixtures(RUN_STACK))


@pytest.fixture
def gate(request: pytest.FixtureRequest, policy: Policy) -> GateRecorder:
    """Record measurements (judged against gate.yml targets) and evidence for this check."""
    recorder = GateRecorder(policy)
    request.node.stash[RECORDER_KEY] = recorder
    return recorder


@pytest.fixture(scope="session")
def alert_receiver(stack: Stack, gate_run: GateRun) -> WebhookReceiver:
    """Where Alertmanager's Slack receiver posts in this run (the Slack URL secret points here)."""
    if gate_run.webhook is None:
        raise NotEvaluated("the run's webhook receiver is not running")
    return gate_run.webhook
