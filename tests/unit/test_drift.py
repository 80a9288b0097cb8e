"""Drift judgements (obsgate.checks.drift) on recorded answers: each accepts what today's stack really answers
and names both values when the deployment differs from what the gate approved.

Prometheus' and Loki's answers in tests/unit/fixtures/prometheus/stack-*.json and loki/buildinfo-2.9.3.json were
recorded through nginx from the stack ``obsgate up`` brought up here (Prometheus: the Debian stand-in 2.42.0,
Loki 2.9.3). Grafana cannot run here: its drift checks are called with a Grafana made of its documented answers
(tests/unit/fixtures/grafana), served to the real ``GrafanaAPI`` through httpx's MockTransport.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml

import tests.integration.drift.test_drift_grafana as grafana_drift
import tests.integration.drift.test_drift_versions as version_drift
from obsgate.checks import drift
from obsgate.clients import Endpoint, GrafanaAPI
from obsgate.clients.grafana import DashboardEntry, DatasourceSettings
from obsgate.clients.prometheus import BuildInfo, LoadedGroup, Target
from obsgate.core.errors import NotEvaluated
from obsgate.core.recorder import GateRecorder
from obsgate.stackfiles.compose import ComposeProject, Mount, load_compose, tag_version
from obsgate.stackfiles.prometheus import PrometheusConfig

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> ComposeProject:
    """stack/docker-compose.yml as the gate reads it."""
    secrets = tmp_path_factory.mktemp("secrets")
    for sub in ("nginx", "alertmanager"):
        (secrets / sub).mkdir()
    env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y",
           "OBS_PUBLIC_URL": "https://localhost"}
    return load_compose(ROOT / "stack" / "docker-compose.yml", env)


@pytest.fixture(scope="module")
def approved(project: ComposeProject) -> PrometheusConfig:
    return PrometheusConfig.of_service(project.services["prometheus"])


def loaded_text(edit: Callable[[dict[str, Any]], None] | None = None) -> str:
    """The recorded ``/api/v1/status/config`` YAML, optionally edited."""
    text = str(recorded("prometheus/stack-status-config.json")["data"]["yaml"])
    if edit is None:
        return text
    doc = yaml.safe_load(text)
    edit(doc)
    return yaml.safe_dump(doc)


def loaded_groups() -> list[LoadedGroup]:
    return [LoadedGroup.of(g) for g in recorded("prometheus/stack-rules.json")["data"]["groups"]]


# --- versions --------------------------------------------------------------------------------------

def test_tag_version_reads_the_version_a_tag_names() -> None:
    assert tag_version("prom/prometheus:v2.48.1") == "2.48.1"
    assert tag_version("standin/prometheus:2.42.0-debian") == "2.42.0"
    assert tag_version("registry.local:5000/grafana/loki:2.9") == "2.9"
    assert tag_version("grafana/loki:2.9.3@sha256:" + "0" * 64) == "2.9.3"
    for none in ("grafana/loki:latest", "grafana/loki", "registry.local:5000/loki", "loki@sha256:" + "0" * 64,
                 "nginx:1", "x:20240101"):
        assert tag_version(none) is None, none


def test_approved_image_is_the_override_else_the_pin(project: ComposeProject) -> None:
    assert drift.approved_image("prometheus", {}, project) == drift.Approved("prometheus", "prom/prometheus:v2.48.1",
                                                                              "compose pin")
    chosen = drift.approved_image("prometheus", {"prometheus": "standin/prometheus:2.42.0-debian"}, project)
    assert (chosen.ref, chosen.source, chosen.version) == ("standin/prometheus:2.42.0-debian", "--image", "2.42.0")


def test_recorded_buildinfo_matches_the_images_it_came_from() -> None:
    prometheus = BuildInfo.of(recorded("prometheus/stack-buildinfo.json")["data"])
    loki = BuildInfo.of(recorded("loki/buildinfo-2.9.3.json"))
    assert drift.version_problems(drift.Approved("prometheus", "standin/prometheus:2.42.0-debian", "--image"),
                                  prometheus.version) == []             # Debian's 2.42.0+ds is 2.42.0
    assert drift.version_problems(drift.Approved("loki", "local/loki:2.9.3", "--image"), loki.version) == []
    assert drift.version_problems(drift.Approved("loki", "grafana/loki:2.9", "compose pin"), loki.version) == []


def test_a_different_running_version_names_both(project: ComposeProject) -> None:
    running = BuildInfo.of(recorded("prometheus/stack-buildinfo.json")["data"]).version
    (problem,) = drift.version_problems(drift.approved_image("prometheus", {}, project), running)
    assert problem.startswith("prometheus: running 2.42.0 (2.42.0+ds), compose pin prom/prometheus:v2.48.1 is 2.48.1"), problem
    (problem,) = drift.version_problems(drift.Approved("loki", "grafana/loki:3.4.6", "--image"), "2.9.3")
    assert problem.startswith("loki: running 2.9.3, --image grafana/loki:3.4.6 is 3.4.6"), problem
    (problem,) = drift.version_problems(drift.Approved("loki", "grafana/loki:2.9.3", "compose pin"), "HEAD-2535f9b")
    assert "running 'HEAD-2535f9b', not a release version" in problem


def test_a_tag_without_a_version_is_not_evaluated() -> None:
    with pytest.raises(NotEvaluated, match=r"grafana/loki:latest \(compose pin\) names no version"):
        drift.version_problems(drift.Approved("loki", "grafana/loki:latest", "compose pin"), "2.9.3")


def test_version_checks_fail_on_a_different_running_version(project: ComposeProject, gate: GateRecorder) -> None:
    """test_loki_runs_the_approved_version and test_prometheus_runs_the_approved_version, on recorded build info."""
    run = SimpleNamespace(overrides={"loki": "grafana/loki:3.4.6"}, project=project)
    loki = SimpleNamespace(buildinfo=lambda: BuildInfo.of(recorded("loki/buildinfo-2.9.3.json")))
    with pytest.raises(AssertionError, match="loki: running 2.9.3, --image grafana/loki:3.4.6 is 3.4.6"):
        version_drift.test_loki_runs_the_approved_version(loki, run, gate)  # type: ignore[arg-type]
    prometheus = SimpleNamespace(buildinfo=lambda: BuildInfo.of(recorded("prometheus/stack-buildinfo.json")["data"]))
    with pytest.raises(AssertionError, match=r"prometheus: running 2.42.0 \(2.42.0\+ds\), compose pin"):
        version_drift.test_prometheus_runs_the_approved_version(prometheus, run, gate)  # type: ignore[arg-type]
    assert gate.evidence["prometheus approved"] == "prom/prometheus:v2.48.1 (compose pin)"


# --- Prometheus' loaded config ---------------------------------------------------------------------

def test_loaded_config_of_todays_stack_matches(approved: PrometheusConfig) -> None:
    assert drift.loaded_config_problems(approved, PrometheusConfig.loaded(loaded_text(), approved.spec)) == []


def test_loaded_config_differences_name_both_values(approved: PrometheusConfig) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["global"]["evaluation_interval"] = "1m"
        doc["rule_files"] = ["/etc/prometheus/rules/*.yaml"]
        doc["scrape_configs"][1]["static_configs"][0]["targets"] = ["loki-old:3100"]
        doc["scrape_configs"][1]["scrape_interval"] = "30s"
        doc["scrape_configs"].pop()                                  # grafana's job
        doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = ["am-old:9093"]

    problems = drift.loaded_config_problems(approved, PrometheusConfig.loaded(loaded_text(edit), approved.spec))
    text = "\n".join(problems)
    assert "global.evaluation_interval: running 60s, stack/prometheus/prometheus.yml has 15s" in text
    assert "rule_files: running [/etc/prometheus/rules/*.yaml], stack/prometheus/prometheus.yml has " \
           "[/etc/prometheus/rules/*.yml]" in text
    assert "job 'loki' targets: running [loki-old:3100], stack/prometheus/prometheus.yml has [loki:3100]" in text
    assert "job 'loki' scrape_interval: running 30s, stack/prometheus/prometheus.yml has 15s" in text
    assert "scrape_configs jobs: running [alertmanager, loki, prometheus], " in text
    assert "alerting.alertmanagers: running [http://am-old:9093/api/v2/alerts]" in text
    assert len(problems) == 6


def test_alertmanager_discovery(approved: PrometheusConfig) -> None:
    active = [a["url"] for a in recorded("prometheus/stack-alertmanagers.json")["data"]["activeAlertmanagers"]]
    assert drift.alertmanager_problems(approved, active) == []
    (none,) = drift.alertmanager_problems(approved, [])
    assert none.startswith("Prometheus has no active Alertmanager (stack/prometheus/prometheus.yml names "
                           "[http://alertmanager:9093/api/v2/alerts])")
    (other,) = drift.alertmanager_problems(approved, ["http://am-old:9093/api/v2/alerts"])
    assert other.startswith("Alertmanagers: Prometheus sends to [http://am-old:9093/api/v2/alerts], "
                            "stack/prometheus/prometheus.yml names [http://alertmanager:9093/api/v2/alerts]")


def test_scrape_targets(approved: PrometheusConfig) -> None:
    active = [Target.of(t) for t in recorded("prometheus/stack-targets.json")["data"]["activeTargets"]]
    assert drift.target_problems(approved, active) == []                  # grafana down is health, not drift
    moved = [replace(t, scrape_url="http://loki-old:3100/metrics") if t.job == "loki" else t for t in active]
    assert drift.target_problems(approved, moved) == [
        "job 'loki' target loki:3100 is configured but not scraped",
        "job 'loki' target loki-old:3100 is scraped but not in stack/prometheus/prometheus.yml"]


# --- rule groups -----------------------------------------------------------------------------------

def test_promql_as_prometheus_prints_it_is_the_same_expression() -> None:
    assert drift.same_expr('sum by (reason) (x)\n/ ignoring (reason) group_left\nsum(y) > 0.01',
                           "sum by (reason) (x) / ignoring (reason) group_left () sum(y) > 0.01")
    assert drift.same_expr("rate(x{a='b', c=\"d\"}[60m]) > 0.50", 'rate(x{a="b",c="d"}[1h]) > 0.5')
    assert drift.same_expr("sum(rate(x[5m])) by (le)", "sum by (le) (rate(x[5m]))")
    assert not drift.same_expr("up == 0", "up == 1")
    assert not drift.same_expr('up{job="loki"} == 0', 'up{job="lokii"} == 0')
    assert not drift.same_expr("rate(x[5m]) > 1", "rate(x[10m]) > 1")


def test_rule_groups_of_todays_stack_match(approved: PrometheusConfig) -> None:
    assert drift.rule_group_problems(approved, loaded_groups()) == []


def changed_rules(approved: PrometheusConfig, tmp_path: Path, edit: Callable[[str], str]) -> PrometheusConfig:
    """The approved config with its rules directory copied to ``tmp_path`` and stack.yml edited."""
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "stack" / "prometheus" / "rules", rules)
    (rules / "stack.yml").write_text(edit((rules / "stack.yml").read_text()))
    mounts = tuple(Mount("bind", str(rules), m.target, True) if m.target == "/etc/prometheus/rules" else m
                   for m in approved.spec.mounts)
    return PrometheusConfig.of_service(replace(approved.spec, mounts=mounts))


def test_a_rule_added_to_the_file_and_not_deployed_is_named(approved: PrometheusConfig, tmp_path: Path) -> None:
    added = "\n".join(["      - alert: GateDriftProbe", "        expr: vector(1) == 2", "        for: 1m", ""])
    edited = changed_rules(approved, tmp_path, lambda text: text.replace("    rules:\n", "    rules:\n" + added, 1))
    (problem,) = drift.rule_group_problems(edited, loaded_groups())
    assert "group 'stack-health' (" in problem and "rule 'GateDriftProbe' is in the file but not loaded" in problem


def test_an_edited_rule_names_both_values(approved: PrometheusConfig, tmp_path: Path) -> None:
    edited = changed_rules(approved, tmp_path, lambda text: text.replace("expr: up == 0\n        for: 1m",
                                                                       "expr: up == 0\n        for: 3m", 1))
    (problem,) = drift.rule_group_problems(edited, loaded_groups())
    assert "rule 'TargetDown' for: running 60s, the file has 180s" in problem
    thresholds = changed_rules(approved, tmp_path / "b", lambda text: text.replace("expr: up == 0", "expr: up < 1", 1))
    (problem,) = drift.rule_group_problems(thresholds, loaded_groups())
    assert "rule 'TargetDown' expr: running 'up == 0', the file has 'up < 1'" in problem


def test_a_group_not_loaded_or_not_approved_is_named(approved: PrometheusConfig) -> None:
    groups = loaded_groups()
    renamed = [replace(groups[0], name="loki-old"), *groups[1:]]
    problems = drift.rule_group_problems(approved, renamed)
    assert len(problems) == 2
    assert problems[0].startswith("rule group 'loki-self-monitoring' (stack/prometheus/rules/loki.yml, rules "
                                  "['LokiIngestionStopped'")
    assert problems[1].startswith("rule group 'loki-old' is loaded (from /etc/prometheus/rules/loki.yml) but in no")


# --- Grafana ---------------------------------------------------------------------------------------

def grafana_with(answers: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> GrafanaAPI:
    """Grafana's API answering its documented shapes with today's provisioning, ``answers`` overriding a path."""
    fixed = {"/api/health": recorded("grafana/health.json") | {"version": "10.2.3"},
             "/api/datasources": recorded("grafana/datasources-provisioned.json"),
             "/api/search": recorded("grafana/search-provisioned.json"), **answers}
    real = httpx.Client
    handler = httpx.MockTransport(lambda request: httpx.Response(200, json=fixed[request.url.path]))
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=handler, **kw))
    return GrafanaAPI(Endpoint(lambda: "http://grafana.test", service="grafana"))


def grafana_checks(project: ComposeProject, api: GrafanaAPI, gate: GateRecorder) -> dict[str, Callable[[], None]]:
    handle = SimpleNamespace(spec=project.services["grafana"], name="grafana")
    run = SimpleNamespace(overrides={}, project=project)
    return {"test_grafana_runs_the_approved_version":
            lambda: version_drift.test_grafana_runs_the_approved_version(api, handle, run, gate),  # type: ignore[arg-type]
            "test_grafana_datasources_match_provisioning":
            lambda: grafana_drift.test_grafana_datasources_match_provisioning(api, handle, gate),  # type: ignore[arg-type]
            "test_grafana_dashboards_match_provisioning":
            lambda: grafana_drift.test_grafana_dashboards_match_provisioning(api, handle, gate)}  # type: ignore[arg-type]


def test_grafana_drift_checks_pass_on_the_provisioned_grafana(project: ComposeProject, gate: GateRecorder,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for check in grafana_checks(project, grafana_with({}, monkeypatch), gate).values():
        check()


def test_grafana_drift_checks_fail_naming_both_values(project: ComposeProject, gate: GateRecorder,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    datasources = recorded("grafana/datasources-provisioned.json")
    datasources[0]["url"] = "http://loki-old:3100"
    search = recorded("grafana/search-provisioned.json")
    search[1]["title"], search[0]["folderTitle"] = "Stack health (old)", "General"
    api = grafana_with({"/api/health": recorded("grafana/health.json"), "/api/datasources": datasources,
                        "/api/search": search}, monkeypatch)
    reasons = {}
    for name, check in grafana_checks(project, api, gate).items():
        with pytest.raises(AssertionError) as failed:
            check()
        reasons[name] = str(failed.value)
    assert reasons["test_grafana_runs_the_approved_version"].startswith(
        "grafana: running 5.1.3, compose pin grafana/grafana:10.2.3 is 10.2.3")
    assert reasons["test_grafana_datasources_match_provisioning"].startswith(
        "datasource 'loki' url: running 'http://loki-old:3100', provisioned 'http://loki:3100'")
    fixes = {name: drift.IMAGE_FIX if "version" in name else drift.GRAFANA_FIX for name in reasons}
    assert all(r.splitlines()[0].endswith(f"(fix: {fixes[n]})") for n, r in reasons.items()), reasons
    dashboards = reasons["test_grafana_dashboards_match_provisioning"]
    assert "dashboard 'pos-logs' folder: running 'General', provisioned into 'Observability'" in dashboards
    assert "dashboard 'stack-health' title: running 'Stack health (old)', the file has 'Stack health'" in dashboards


def test_grafana_provisioning_read_for_drift(project: ComposeProject) -> None:
    spec = project.services["grafana"]
    assert drift.provisioned_datasource_settings(spec) == [
        DatasourceSettings("loki", "Loki", "loki", "http://loki:3100", True),
        DatasourceSettings("prometheus", "Prometheus", "prometheus", "http://prometheus:9090", False)]
    assert {(b.uid, b.folder) for b in drift.provisioned_boards(spec)} == {("pos-logs", "Observability"),
                                                                          ("stack-health", "Observability")}
    (missing,) = drift.dashboard_drift(drift.provisioned_boards(spec)[:1], [])
    assert missing.startswith("dashboard 'POS logs' (uid 'pos-logs') is provisioned but not in Grafana")
    (gone,) = drift.datasource_drift(drift.provisioned_datasource_settings(spec)[:1],
                                     [DatasourceSettings("x", "X", "loki", "http://x", False)])
    assert gone.startswith("datasource uid 'loki' (Loki) is provisioned but Grafana has none (it has [x])")
    assert DashboardEntry.of({"uid": "u", "title": "T"}) == DashboardEntry("u", "T", "")
