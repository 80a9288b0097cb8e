"""Each live Grafana check fails by its own judgement on recorded Grafana answers (no Grafana image runs here).

tests/unit/test_grafana_checks.py proves the judges of obsgate.checks.grafana; this calls the gate checks
themselves (tests/integration/{alerting,edge,resilience}) with a Grafana made of the recorded answers in
tests/unit/fixtures/grafana (Grafana's documented shapes), served to the real ``GrafanaAPI`` through
httpx's MockTransport. The Grafana is healthy but for the one fault each test gives it, and each check must
fail naming that fault: a database failing, a datasource missing or unreachable, a dashboard in the wrong
folder, a provisioning error logged, a Loki line the datasource never returns, anonymous access, a known
password, self sign-up, a generated password not in force, dashboards lost with the container or the drill,
a Loki datasource reported healthy while Loki is down.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import tests.integration.alerting.test_alerting_grafana_provisioning as provisioning
import tests.integration.edge.test_edge_grafana_auth as auth
import tests.integration.resilience.test_resilience_backup as backup
import tests.integration.resilience.test_resilience_lifecycle as lifecycle
import tests.integration.resilience.test_resilience_outage as outage
from obsgate.backup.drill import DrillResult
from obsgate.bringup.secrets import BasicAuth
from obsgate.checks import grafana as gc
from obsgate.checks.resilience.dashboards import create_dashboard
from obsgate.checks.resilience.outage import OutageDrill, Outcome
from obsgate.clients import Endpoint, GrafanaAPI
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import poll
from obsgate.stackfiles.compose import ServiceSpec, load_compose

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "grafana"
ADMIN_PASSWORD = "generated-for-the-run"
Answer = tuple[int, Any]


def recorded(name: str) -> Any:
    text = (FIXTURES / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


@dataclass
class Grafana:
    """Grafana's HTTP API as the checks use it, from recorded answers; ``answers`` overrides one path."""

    answers: dict[str, Answer] = field(default_factory=dict)
    passwords: set[str] = field(default_factory=lambda: {ADMIN_PASSWORD})
    anonymous: bool = False
    signup: Answer = (401, {"message": "User signup is disabled"})
    log: str = field(default_factory=lambda: recorded("grafana-clean.log"))
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)       # its database
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path in self.answers:
            status, body = self.answers[path]
            return httpx.Response(status, json=body) if not isinstance(body, str) else httpx.Response(status, text=body)
        signed_in = self._password(request)
        if path == "/api/user/signup" and method == "POST":
            return httpx.Response(self.signup[0], json=self.signup[1])
        if path == "/api/health":
            return httpx.Response(200, json=recorded("health.json"))
        if signed_in is None and not self.anonymous:
            return httpx.Response(401, json={"message": "Unauthorized"})
        if signed_in is not None and signed_in not in self.passwords:
            return httpx.Response(401, json={"message": "Invalid username or password"})
        return self._signed_in(method, path, request)

    @staticmethod
    def _password(request: httpx.Request) -> str | None:
        header = request.headers.get("authorization", "")
        return base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")[2] if header else None

    def _signed_in(self, method: str, path: str, request: httpx.Request) -> httpx.Response:
        fixed = {"/api/user": "user-admin.json", "/api/datasources": "datasources-provisioned.json",
                 "/api/search": "search-provisioned.json"}
        if path in fixed:
            return httpx.Response(200, json=recorded(fixed[path]))
        if path.startswith("/api/datasources/uid/") and path.endswith("/health"):
            return httpx.Response(200, json=recorded("datasource-health-ok.json"))
        if method == "POST" and path == "/api/folders":
            folder = json.loads(request.content)
            self.folders[folder["uid"]] = folder
            return httpx.Response(200, json=folder)
        if method == "POST" and path == "/api/dashboards/db":
            body = json.loads(request.content)
            self.dashboards[body["dashboard"]["uid"]] = {"dashboard": body["dashboard"],
                                                         "meta": {"folderUid": body["folderUid"]}}
            return httpx.Response(200, json={"uid": body["dashboard"]["uid"], "status": "success"})
        kind, _, uid = path.removeprefix("/api/").partition("/")
        store = {"dashboards": self.dashboards, "folders": self.folders}.get(kind)
        uid = uid.removeprefix("uid/")
        if store is not None and uid in store:
            return httpx.Response(200, json=store[uid])
        return httpx.Response(404, json={"message": f"{kind[:-1].capitalize()} not found"})

    def lose_database(self) -> None:
        """What a container without its volume loses on re-creation, or a restore without Grafana's archive."""
        self.folders.clear()
        self.dashboards.clear()


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> Grafana:
    fake = Grafana()
    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(fake.handle), **kw))
    return fake


ADMIN = BasicAuth("admin", ADMIN_PASSWORD)


def api(auth_as: BasicAuth | None = ADMIN) -> GrafanaAPI:
    """Grafana's API as the checks get it: as its admin (``grafana_api``), or as ``grafana_as(auth)`` opens it."""
    return GrafanaAPI(Endpoint(lambda: "http://grafana.test", auth=auth_as, service="grafana"))


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> ServiceSpec:
    """The compose grafana service, with the production provisioning mounts."""
    secrets = tmp_path_factory.mktemp("secrets")
    for sub in ("nginx", "alertmanager"):
        (secrets / sub).mkdir()
    env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y",
           "OBS_PUBLIC_URL": "https://localhost"}
    return load_compose(ROOT / "stack" / "docker-compose.yml", env).services["grafana"]


@dataclass
class Handle:
    """The grafana service as the checks use it: its spec, its log, and its lifecycle (which, without the
    volume, loses the database on re-creation)."""

    spec: ServiceSpec
    fake: Grafana
    volume: bool = True
    name: str = "grafana"

    def logs(self, tail: int = 200) -> str:
        return self.fake.log

    def require(self) -> Handle:
        return self

    def restart(self) -> float:
        return 1.0

    def stop(self) -> None:
        pass

    def start(self) -> float:
        return 1.0

    def recreate(self) -> float:
        if not self.volume:
            self.fake.lose_database()
        return 2.0


def fails(check: Callable[[], None]) -> str:
    """The check's failure message (pytest's assertion rewriting adds the failed expression after it)."""
    with pytest.raises(AssertionError) as failed:
        check()
    return str(failed.value)


def test_health_check_fails_when_grafana_reports_its_database_failing(grafana: Grafana, spec: ServiceSpec,
                                                                     gate: GateRecorder) -> None:
    failing = {**recorded("health.json"), "database": "failing"}
    grafana.answers["/api/health"] = (503, failing)
    reason = fails(lambda: provisioning.test_grafana_health_reports_database_ok(api(), Handle(spec, grafana), gate))
    assert reason.startswith(f"/api/health answered 503 {json.dumps(failing)}"), reason


def test_datasources_check_fails_when_the_provisioned_uids_are_missing(grafana: Grafana, spec: ServiceSpec,
                                                                      gate: GateRecorder) -> None:
    grafana.answers["/api/datasources"] = (200, recorded("datasources-docs-example.json"))
    reason = fails(lambda: provisioning.test_grafana_datasources_provisioned(api(), Handle(spec, grafana), gate))
    assert "uid 'loki' (Loki, loki) missing; Grafana has uids ['H8joYFVGz']" in reason, reason


def test_datasource_health_check_fails_when_grafana_cannot_reach_loki(grafana: Grafana, spec: ServiceSpec,
                                                                     gate: GateRecorder) -> None:
    grafana.answers["/api/datasources/uid/loki/health"] = (400, recorded("datasource-health-error.json"))
    reason = fails(lambda: provisioning.test_grafana_datasources_healthy(api(), Handle(spec, grafana), gate))
    assert reason.startswith("datasource 'loki' health: 400") and "Unable to connect with Loki" in reason, reason
    assert "'prometheus'" not in reason                                   # only the failing one is named


def test_dashboards_check_fails_on_a_dashboard_outside_its_folder(grafana: Grafana, spec: ServiceSpec,
                                                                 gate: GateRecorder) -> None:
    moved = recorded("search-provisioned.json")
    moved[0]["folderTitle"] = "General"
    grafana.answers["/api/search"] = (200, moved)
    reason = fails(lambda: provisioning.test_grafana_dashboards_in_provisioned_folder(api(), Handle(spec, grafana), gate))
    assert reason.splitlines()[0] == "dashboard 'POS logs' is in folder 'General', provisioned into 'Observability'", reason


def test_provisioning_log_check_fails_on_a_logged_provisioning_error(grafana: Grafana, spec: ServiceSpec,
                                                                    gate: GateRecorder) -> None:
    grafana.log = recorded("grafana-provisioning-error.log")
    reason = fails(lambda: provisioning.test_grafana_log_shows_no_provisioning_errors(Handle(spec, grafana), gate))
    assert reason.startswith("Grafana logged provisioning errors: logger=provisioning.dashboard"), reason
    assert "pos-logs.json" in reason


def test_datasource_read_check_fails_when_grafana_never_returns_the_pushed_line(
        grafana: Grafana, spec: ServiceSpec, gate: GateRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """The push through nginx is accepted; Grafana's Loki datasource answers Loki's recorded query answer,
    which never holds the line. The check's 15 s wait is cut to 1 s: the answer does not change."""
    grafana.answers["/api/datasources/proxy/uid/loki/loki/api/v1/query_range"] = (200, recorded("loki-query-range.json"))
    monkeypatch.setattr(provisioning, "poll", lambda probe, **kw: poll(probe, **{**kw, "timeout_s": 1.0}))
    pusher = SimpleNamespace(push=lambda streams: httpx.Response(204), close=lambda: None)
    gateway = SimpleNamespace(loki=lambda credentials: pusher)
    secrets = SimpleNamespace(push=BasicAuth("push", "x"))
    reason = fails(lambda: provisioning.test_grafana_reads_a_pushed_line_through_loki_datasource(
        api(), Handle(spec, grafana), None, gateway, secrets, SimpleNamespace(run_id="unit-run"), gate))
    assert reason.startswith("timed out after 1s waiting for {gate_run=") and "through Grafana's datasource 'loki'" in reason
    assert 'last answer: 200 {"status": "success"' in reason, reason


def opener(auth_as: BasicAuth | None) -> GrafanaAPI:
    return api(auth_as)


def test_anonymous_check_fails_when_grafana_answers_without_credentials(grafana: Grafana, gate: GateRecorder) -> None:
    grafana.anonymous = True
    reason = fails(lambda: auth.test_grafana_refuses_anonymous_api_access(opener, gate))
    assert reason.startswith("Grafana answers anonymous API requests: ['anonymous GET /api/search: expected 401, got 200")


def test_known_password_check_fails_when_admin_admin_signs_in(grafana: Grafana, spec: ServiceSpec,
                                                             gate: GateRecorder) -> None:
    grafana.passwords.add("admin")
    reason = fails(lambda: auth.test_grafana_refuses_default_and_seed_passwords(opener, Handle(spec, grafana), gate))
    assert reason.startswith("Grafana accepts a known password: ['admin/admin: expected 401, got 200"), reason
    assert "admin123" not in reason                                       # only the accepted one is named


def test_sign_up_check_fails_when_self_sign_up_is_open(grafana: Grafana, gate: GateRecorder) -> None:
    grafana.signup = (200, {"status": "SignUpCreated"})
    reason = fails(lambda: auth.test_grafana_sign_up_disabled(opener, gate))
    assert "self sign-up is open" in reason and "SignUpCreated" in reason, reason


def test_generated_password_check_fails_when_another_password_is_in_force(grafana: Grafana, spec: ServiceSpec,
                                                                         gate: GateRecorder) -> None:
    grafana.passwords = {"admin"}           # GF_SECURITY_ADMIN_PASSWORD ignored: a volume from an older install
    secrets = SimpleNamespace(grafana_admin_password=ADMIN_PASSWORD)
    reason = fails(lambda: auth.test_grafana_generated_admin_password_works(opener, Handle(spec, grafana), secrets,
                                                                            gate))
    assert reason.startswith("admin credentials: GET /api/user answered 401"), reason
    assert "Invalid username or password" in reason


def test_lifecycle_check_fails_when_grafana_loses_its_database_on_recreation(grafana: Grafana, spec: ServiceSpec,
                                                                             gate: GateRecorder) -> None:
    handle = Handle(spec, grafana, volume=False)
    reason = fails(lambda: lifecycle.test_grafana_dashboards_survive_restart_stop_start_and_recreation(
        handle, api(), SimpleNamespace(run_id="unit-run"), gate))
    assert reason.splitlines()[0] == ("after recreate of grafana: dashboard obsgate-d-unit-run answered 404: "
                      '{"message":"Dashboard not found"}'), reason


@dataclass
class Stack:
    """The resilience stack as the backup check asks it: which services it has, each one's handle."""

    handles: dict[str, Handle]

    @property
    def services(self) -> dict[str, Handle]:
        return self.handles

    def __getitem__(self, name: str) -> Handle:
        return self.handles[name]


def test_backup_check_fails_when_the_restore_does_not_bring_back_the_dashboard(grafana: Grafana, spec: ServiceSpec,
                                                                              gate: GateRecorder) -> None:
    """The drill restored every volume it had, but Grafana's database was not among them: the dashboard saved
    before the backup is gone after the restore."""
    client = api()
    dashboard = create_dashboard(client, "drill-unit")
    grafana.lose_database()
    drilled = backup.Drilled(DrillResult(targets=[]), None, [], None, None, client, dashboard)
    reason = fails(lambda: backup.test_backup_restore_drill_brings_back_grafana_dashboards(
        drilled, Stack({"grafana": Handle(spec, grafana)}), gate))
    assert reason.splitlines()[0] == ("after the backup and restore drill: dashboard obsgate-d-drill-unit answered 404: "
                      '{"message":"Dashboard not found"}'), reason


def test_outage_check_fails_when_grafana_reports_its_loki_datasource_healthy_while_loki_is_down(
        gate: GateRecorder) -> None:
    drill = OutageDrill("unit", grafana=Outcome(gc.Reply(200, recorded("datasource-health-ok.json"))),
                        evidence={"grafana datasource": "loki"})
    reason = fails(lambda: outage.test_grafana_loki_datasource_reports_loki_down(drill, gate))
    assert reason.startswith("Grafana reported its Loki datasource healthy while Loki was stopped: 200 "), reason


def test_every_check_passes_on_the_healthy_recorded_grafana(grafana: Grafana, spec: ServiceSpec,
                                                           gate: GateRecorder) -> None:
    """The baseline each failure above departs from by one fault."""
    handle = Handle(spec, grafana)
    provisioning.test_grafana_health_reports_database_ok(api(), handle, gate)
    provisioning.test_grafana_datasources_provisioned(api(), handle, gate)
    provisioning.test_grafana_datasources_healthy(api(), handle, gate)
    provisioning.test_grafana_dashboards_in_provisioned_folder(api(), handle, gate)
    provisioning.test_grafana_log_shows_no_provisioning_errors(handle, gate)
    auth.test_grafana_refuses_anonymous_api_access(opener, gate)
    auth.test_grafana_refuses_default_and_seed_passwords(opener, handle, gate)
    auth.test_grafana_sign_up_disabled(opener, gate)
    auth.test_grafana_generated_admin_password_works(opener, handle, SimpleNamespace(grafana_admin_password=ADMIN_PASSWORD),
                                                     gate)
    lifecycle.test_grafana_dashboards_survive_restart_stop_start_and_recreation(
        handle, api(), SimpleNamespace(run_id="unit-run"), gate)
