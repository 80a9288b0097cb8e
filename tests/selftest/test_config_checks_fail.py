"""The config checks fail, naming file, key and cause, on broken variants and on the seed's own configs.

Each variant is stack/docker-compose.yml with one mount or key changed (or the seed's
compose), run through the real gate checks in a child pytest: static checks always,
acceptance checks in the service's real image when it is available here (else skipped
with the child's reason). The fixed stack passes them all.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from obsgate.stackfiles.compose import image_version
from tests.selftest.conftest import STACK, Compose, failed_or_skip, mount, passed_or_skip

ROOT = STACK.parent
FIXTURES = ROOT / "tests" / "config" / "fixtures"
SEED, BROKEN = FIXTURES / "seed", FIXTURES / "broken"
CONFIG = "tests/config"
ACCEPTANCE = f"{CONFIG}/test_acceptance.py"
COMPOSE = f"{CONFIG}/test_compose_policy.py"
LOKI = f"{CONFIG}/test_loki_policy.py"
NGINX = f"{CONFIG}/test_nginx_policy.py"
UPGRADE = f"{CONFIG}/test_upgrade_readiness.py"
NOT_EVALUATED_HERE = ("image unavailable", "no --candidate given")


def candidate_args(pytestconfig: pytest.Config) -> tuple[str, ...]:
    return tuple(arg for c in pytestconfig.getoption("candidate") for arg in ("--candidate", c))


def test_config_checks_pass_on_the_fixed_stack(child_gate, pytestconfig: pytest.Config) -> None:
    run = child_gate(CONFIG, extra=candidate_args(pytestconfig))
    assert run.checks, run.output[-3000:]
    bad = {
        c: f"{v['outcome']}: {v['reason']}"
        for c, v in run.checks.items()
        if v["outcome"] != "passed"
        and not (v["outcome"] == "not_evaluated" and any(r in v["reason"] for r in NOT_EVALUATED_HERE))
    }
    assert not bad, "\n".join(f"{c}: {r}" for c, r in bad.items())


def test_seed_original_loki_storage_is_flagged_by_policy_and_by_loki(variant, child_gate) -> None:
    compose = variant(mount("loki", "/etc/loki/loki.yml", BROKEN / "loki-seed-storage.yml"))
    run = child_gate(
        f"{LOKI}::test_loki_config_uses_tsdb_schema_v13", f"{ACCEPTANCE}::test_loki_accepts_its_config", compose=compose
    )
    assert run.outcome("test_loki_config_uses_tsdb_schema_v13") == "failed"
    reason = run.reason("test_loki_config_uses_tsdb_schema_v13")
    assert "loki-seed-storage.yml:" in reason and "schema_config.configs[0].store" in reason and "boltdb-shipper" in reason
    assert "24h periodic index config" in failed_or_skip(run, "test_loki_accepts_its_config")


def test_4mb_ingestion_rate_fails_with_its_arithmetic_although_loki_accepts_it(variant, child_gate) -> None:
    compose = variant(mount("loki", "/etc/loki/loki.yml", BROKEN / "loki-ingestion-4mb.yml"))
    check = "test_loki_config_ingestion_rate_admits_throughput_target"
    run = child_gate(f"{LOKI}::{check}", f"{ACCEPTANCE}::test_loki_accepts_its_config", compose=compose)
    assert run.outcome(check) == "failed"
    reason = run.reason(check)
    assert "ingestion_rate_mb 4 x 1,048,576 B/MiB / 1,024 B/line = 4,096 lines/s" in reason
    assert "< target 10,000 lines/s" in reason
    passed_or_skip(run, "test_loki_accepts_its_config")


def test_seed_loki_config_is_valid_for_2_9_but_warns_and_leaves_queries_unbounded(variant, child_gate) -> None:
    compose = variant(mount("loki", "/etc/loki/loki.yml", SEED / "loki-config.yml"))
    run = child_gate(
        f"{LOKI}::test_loki_config_bounds_queries",
        f"{ACCEPTANCE}::test_loki_accepts_its_config",
        f"{ACCEPTANCE}::test_loki_starts_without_config_warnings",
        compose=compose,
    )
    assert run.outcome("test_loki_config_bounds_queries") == "failed"
    assert "limits_config.max_query_series" in run.reason("test_loki_config_bounds_queries")
    passed_or_skip(run, "test_loki_accepts_its_config")
    assert "global timeout not configured" in failed_or_skip(run, "test_loki_starts_without_config_warnings")


def test_loki_3_candidate_rejects_the_seed_config(variant, child_gate, pytestconfig: pytest.Config) -> None:
    loki3 = [
        c
        for c in pytestconfig.getoption("candidate")
        if c.startswith("loki=") and (image_version(c.partition("=")[2]) or (0,)) >= (3,)
    ]
    if not loki3:
        pytest.skip("needs --candidate loki=<a Loki 3.x image> on this run")
    compose = variant(mount("loki", "/etc/loki/loki.yml", SEED / "loki-config.yml"))
    run = child_gate(UPGRADE, compose=compose, extra=("--candidate", loki3[0]))
    check = f"test_candidate_image_accepts_todays_config[{loki3[0]}]"
    assert run.checks[check]["category"] == "Upgrade readiness"
    failure = run.checks[check]["evidence"]["failure"]
    assert "field shared_store not found" in failed_or_skip(run, check)
    assert "field enforce_metric_name not found" in failure


def test_loki_policy_violations_are_flagged_although_loki_runs_them(variant, child_gate) -> None:
    compose = variant(mount("loki", "/etc/loki/loki.yml", BROKEN / "loki-weak-policy.yml"))
    run = child_gate(
        LOKI,
        f"{ACCEPTANCE}::test_loki_starts_ready_with_its_config",
        f"{ACCEPTANCE}::test_loki_effective_config_meets_policy",
        compose=compose,
    )
    expected = {
        "test_loki_config_compactor_applies_retention": "compactor.retention_enabled: retention is off",
        "test_loki_config_keeps_data_on_the_volume": "ingester.wal.dir: /tmp/loki-wal is not on a persistent volume",
        "test_loki_config_retention_meets_policy": "retention_period 168h = 168 h: loki_retention_h: 168 h < target 720 h",
        "test_loki_config_rejects_samples_older_than_retention": "accepts samples 336 h old",
        "test_loki_config_ingestion_burst_admits_burst_target": "= 0.82x the target rate",
    }
    for check, text in expected.items():
        assert run.outcome(check) == "failed" and text in run.reason(check), f"{check}: {run.reason(check)}"
    passed_or_skip(run, "test_loki_starts_ready_with_its_config")
    assert "GET /config" in failed_or_skip(run, "test_loki_effective_config_meets_policy")


def test_loki_that_verifies_but_cannot_start_is_flagged(variant, child_gate) -> None:
    compose = variant(mount("loki", "/etc/loki/loki.yml", BROKEN / "loki-wal-unwritable.yml"))
    run = child_gate(
        f"{ACCEPTANCE}::test_loki_accepts_its_config", f"{ACCEPTANCE}::test_loki_starts_ready_with_its_config", compose=compose
    )
    passed_or_skip(run, "test_loki_accepts_its_config")
    reason = failed_or_skip(run, "test_loki_starts_ready_with_its_config")
    assert "exited with code 1" in reason and "mkdir /usr/loki: permission denied" in reason


def test_prometheus_config_with_a_misspelt_key_is_rejected_by_promtool(variant, child_gate) -> None:
    compose = variant(mount("prometheus", "/etc/prometheus/prometheus.yml", BROKEN / "prometheus-unknown-key.yml"))
    run = child_gate(f"{ACCEPTANCE}::test_prometheus_accepts_its_config", compose=compose)
    assert "field scrape_intervall not found" in failed_or_skip(run, "test_prometheus_accepts_its_config")


def test_changed_or_untested_alert_rule_is_flagged(variant, child_gate, tmp_path: Path) -> None:
    """The stack's rules with LokiDown downgraded to warning and one alert added without any test."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in sorted((STACK / "prometheus" / "rules").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == "LokiDown":
                    rule["labels"]["severity"] = "warning"
        if path.name == "stack.yml":
            doc["groups"][0]["rules"].append({"alert": "UntestedAlert", "expr": "vector(1)", "labels": {"severity": "warning"}})
        (rules / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    compose = variant(mount("prometheus", "/etc/prometheus/rules", rules))
    coverage = "test_alert_rules_each_have_firing_and_silent_tests"
    run = child_gate(
        f"{CONFIG}/test_alert_rule_tests.py", f"{ACCEPTANCE}::test_alert_rules_pass_their_promtool_tests", compose=compose
    )
    assert run.outcome(coverage) == "failed" and "alert UntestedAlert has no promtool test case" in run.reason(coverage)
    failed_or_skip(run, "test_alert_rules_pass_their_promtool_tests")
    assert "LokiDown" in run.checks["test_alert_rules_pass_their_promtool_tests"]["evidence"]["output"]


def test_critical_alerts_routed_to_the_warning_receiver_are_flagged(variant, child_gate, tmp_path: Path) -> None:
    doc = yaml.safe_load((STACK / "alertmanager" / "alertmanager.yml").read_text())
    for route in doc["route"]["routes"]:
        if 'severity="critical"' in route.get("matchers", []):
            route["receiver"] = "slack-warnings"
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    compose = variant(mount("alertmanager", "/etc/alertmanager/alertmanager.yml", config))
    run = child_gate(f"{ACCEPTANCE}::test_alertmanager_routes_alerts_by_severity", compose=compose)
    reason = failed_or_skip(run, "test_alertmanager_routes_alerts_by_severity")
    assert "severity=critical reaches 'slack-warnings', not 'slack-critical'" in reason


def test_misspelt_alertmanager_key_is_rejected_by_amtool(variant, child_gate) -> None:
    compose = variant(mount("alertmanager", "/etc/alertmanager/alertmanager.yml", BROKEN / "alertmanager-misspelt-key.yml"))
    run = child_gate(f"{ACCEPTANCE}::test_alertmanager_accepts_its_config", compose=compose)
    reason = failed_or_skip(run, "test_alertmanager_accepts_its_config")
    assert "alertmanager-misspelt-key.yml:11: reciever" in reason and "not found" in reason


def test_repeated_rule_group_is_rejected_by_promtool(variant, child_gate) -> None:
    compose = variant(mount("prometheus", "/etc/prometheus/rules", BROKEN / "prometheus-rules-repeated-group"))
    run = child_gate(f"{ACCEPTANCE}::test_prometheus_rule_files_pass_promtool_check", compose=compose)
    reason = failed_or_skip(run, "test_prometheus_rule_files_pass_promtool_check")
    assert '"stack-health" is repeated in the same file' in reason


def test_missing_certificate_is_rejected_by_nginx(variant, child_gate) -> None:
    compose = variant(mount("nginx", "/etc/nginx/nginx.conf", BROKEN / "nginx-missing-certificate.conf"))
    run = child_gate(NGINX, f"{ACCEPTANCE}::test_nginx_accepts_its_config", compose=compose)
    assert {c["outcome"] for k, c in run.checks.items() if k.startswith("test_nginx_conf_")} == {"passed"}
    assert 'cannot load certificate "/etc/nginx/secrets/missing.crt"' in failed_or_skip(run, "test_nginx_accepts_its_config")


def test_nginx_conf_policy_violations_are_flagged_although_nginx_accepts_them(variant, child_gate) -> None:
    compose = variant(mount("nginx", "/etc/nginx/nginx.conf", BROKEN / "nginx-weak-policy.conf"))
    run = child_gate(NGINX, f"{ACCEPTANCE}::test_nginx_accepts_its_config", compose=compose)
    expected = {
        "test_nginx_conf_redirects_http_to_https": "plain HTTP is served, not redirected",
        "test_nginx_conf_allows_only_tls_1_2_and_newer": "allows TLSv1, TLSv1.1",
        "test_nginx_conf_cors_headers_are_always_sent": "without always",
        "test_nginx_conf_rate_limits_push": "push is not rate-limited",
    }
    for check, text in expected.items():
        assert run.outcome(check) == "failed" and text in run.reason(check), f"{check}: {run.reason(check)}"
    passed_or_skip(run, "test_nginx_accepts_its_config")


def test_seed_nginx_conf_loads_but_breaks_the_policy(variant, child_gate) -> None:
    secrets = "${OBS_SECRETS_DIR:?set OBS_SECRETS_DIR}/nginx"

    def seed_nginx(doc: Compose) -> None:
        mount("nginx", "/etc/nginx/nginx.conf", SEED / "nginx" / "nginx.conf")(doc)
        doc["services"]["nginx"]["volumes"] += [
            f"{secrets}/server.crt:/etc/nginx/ssl/cert.pem:ro",
            f"{secrets}/server.key:/etc/nginx/ssl/key.pem:ro",
        ]

    run = child_gate(NGINX, f"{ACCEPTANCE}::test_nginx_accepts_its_config", compose=variant(seed_nginx))
    failed = {k for k, c in run.checks.items() if c["outcome"] == "failed"}
    assert failed >= {
        "test_nginx_conf_requires_auth_for_push_query_and_prometheus",
        "test_nginx_conf_cors_origin_is_an_allow_list",
        "test_nginx_conf_cors_allows_authorization",
        "test_nginx_conf_sends_hsts_and_nosniff_everywhere",
    }
    assert "without authentication" in run.reason("test_nginx_conf_requires_auth_for_push_query_and_prometheus")
    assert "every origin (*)" in run.reason("test_nginx_conf_cors_origin_is_an_allow_list")
    passed_or_skip(run, "test_nginx_accepts_its_config")


def test_removed_loki_healthcheck_is_flagged(variant, child_gate) -> None:
    def no_healthcheck(doc: Compose) -> None:
        del doc["services"]["loki"]["healthcheck"]
        doc["services"]["grafana"]["depends_on"]["loki"]["condition"] = "service_started"

    run = child_gate(f"{COMPOSE}::test_compose_services_have_healthchecks", compose=variant(no_healthcheck))
    assert run.outcome("test_compose_services_have_healthchecks") == "failed"
    assert "services.loki.healthcheck" in run.reason("test_compose_services_have_healthchecks")

    def no_healthcheck_but_awaited(doc: Compose) -> None:
        del doc["services"]["loki"]["healthcheck"]

    refused = child_gate(f"{COMPOSE}::test_compose_services_have_healthchecks", compose=variant(no_healthcheck_but_awaited))
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR
    assert "service_healthy but loki has no healthcheck" in refused.output


def test_service_without_restart_policy_or_state_volume_is_flagged(variant, child_gate) -> None:
    def careless(doc: Compose) -> None:
        svc = doc["services"]["alertmanager"]
        svc["restart"] = "no"
        svc["volumes"] = [v for v in svc["volumes"] if not v.startswith("alertmanager-data:")]

    run = child_gate(
        f"{COMPOSE}::test_compose_services_have_restart_policies",
        f"{COMPOSE}::test_compose_services_keep_state_on_volumes",
        compose=variant(careless),
    )
    assert run.outcome("test_compose_services_have_restart_policies") == "failed"
    assert "services.alertmanager.restart" in run.reason("test_compose_services_have_restart_policies")
    assert run.outcome("test_compose_services_keep_state_on_volumes") == "failed"
    assert "/alertmanager (where alertmanager keeps its data) is not on a volume" in run.reason(
        "test_compose_services_keep_state_on_volumes"
    )


def test_seed_grafana_provisioning_is_flagged_by_grafana(variant, child_gate) -> None:
    """The seed's dashboards provider file starts with a '//' line: not YAML, so provisioning fails."""
    compose = variant(mount("grafana", "/etc/grafana/provisioning", SEED / "grafana" / "provisioning"))
    run = child_gate(f"{ACCEPTANCE}::test_grafana_provisioning_loads_without_errors", compose=compose)
    assert "dashboard" in failed_or_skip(run, "test_grafana_provisioning_loads_without_errors").lower()


def test_literal_grafana_admin_password_is_flagged_without_showing_it(variant, child_gate) -> None:
    def literal(doc: Compose) -> None:
        doc["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = "admin123"

    run = child_gate(f"{COMPOSE}::test_compose_has_no_literal_or_default_secrets", compose=variant(literal))
    check = "test_compose_has_no_literal_or_default_secrets"
    assert run.outcome(check) == "failed"
    assert "services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD" in run.reason(check)
    assert "admin123" not in json.dumps(run.checks[check])


def test_seed_compose_is_flagged(child_gate, tmp_path: Path) -> None:
    """The seed's 'production ready' compose, its unprinted files supplied (stack's or empty placeholders)."""
    supplied = {
        "./loki-config.yml": SEED / "loki-config.yml",
        "./grafana/provisioning": SEED / "grafana" / "provisioning",
        "./nginx/nginx.conf": SEED / "nginx" / "nginx.conf",
        "./prometheus.yml": STACK / "prometheus" / "prometheus.yml",
        "./prometheus/alerts.yml": STACK / "prometheus" / "rules" / "loki.yml",
        "./alertmanager.yml": STACK / "alertmanager" / "alertmanager.yml",
    }
    doc = yaml.safe_load((SEED / "docker-compose.yml").read_text())
    for svc in doc["services"].values():
        for i, volume in enumerate(svc.get("volumes", [])):
            source, _, rest = volume.partition(":")
            if not source.startswith((".", "/")):
                continue
            placeholder = tmp_path / "not-printed-in-seed" / source.strip("./").replace("/", "_")
            if source not in supplied and "." in Path(source).name:
                placeholder.parent.mkdir(parents=True, exist_ok=True)
                placeholder.touch()
            elif source not in supplied:
                placeholder.mkdir(parents=True, exist_ok=True)
            svc["volumes"][i] = f"{supplied.get(source, placeholder)}:{rest}"
    compose = tmp_path / "seed" / "docker-compose.yml"
    compose.parent.mkdir()
    compose.write_text(yaml.safe_dump(doc, sort_keys=False))
    run = child_gate(COMPOSE, compose=compose)
    assert {k for k, c in run.checks.items() if c["outcome"] == "failed"} == {
        "test_compose_images_are_pinned_to_exact_versions",
        "test_compose_has_no_literal_or_default_secrets",
        "test_compose_services_have_healthchecks",
        "test_compose_services_keep_state_on_volumes",
        "test_compose_publishes_only_the_proxy",
    }, run.output[-3000:]
    assert "GF_SECURITY_ADMIN_PASSWORD has a default fallback" in run.reason("test_compose_has_no_literal_or_default_secrets")
    assert "loki publishes 3100:3100 on every interface" in run.reason("test_compose_publishes_only_the_proxy")
