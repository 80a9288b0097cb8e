"""The static checkers on fixture files: each broken variant and seed config yields its finding.

No containers: tests/config/fixtures holds the seed documents' configs as printed and
small broken variants; a clean baseline shows each checker stays silent when it should.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
import yaml

from obsgate.checks.static import compose, loki, nginx
from obsgate.checks.static.credentials import config_secrets
from obsgate.checks.static.logs import rejections, startup_warnings
from obsgate.checks.static.prometheus import alert_coverage
from obsgate.core.errors import InputError
from obsgate.core.findings import ConfigUnreadable
from obsgate.core.policy import load_policy
from obsgate.core.yamlio import YamlDoc
from obsgate.gate.candidates import Candidate, parse_candidates
from obsgate.stackfiles.compose import image_repository, image_version
from obsgate.stackfiles.mounts import flag_value
from obsgate.stackfiles.nginx import NginxConf, select_location
from obsgate.stackfiles.project import readable

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "config" / "fixtures"
SEED, BROKEN = FIXTURES / "seed", FIXTURES / "broken"
POLICY = load_policy(ROOT / "gate.yml")
LOKI_VOLUME = [PurePosixPath("/loki")]


def doc(text: str, name: str = "test.yml") -> YamlDoc:
    return YamlDoc.parse(text, name)


def loki_doc(name: str) -> YamlDoc:
    return YamlDoc.load(BROKEN / name, name)


def keys(findings: list) -> list[str]:
    return [f.key for f in findings]


# --- YAML with lines, versions, flags ----------------------------------------------------


def test_yaml_doc_knows_lines_of_nested_and_listed_keys() -> None:
    d = doc("a:\n  b:\n    - c: 1\n      d: 2\n")
    assert d.get("a.b")[0]["d"] == 2
    assert d.line("a.b[0].d") == 4
    assert d.line("a.b.missing") == 2  # nearest present parent


def test_duplicate_key_makes_the_file_unreadable_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yml"
    path.write_text("a: 1\nb: 2\na: 3\n")
    with pytest.raises(InputError) as err:
        YamlDoc.load(path, "dup.yml")
    assert (err.value.file, err.value.key, err.value.line) == ("dup.yml", "a", 3) and "duplicate" in err.value.problem


def test_an_unreadable_stack_file_is_the_finding_of_the_check_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("a: [1\n")
    with pytest.raises(ConfigUnreadable) as err:
        readable(lambda: YamlDoc.load(path, "bad.yml"))
    assert str(err.value.finding).startswith("bad.yml:2: (document): invalid YAML")


def test_image_version_repository_and_flags() -> None:
    assert image_version("grafana/loki:2.9.3") == (2, 9, 3)
    assert image_version("prom/prometheus:v2.48.1") == (2, 48, 1)
    assert image_version("nginx:latest") is None
    assert image_repository("registry.local:5000/prom/alertmanager:v0.26.0") == "alertmanager"
    assert flag_value(["-config.file=/etc/loki/x.yml"], ("-config.file",), "d") == "/etc/loki/x.yml"
    assert flag_value(["--storage.path", "/data"], ("--storage.path",), "d") == "/data"
    assert flag_value([], ("-c",), "/etc/nginx/nginx.conf") == "/etc/nginx/nginx.conf"


# --- compose -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_compose() -> YamlDoc:
    return YamlDoc.load(SEED / "docker-compose.yml", "seed/docker-compose.yml")


def test_seed_compose_publishes_every_service_to_the_world(seed_compose: YamlDoc) -> None:
    found = keys(compose.published_ports(seed_compose))
    assert "services.loki.ports[0]" in found and "services.grafana.ports[0]" in found
    assert "services.prometheus.ports[0]" in found and "services.alertmanager.ports[0]" in found
    assert not any(k.startswith("services.nginx") for k in found)


def test_seed_compose_grafana_password_has_a_default(seed_compose: YamlDoc) -> None:
    [finding] = compose.secrets(seed_compose)
    assert finding.key == "services.grafana.environment[1]" and finding.line == 53
    assert "default fallback" in finding.problem and "ChangeMe123!" not in str(finding)


def test_seed_compose_lacks_healthchecks_and_pins_nginx_loosely(seed_compose: YamlDoc) -> None:
    assert keys(compose.healthchecks(seed_compose)) == ["services.promtail.healthcheck", "services.nginx.healthcheck"]
    assert keys(compose.image_pins(seed_compose)) == ["services.nginx.image"]


def test_literal_admin_password_is_a_finding_that_never_shows_the_value() -> None:
    d = doc(
        "services:\n  grafana:\n    image: grafana/grafana:10.2.3\n    environment:\n      GF_SECURITY_ADMIN_PASSWORD: admin123\n"
    )
    [finding] = compose.secrets(d)
    assert finding.key == "services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD" and finding.line == 5
    assert "literal" in finding.problem and "admin123" not in str(finding)


@pytest.mark.parametrize(
    ("value", "flagged"),
    [
        ("${GRAFANA_ADMIN_PASSWORD:?set it}", False),
        ("${GRAFANA_ADMIN_PASSWORD?set it}", False),
        ("${GRAFANA_ADMIN_PASSWORD:-admin}", True),
        ("${GRAFANA_ADMIN_PASSWORD}", True),
        ("", True),
    ],
)
def test_secret_variables_must_be_required(value: str, flagged: bool) -> None:
    d = doc(f"services:\n  g:\n    image: x:1.2.3\n    environment:\n      API_TOKEN: '{value}'\n")
    assert bool(compose.secrets(d)) is flagged


def test_removed_healthcheck_disabled_healthcheck_and_no_restart() -> None:
    d = doc(
        "services:\n  loki:\n    image: grafana/loki:2.9.3\n"
        "  am:\n    image: prom/alertmanager:v0.26.0\n    healthcheck: {disable: true}\n    restart: 'no'\n"
    )
    assert keys(compose.healthchecks(d)) == ["services.loki.healthcheck", "services.am.healthcheck"]
    assert keys(compose.restart_policies(d)) == ["services.loki.restart", "services.am.restart"]


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("grafana/loki:2.9.3", True),
        ("nginx:1.25.3-alpine", True),
        ("prom/prometheus:v2.48.1", True),
        ("nginx:1.25-alpine", False),
        ("grafana/loki:2", False),
        ("grafana/loki", False),
        ("grafana/loki:latest", False),
        ("grafana/loki:${LOKI_TAG:-2.9.3}", False),
        ("grafana/loki@sha256:" + "a" * 64, True),
    ],
)
def test_image_pins(image: str, ok: bool) -> None:
    assert (compose.image_pins(doc(f"services:\n  s:\n    image: '{image}'\n")) == []) is ok


def test_state_volume_follows_the_data_flag() -> None:
    d = doc(
        "volumes: {am: {}}\nservices:\n  am:\n    image: prom/alertmanager:v0.26.0\n"
        "    command: [--storage.path=/data]\n    volumes: [am:/alertmanager]\n"
    )
    [finding] = compose.state_volumes(d)
    assert "/data" in finding.problem


# --- Loki ----------------------------------------------------------------------------------------


def test_good_loki_config_meets_every_rule() -> None:
    d = loki_doc("loki-good.yml")
    assert loki.schema(d) + loki.compactor(d, LOKI_VOLUME, (3, 4, 6)) + loki.data_dirs(d, LOKI_VOLUME) == []
    assert loki.old_samples(d) + loki.query_limits(d) == []
    assert loki.retention(d).value == 720


def test_seed_original_storage_fails_the_schema_rule() -> None:
    findings = loki.schema(loki_doc("loki-seed-storage.yml"))
    assert keys(findings) == ["schema_config.configs[0].store", "schema_config.configs[0].index.period"]
    assert "boltdb-shipper" in findings[0].problem and findings[0].line is not None


def test_4mb_ingestion_rate_shows_the_arithmetic() -> None:
    d = loki_doc("loki-ingestion-4mb.yml")
    measured = loki.ingestion_rate(d, POLICY.target("avg_line_bytes").value)
    assert measured.value == 4096
    [finding] = loki.judged(d, measured, POLICY.target("ingest_lines_per_s"), "raise it")
    assert "ingestion_rate_mb 4 x 1,048,576 B/MiB / 1,024 B/line = 4,096 lines/s" in finding.problem
    assert "10,000" in finding.problem


def test_burst_factor_of_the_good_config() -> None:
    measured = loki.ingestion_burst(loki_doc("loki-good.yml"), 10_000, 1024)
    assert round(measured.value, 2) == 3.28


def test_seed_loki_config_leaves_queries_unbounded() -> None:
    d = YamlDoc.load(SEED / "loki-config.yml", "seed/loki-config.yml")
    assert keys(loki.query_limits(d)) == ["limits_config.max_query_series", "limits_config.query_timeout"]
    assert loki.schema(d) == []


def test_delete_request_store_needed_from_loki_3_only() -> None:
    d = doc("compactor: {working_directory: /loki/compactor, retention_enabled: true}\n")
    assert loki.compactor(d, LOKI_VOLUME, (2, 9, 3)) == []
    assert keys(loki.compactor(d, LOKI_VOLUME, (3, 4, 6))) == ["compactor.delete_request_store"]
    assert keys(loki.compactor(d, [PurePosixPath("/data")], (2, 9, 3))) == ["compactor.working_directory"]


def test_retention_off_and_old_samples_beyond_retention() -> None:
    d = doc("limits_config: {reject_old_samples_max_age: 1w, retention_period: 72h}\n")
    assert "0 disables deletion" in loki.retention(doc("{}")).arithmetic
    [finding] = loki.old_samples(d)
    assert "168 h" in finding.problem and "72 h" in finding.problem


def test_effective_value_that_differs_from_the_file_is_named() -> None:
    file = doc("limits_config:\n  retention_period: 720h\n  ingestion_rate_mb: 16\n")
    effective = doc("limits_config:\n  retention_period: 30d\n  ingestion_rate_mb: 4\n")
    [finding] = loki.took_effect(file, effective)
    assert finding.key == "limits_config.ingestion_rate_mb" and finding.line == 3


# --- nginx ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_nginx() -> NginxConf:
    return NginxConf.load(SEED / "nginx" / "nginx.conf", "seed/nginx.conf")


def test_seed_nginx_serves_push_query_and_prometheus_without_auth(seed_nginx: NginxConf) -> None:
    problems = [f.problem for f in nginx.auth(seed_nginx)]
    assert len(problems) == 4
    assert all("without authentication" in p for p in problems)


def test_seed_nginx_cors(seed_nginx: NginxConf) -> None:
    [star] = nginx.cors_allow_list(seed_nginx)
    assert "every origin" in star.problem and star.line == 60
    [auth] = nginx.cors_authorization(seed_nginx)
    assert "Authorization" in auth.problem
    assert nginx.cors_always(seed_nginx) == []


def test_seed_nginx_push_location_drops_the_security_headers(seed_nginx: NginxConf) -> None:
    [finding] = nginx.security_headers(seed_nginx)
    assert "location /loki/api/v1/push" in finding.key
    assert nginx.https_redirect(seed_nginx) == [] and nginx.tls_protocols(seed_nginx) == []
    assert nginx.push_rate_limit(seed_nginx) == []


def test_missing_certificate_variant_passes_static_policy() -> None:
    """Only nginx -t can catch a missing file: the static rules all hold for this variant."""
    conf = NginxConf.load(BROKEN / "nginx-missing-certificate.conf", "nginx-missing-certificate.conf")
    checks = (
        nginx.https_redirect,
        nginx.tls_protocols,
        nginx.security_headers,
        nginx.cors_allow_list,
        nginx.cors_always,
        nginx.cors_authorization,
        nginx.auth,
        nginx.push_rate_limit,
    )
    assert [f for check in checks for f in check(conf)] == []


def _conf(tmp_path: Path, http: str) -> NginxConf:
    path = tmp_path / "nginx.conf"
    path.write_text("events {}\nhttp {\n" + http + "\n}\n")
    return NginxConf.load(path, "nginx.conf")


def test_location_selection_follows_nginx(tmp_path: Path) -> None:
    conf = _conf(
        tmp_path,
        """server { listen 443 ssl;
        location / { }  location /loki/ { }  location ^~ /static/ { }
        location = /loki/api/v1/push { }  location ~ ^/loki/api/v1/(query|query_range)$ { }
        location ~* \\.PNG$ { } }""",
    )
    server = conf.servers[0]

    def picked(uri: str) -> str:
        return " ".join(select_location(server, uri)[-1]["args"])

    assert picked("/loki/api/v1/push") == "= /loki/api/v1/push"
    assert picked("/loki/api/v1/query_range") == "~ ^/loki/api/v1/(query|query_range)$"
    assert picked("/loki/api/v1/delete") == "/loki/"
    assert picked("/static/x.png") == "^~ /static/"
    assert picked("/img/x.png") == "~* \\.PNG$"
    assert picked("/grafana") == "/"


def test_unconditional_return_before_auth_and_echoed_origin(tmp_path: Path) -> None:
    conf = _conf(
        tmp_path,
        """map $http_origin $o { default $http_origin; }
        server { listen 443 ssl; ssl_protocols TLSv1 TLSv1.2;
        location /loki/ { auth_basic "x"; auth_basic_user_file /f; add_header Access-Control-Allow-Origin $o;
                          return 200; } }""",
    )
    assert all("before authentication" in f.problem for f in nginx.auth(conf, ["/loki/api/v1/push"]))
    assert "by default" in nginx.cors_allow_list(conf)[0].problem
    assert "without always" in nginx.cors_always(conf)[0].problem
    assert "TLSv1" in nginx.tls_protocols(conf)[0].problem
    assert "no plain-HTTP server" in nginx.https_redirect(conf)[0].problem


# --- secrets in configs, alert coverage, logs ----------------------------------------------------


def test_literal_secrets_in_configs() -> None:
    am = doc(
        "global: {slack_api_url: 'https://hooks.slack.com/services/T/B/x'}\n"
        "receivers: [{name: r, slack_configs: [{api_url: 'https://hooks.slack.com/x'}, {api_url_file: /s}]}]\n"
    )
    assert keys(config_secrets(am)) == ["global.slack_api_url", "receivers[0].slack_configs[0].api_url"]
    grafana = doc("datasources: [{secureJsonData: {basicAuthPassword: hunter2, password: '$__file{/run/p}'}}]\n")
    assert keys(config_secrets(grafana)) == ["datasources[0].secureJsonData.basicAuthPassword"]


def test_alert_coverage_needs_firing_and_silent_cases() -> None:
    rules = doc("groups: [{name: g, rules: [{alert: A, expr: up == 0}, {alert: B, expr: up == 0}]}]\n")
    tests = doc(
        "tests: [{alert_rule_test: [{alertname: A, exp_alerts: [{exp_labels: {}}]}, {alertname: A},"
        " {alertname: B, exp_alerts: []}]}]\n"
    )
    [finding] = alert_coverage([rules], [tests])
    assert finding.key == "groups[0].rules[1].alert" and "where it fires" in finding.problem


def test_startup_warnings_keep_deprecations_only() -> None:
    log = "\n".join(
        [
            'level=warn ts=1 caller=cache.go:127 msg="fifocache config is deprecated. use embedded-cache instead"',
            'level=warn ts=1 caller=loki.go:288 msg="global timeout not configured ... This behavior will change"',
            'level=error ts=1 caller=ratestore.go:109 msg="error getting ingester clients" err="empty ring"',
            'level=info ts=1 caller=main.go:1 msg="Loki started"',
        ]
    )
    assert keys(startup_warnings(log, "loki")) == ["cache.go:127", "loki.go:288"]
    assert "ts=" not in startup_warnings(log, "loki")[0].problem


def test_rejections_point_at_lines() -> None:
    out = (
        "failed parsing config: /etc/loki/loki.yml: yaml: unmarshal errors:\n"
        "  line 38: field shared_store not found in type indexshipper.Config\n"
    )
    [finding] = rejections(out, "loki.yml", "loki")
    assert (finding.key, finding.line) == ("shared_store", 38)
    [nginx_finding] = rejections('[emerg] 1#1: host not found in upstream "g:3000" in /etc/nginx/nginx.conf:8', "n", "nginx")
    assert nginx_finding.line == 8
    assert rejections("boom", "f", "tool")[0].problem == "rejected: boom"


# --- --candidate ---------------------------------------------------------------------------------


def test_candidates_parse_and_validate() -> None:
    assert parse_candidates(["loki=grafana/loki:3.4.6", "loki=grafana/loki:3.4.6"], ["loki"]) == (
        Candidate("loki", "grafana/loki:3.4.6"),
    )
    with pytest.raises(InputError, match="SERVICE=IMAGE"):
        parse_candidates(["loki"], ["loki"])
    with pytest.raises(InputError, match="no such service"):
        parse_candidates(["tempo=grafana/tempo:2.3.1"], ["loki"])


def test_seed_fixtures_are_the_seed_documents_configs() -> None:
    """The seed files are kept as printed (the dashboards provider block even starts with '//')."""
    assert "shared_store: filesystem" in (SEED / "loki-config.yml").read_text()
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load((SEED / "grafana" / "provisioning" / "dashboards" / "dashboard.yml").read_text())
