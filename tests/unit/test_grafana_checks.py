"""Grafana provisioning/access judges, fed recorded answers in the shapes Grafana documents.

Grafana cannot run on this machine, so these prove the gate checks' logic: each judge
accepts the healthy answer and names the problem in the broken one.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from obsgate.checks import grafana as gc
from obsgate.clients.grafana import Datasource, SearchHit
from obsgate.stackfiles.compose import Mount, ServiceSpec, load_compose

FIXTURES = Path(__file__).parent / "fixtures" / "grafana"
ROOT = Path(__file__).resolve().parents[2]


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def datasources(answer: list[dict[str, Any]]) -> list[Datasource]:
    return [Datasource.of(d) for d in answer]


def hits(answer: list[dict[str, Any]]) -> list[SearchHit]:
    return [SearchHit.of(h) for h in answer]


@pytest.fixture(scope="module")
def grafana_spec(tmp_path_factory: pytest.TempPathFactory) -> ServiceSpec:
    """The compose grafana service, with the production provisioning mounts."""
    secrets = tmp_path_factory.mktemp("secrets")
    for sub in ("nginx", "alertmanager"):
        (secrets / sub).mkdir()
    env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y", "OBS_PUBLIC_URL": "https://localhost"}
    return load_compose(ROOT / "stack" / "docker-compose.yml", env).services["grafana"]


def test_expectations_come_from_the_mounted_provisioning_files(grafana_spec: ServiceSpec) -> None:
    uids = {d.uid: d.type for d in gc.provisioned_datasources(grafana_spec)}
    assert uids == {"loki": "loki", "prometheus": "prometheus"}
    (folder,) = gc.provisioned_dashboards(grafana_spec)
    assert folder.folder == "Observability"
    assert set(folder.dashboards) == {"pos-logs", "stack-health"}


def test_expectations_follow_a_changed_provisioning_dir(grafana_spec: ServiceSpec, tmp_path: Path) -> None:
    (tmp_path / "datasources").mkdir()
    (tmp_path / "datasources" / "ds.yaml").write_text(
        "apiVersion: 1\ndatasources:\n  - {name: Other, uid: other, type: loki, url: http://x}\n")
    spec = dataclasses.replace(grafana_spec, mounts=(Mount("bind", str(tmp_path), gc.PROVISIONING, True),))
    assert gc.provisioned_datasources(spec) == [Datasource("other", "Other", "loki")]


def test_health_accepts_the_documented_answer_and_names_a_bad_database() -> None:
    assert gc.health_problems(gc.Reply(200, recorded("health.json"))) == []
    broken = {**recorded("health.json"), "database": "failing"}
    assert gc.health_problems(gc.Reply(503, broken)) == [f"/api/health answered 503 {json.dumps(broken)}"]
    assert "database 'failing'" in gc.health_problems(gc.Reply(200, broken))[0]


def test_datasources_present_with_provisioned_uids(grafana_spec: ServiceSpec) -> None:
    expected = gc.provisioned_datasources(grafana_spec)
    assert gc.datasource_problems(expected, datasources(recorded("datasources-provisioned.json"))) == []
    problems = gc.datasource_problems(expected, datasources(recorded("datasources-docs-example.json")))
    assert len(problems) == 2
    assert "uid 'loki' (Loki, loki) missing; Grafana has uids ['H8joYFVGz']" in problems[0]


def test_datasource_with_wrong_type_is_named(grafana_spec: ServiceSpec) -> None:
    listed = recorded("datasources-provisioned.json")
    listed[1]["type"] = "graphite"
    (problem,) = gc.datasource_problems(gc.provisioned_datasources(grafana_spec), datasources(listed))
    assert "'prometheus' is 'Prometheus' of type 'graphite'" in problem


def test_datasource_health_ok_and_error() -> None:
    assert gc.datasource_health_problems("loki", gc.Reply(200, recorded("datasource-health-ok.json"))) == []
    (problem,) = gc.datasource_health_problems("loki", gc.Reply(400, recorded("datasource-health-error.json")))
    assert problem.startswith("datasource 'loki' health: 400") and "Unable to connect with Loki" in problem


def test_dashboards_in_their_provider_folder(grafana_spec: ServiceSpec) -> None:
    expected = gc.provisioned_dashboards(grafana_spec)
    assert gc.dashboard_problems(expected, hits(recorded("search-provisioned.json"))) == []
    moved = recorded("search-provisioned.json")
    moved[0]["folderTitle"] = "General"
    assert gc.dashboard_problems(expected, hits(moved)) == [
        "dashboard 'POS logs' is in folder 'General', provisioned into 'Observability'"]
    missing = gc.dashboard_problems(expected, hits(recorded("search-docs-example.json")))
    assert [p.split(" (uid")[0] for p in missing] == ["dashboard 'POS logs'", "dashboard 'Stack health'"]


def test_provisioning_errors_found_in_the_log_and_only_those() -> None:
    assert gc.provisioning_errors((FIXTURES / "grafana-clean.log").read_text()) == []
    (line,) = gc.provisioning_errors((FIXTURES / "grafana-provisioning-error.log").read_text())
    assert "logger=provisioning.dashboard" in line and "pos-logs.json" in line


def test_anonymous_and_default_password_access_must_be_refused() -> None:
    assert gc.auth_refused_problems("anonymous GET /api/search", gc.Reply(401, {"message": "Unauthorized"})) == []
    (problem,) = gc.auth_refused_problems("admin/admin", gc.Reply(200, recorded("user-admin.json")))
    assert problem.startswith("admin/admin: expected 401, got 200")


def test_generated_admin_password_signs_in_as_grafana_admin() -> None:
    assert gc.admin_user_problems("admin", gc.Reply(200, recorded("user-admin.json"))) == []
    viewer = {**recorded("user-admin.json"), "isGrafanaAdmin": False}
    assert "isGrafanaAdmin=False" in gc.admin_user_problems("admin", gc.Reply(200, viewer))[0]
    assert gc.admin_user_problems("admin", gc.Reply(401, {"message": "Invalid username or password"}))


def test_sign_up_refused_or_open() -> None:
    assert gc.signup_problems(gc.Reply(401, {"message": "User signup is disabled"})) == []
    (problem,) = gc.signup_problems(gc.Reply(200, {"status": "SignUpCreated"}))
    assert "self sign-up is open" in problem and "SignUpCreated" in problem


def test_loki_lines_through_the_datasource_proxy() -> None:
    assert gc.loki_lines(gc.Reply(200, recorded("loki-query-range.json"))) == ["foo", "bar"]
    assert gc.loki_lines(gc.Reply(502, "Bad Gateway")) == []
