"""obsgate.stackfiles.mounts / prometheus / alertmanager: Prometheus and Alertmanager facts read through a
service's compose mounts.

Small stacks shaped like stack/ (docker-compose.yml, prometheus/prometheus.yml, prometheus/rules,
alertmanager/alertmanager.yml) are written to tmp_path and loaded with the real compose reader;
one test per config reads the repository's own files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from obsgate.core.errors import InputError
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.alertmanager import AlertmanagerConfig
from obsgate.stackfiles.compose import Mount, ServiceSpec, load_compose
from obsgate.stackfiles.mounts import flag, flag_value, mounted_path
from obsgate.stackfiles.prometheus import AlertRule, PrometheusConfig, RuleFile, ScrapeTarget, prom_duration_s

ROOT = Path(__file__).resolve().parents[2]
REAL_COMPOSE = ROOT / "stack" / "docker-compose.yml"

PROMETHEUS_YML = """\
global:
  scrape_interval: 15s
  scrape_timeout: 10s
  evaluation_interval: 30s
  external_labels:
    stack: obs-stack

alerting:
  alertmanagers:
    - api_version: v2
      static_configs:
        - targets: ["alertmanager:9093"]

rule_files:
  - /etc/prometheus/rules/*.yml

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]

  - job_name: loki
    static_configs:
      - targets: ["loki:3100"]

  - job_name: alertmanager
    static_configs:
      - targets: ["alertmanager:9093"]
"""

STACK_RULES = """\
groups:
  - name: stack
    rules:
      - alert: TargetDown
        expr: up == 0
        for: 2m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.job }} is down"
      - record: job:up:sum
        expr: sum by (job) (up)
"""

LOKI_RULES = """\
groups:
  - name: loki-self-monitoring
    rules:
      - alert: LokiDown
        expr: absent(up{job="loki"} == 1)
        for: 1m
        labels:
          severity: critical
          job: loki
      - alert: LokiPushLatencyHigh
        expr: histogram_quantile(0.99, sum by (le) (rate(loki_request_duration_seconds_bucket[5m]))) > 1
"""

ALERTMANAGER_YML = """\
route:
  receiver: slack-warnings
receivers:
  - name: slack-critical
    slack_configs:
      - api_url_file: /etc/alertmanager/secrets/slack_webhook_url
        channel: "#obs-critical"
      - api_url_file: /etc/alertmanager/secrets/slack_webhook_url
        channel: "#oncall"
  - name: slack-warnings
    slack_configs:
      - api_url_file: /etc/alertmanager/secrets/slack_webhook_url
        channel: "#obs-warnings"
  - name: blackhole
  - name: slack-default-channel
    slack_configs:
      - api_url_file: /etc/alertmanager/secrets/slack_webhook_url
"""

PROMETHEUS_COMMAND = """\
command:
  - --config.file=/etc/prometheus/prometheus.yml
  - --storage.tsdb.path=/prometheus
"""
PROMETHEUS_VOLUMES = """\
volumes:
  - ./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro
  - ./prometheus/rules:/etc/prometheus/rules:ro
  - prometheus-data:/prometheus
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def service(directory: Path, name: str, body: str, image: str = "prom/prometheus:v2.48.1") -> ServiceSpec:
    """Load a compose file in ``directory`` whose one service ``name`` has keys ``body`` (besides image)."""
    compose = directory / "docker-compose.yml"
    compose.write_text(
        f"services:\n  {name}:\n    image: {image}\n" + textwrap.indent(textwrap.dedent(body), "    ")
        + "volumes:\n  prometheus-data: {}\n  alertmanager-data: {}\n",
        encoding="utf-8",
    )
    return load_compose(compose, {}).services[name]


@pytest.fixture
def prometheus_dir(tmp_path: Path) -> Path:
    """stack/prometheus as the repository ships it: prometheus.yml and rules/ (with one .yaml outside the glob)."""
    write(tmp_path / "prometheus" / "prometheus.yml", PROMETHEUS_YML)
    write(tmp_path / "prometheus" / "rules" / "stack.yml", STACK_RULES)
    write(tmp_path / "prometheus" / "rules" / "loki.yml", LOKI_RULES)
    write(tmp_path / "prometheus" / "rules" / "draft.yaml", "groups: []\n")
    return tmp_path / "prometheus"


@pytest.fixture
def prometheus(tmp_path: Path, prometheus_dir: Path) -> ServiceSpec:
    return service(tmp_path, "prometheus", PROMETHEUS_COMMAND + PROMETHEUS_VOLUMES)


@pytest.fixture
def prometheus_config(prometheus: ServiceSpec) -> PrometheusConfig:
    return PrometheusConfig.of_service(prometheus)


def bind(target: str, source: str = "/srv/host") -> Mount:
    return Mount("bind", source, target, True)


def spec_with(*mounts: Mount) -> ServiceSpec:
    return ServiceSpec(name="prometheus", image="prom/prometheus:v2.48.1", mounts=mounts)


@pytest.fixture
def real_stack(tmp_path: Path) -> dict[str, ServiceSpec]:
    """The services of stack/docker-compose.yml, with throwaway secrets and URL."""
    secrets = tmp_path / "secrets"
    (secrets / "nginx").mkdir(parents=True)
    (secrets / "alertmanager").mkdir()
    env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "s3cret", "GRAFANA_SECRET_KEY": "k3y", "OBS_PUBLIC_URL": "https://obs.example"}
    return dict(load_compose(REAL_COMPOSE, env).services)


# --- mounted_path ------------------------------------------------------------------------------


def test_mounted_path_of_a_file_mount_is_its_host_file(prometheus: ServiceSpec, prometheus_dir: Path) -> None:
    assert mounted_path(prometheus, "/etc/prometheus/prometheus.yml") == (prometheus_dir / "prometheus.yml").resolve()


def test_mounted_path_inside_a_directory_mount_is_the_same_path_under_its_host_directory(
        prometheus: ServiceSpec, prometheus_dir: Path) -> None:
    assert mounted_path(prometheus, "/etc/prometheus/rules/loki.yml") == (prometheus_dir / "rules" / "loki.yml").resolve()


def test_mounted_path_of_a_directory_mount_itself_is_its_host_directory(
        prometheus: ServiceSpec, prometheus_dir: Path) -> None:
    assert mounted_path(prometheus, "/etc/prometheus/rules") == (prometheus_dir / "rules").resolve()


def test_mounted_path_does_not_check_that_the_file_inside_a_directory_mount_exists(
        prometheus: ServiceSpec, prometheus_dir: Path) -> None:
    assert mounted_path(prometheus, "/etc/prometheus/rules/new.yml") == (prometheus_dir / "rules" / "new.yml").resolve()


@pytest.mark.parametrize(("target", "path", "host"), [
    ("/etc/prometheus/rules/", "/etc/prometheus/rules/a.yml", "/srv/rules/a.yml"),
    ("/etc/prometheus/rules", "/etc/prometheus/rules/", "/srv/rules"),
])
def test_mounted_path_ignores_trailing_slashes(target: str, path: str, host: str) -> None:
    assert mounted_path(spec_with(bind(target, "/srv/rules")), path) == Path(host)


def test_mounted_path_prefers_the_most_specific_mount() -> None:
    spec = spec_with(bind("/etc/prometheus", "/srv/prometheus"), bind("/etc/prometheus/prometheus.yml", "/srv/custom.yml"))
    assert mounted_path(spec, "/etc/prometheus/prometheus.yml") == Path("/srv/custom.yml")


def test_mounted_path_does_not_take_a_sibling_sharing_a_prefix_for_a_subdirectory() -> None:
    spec = spec_with(bind("/etc/prometheus/rules", "/srv/rules"))
    with pytest.raises(InputError):
        mounted_path(spec, "/etc/prometheus/rules2/a.yml")


def test_mounted_path_of_an_unmounted_path_names_the_service_the_path_and_the_fix(prometheus: ServiceSpec) -> None:
    with pytest.raises(InputError) as info:
        mounted_path(prometheus, "/etc/prometheus/web.yml")
    assert info.value.file == "prometheus"
    assert info.value.key == "volumes"
    assert "/etc/prometheus/web.yml" in info.value.problem
    assert info.value.fix == "mount the file the service reads at /etc/prometheus/web.yml"


def test_mounted_path_ignores_named_volumes(prometheus: ServiceSpec) -> None:
    with pytest.raises(InputError):
        mounted_path(prometheus, "/prometheus/wal")


# --- flag_value / flag -------------------------------------------------------------------------


def test_flag_value_reads_single_dash_equals_form() -> None:
    assert flag_value(["-config.file=/etc/loki/loki.yml"], ("-config.file",), "d") == "/etc/loki/loki.yml"


def test_flag_value_reads_double_dash_equals_form() -> None:
    assert flag_value(["--config.file=/etc/prometheus/p.yml"], ("--config.file",), "d") == "/etc/prometheus/p.yml"


def test_flag_value_reads_the_argument_after_a_flag_given_without_equals() -> None:
    assert flag_value(["--storage.path", "/alertmanager"], ("--storage.path",), "d") == "/alertmanager"


def test_flag_value_is_the_default_when_the_flag_is_absent() -> None:
    assert flag_value(["--storage.tsdb.path=/prometheus"], ("--config.file",), "/etc/prometheus/prometheus.yml") \
        == "/etc/prometheus/prometheus.yml"


def test_flag_value_is_the_default_when_the_flag_is_last_without_a_value() -> None:
    assert flag_value(["--storage.path=/a", "--config.file"], ("--config.file",), "default.yml") == "default.yml"


def test_flag_value_of_an_empty_equals_value_is_empty() -> None:
    assert flag_value(["--cluster.listen-address="], ("--cluster.listen-address",), "0.0.0.0:9094") == ""


def test_flag_value_keeps_equals_signs_inside_the_value() -> None:
    assert flag_value(["--web.external-url=https://obs.example/prometheus/?a=b"], ("--web.external-url",), "") \
        == "https://obs.example/prometheus/?a=b"


def test_flag_value_matches_whole_flag_names_only() -> None:
    argv = ["--config.file.extra=/x.yml", "--web.config.file=/web.yml"]
    assert flag_value(argv, ("--config.file",), "d") == "d"


def test_flag_value_accepts_any_of_the_names_given() -> None:
    assert flag_value(["-config.file=/single.yml"], ("--config.file", "-config.file"), "d") == "/single.yml"


def test_flag_value_takes_the_first_occurrence() -> None:
    assert flag_value(["--config.file=/a.yml", "--config.file=/b.yml"], ("--config.file",), "d") == "/a.yml"


def test_flag_value_accepts_names_as_a_one_shot_iterable() -> None:
    assert flag_value(["-c", "/etc/nginx/nginx.conf"], iter(["-c"]), "d") == "/etc/nginx/nginx.conf"


@pytest.mark.parametrize("arg", ["--config.file=/etc/prom/custom.yml", "-config.file=/etc/prom/custom.yml"])
def test_flag_reads_the_service_command_with_one_or_two_dashes(tmp_path: Path, arg: str) -> None:
    spec = service(tmp_path, "prometheus", f"command: [{arg!r}, --storage.tsdb.path=/prometheus]\n")
    assert flag(spec, "config.file", "d") == "/etc/prom/custom.yml"


def test_flag_reads_a_space_separated_value_from_the_service_command(tmp_path: Path) -> None:
    spec = service(tmp_path, "alertmanager", "command: --config.file /etc/am/am.yml --storage.path=/alertmanager\n")
    assert flag(spec, "config.file", "d") == "/etc/am/am.yml"


def test_flag_of_a_service_without_command_is_the_default(tmp_path: Path) -> None:
    spec = service(tmp_path, "prometheus", "expose: ['9090']\n")
    assert flag(spec, "config.file", "/etc/prometheus/prometheus.yml") == "/etc/prometheus/prometheus.yml"


# --- prom_duration_s ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("15s", 15.0), ("1m", 60.0), ("1h30m", 5400.0), ("500ms", 0.5), ("1d", 86400.0),
    ("2w", 1209600.0), ("1y", 31536000.0), ("1m30s500ms", 90.5), ("0s", 0.0),
])
def test_prom_duration_s_converts_prometheus_durations_to_seconds(text: str, seconds: float) -> None:
    assert prom_duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["bad", "", "15", "1.5h", "-1m", " 15s", "15s ", "1h 30m", "15S", "1hour", "m"])
def test_prom_duration_s_rejects_text_that_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        prom_duration_s(text)


def test_prom_duration_s_accepts_a_bare_zero_like_prometheus() -> None:
    # prometheus/common model.ParseDuration: `case "0": // Allow 0 without a unit.` -- e.g. `for: 0` in a rule.
    assert prom_duration_s("0") == 0.0


@pytest.mark.parametrize("text", ["30m1h", "1m1m", "500ms1s"])
def test_prom_duration_s_rejects_units_out_of_order_or_repeated_like_prometheus(text: str) -> None:
    # Prometheus' regex is ^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$: each unit once, largest first.
    with pytest.raises(ValueError):
        prom_duration_s(text)


# --- ScrapeTarget ------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "host"), [("loki:3100", "loki"), ("localhost:9090", "localhost"),
                                               ("[::1]:9090", "[::1]"), ("grafana", "grafana")])
def test_scrape_target_host_is_the_address_without_its_port(address: str, host: str) -> None:
    assert ScrapeTarget("job", address).host == host


# --- PrometheusConfig --------------------------------------------------------------------------


def test_prometheus_config_reads_the_file_the_config_flag_names(prometheus_config: PrometheusConfig,
                                                                prometheus_dir: Path) -> None:
    assert prometheus_config.path == (prometheus_dir / "prometheus.yml").resolve()
    assert prometheus_config.doc.get("global.external_labels") == {"stack": "obs-stack"}


def test_prometheus_config_follows_a_non_default_config_flag(tmp_path: Path) -> None:
    write(tmp_path / "prom" / "custom.yml", "global:\n  scrape_interval: 5s\n")
    spec = service(tmp_path, "prometheus", "command: [--config.file=/etc/prom/custom.yml]\n"
                                           "volumes: [./prom/custom.yml:/etc/prom/custom.yml:ro]\n")
    assert PrometheusConfig.of_service(spec).scrape_interval_s == 5.0


def test_prometheus_config_defaults_to_etc_prometheus_prometheus_yml(tmp_path: Path, prometheus_dir: Path) -> None:
    spec = service(tmp_path, "prometheus", PROMETHEUS_VOLUMES)
    assert PrometheusConfig.of_service(spec).path == (prometheus_dir / "prometheus.yml").resolve()


def test_prometheus_config_not_mounted_names_the_service_and_the_path(tmp_path: Path, prometheus_dir: Path) -> None:
    spec = service(tmp_path, "prometheus", "command: [--config.file=/etc/prometheus/prometheus.yml]\n"
                                           "volumes: [./prometheus/rules:/etc/prometheus/rules:ro]\n")
    with pytest.raises(InputError) as info:
        PrometheusConfig.of_service(spec)
    assert info.value.file == "prometheus"
    assert "/etc/prometheus/prometheus.yml" in info.value.problem


def test_prometheus_config_missing_from_a_mounted_directory_names_the_host_file(tmp_path: Path) -> None:
    (tmp_path / "prometheus").mkdir()
    spec = service(tmp_path, "prometheus", "volumes: [./prometheus:/etc/prometheus:ro]\n")
    with pytest.raises(InputError) as info:
        PrometheusConfig.of_service(spec)
    assert info.value.file == str((tmp_path / "prometheus" / "prometheus.yml").resolve())
    assert info.value.problem == "Prometheus config not found"


def test_prometheus_config_reads_global_scrape_and_evaluation_intervals(prometheus_config: PrometheusConfig) -> None:
    assert (prometheus_config.scrape_interval_s, prometheus_config.evaluation_interval_s) == (15.0, 30.0)


def test_prometheus_config_intervals_default_to_prometheus_one_minute(tmp_path: Path) -> None:
    write(tmp_path / "p.yml", "scrape_configs: []\n")
    spec = service(tmp_path, "prometheus", "volumes: [./p.yml:/etc/prometheus/prometheus.yml:ro]\n")
    config = PrometheusConfig.of_service(spec)
    assert (config.scrape_interval_s, config.evaluation_interval_s) == (60.0, 60.0)


def test_prometheus_config_of_an_empty_file_has_defaults_and_no_targets(tmp_path: Path) -> None:
    write(tmp_path / "p.yml", "")
    spec = service(tmp_path, "prometheus", "volumes: [./p.yml:/etc/prometheus/prometheus.yml:ro]\n")
    config = PrometheusConfig.of_service(spec)
    assert (config.doc.data, config.scrape_interval_s, config.targets(), config.rule_files()) == (None, 60.0, [], [])


def test_prometheus_config_with_an_invalid_global_interval_raises(tmp_path: Path) -> None:
    write(tmp_path / "p.yml", "global:\n  scrape_interval: 15 seconds\n")
    spec = service(tmp_path, "prometheus", "volumes: [./p.yml:/etc/prometheus/prometheus.yml:ro]\n")
    with pytest.raises(ValueError, match="15 seconds"):
        _ = PrometheusConfig.of_service(spec).scrape_interval_s


def test_targets_lists_every_static_target_of_every_job_in_order(prometheus_config: PrometheusConfig) -> None:
    assert prometheus_config.targets() == [
        ScrapeTarget("prometheus", "localhost:9090"),
        ScrapeTarget("loki", "loki:3100"),
        ScrapeTarget("alertmanager", "alertmanager:9093"),
    ]


def test_targets_covers_several_static_configs_and_skips_jobs_without_them(tmp_path: Path) -> None:
    write(tmp_path / "p.yml", """\
        scrape_configs:
          - job_name: nodes
            static_configs:
              - targets: ["node-a:9100", "node-b:9100"]
              - targets: ["node-c:9100"]
          - job_name: discovered
            dns_sd_configs:
              - names: ["tasks.app"]
          - job_name: empty
            static_configs:
              - labels: {env: prod}
        """)
    spec = service(tmp_path, "prometheus", "volumes: [./p.yml:/etc/prometheus/prometheus.yml:ro]\n")
    assert [t.address for t in PrometheusConfig.of_service(spec).targets()] == ["node-a:9100", "node-b:9100", "node-c:9100"]


def test_rule_files_are_the_host_files_the_glob_matches_sorted(prometheus_config: PrometheusConfig,
                                                               prometheus_dir: Path) -> None:
    rules = (prometheus_dir / "rules").resolve()
    assert prometheus_config.rule_files() == [rules / "loki.yml", rules / "stack.yml"]


def test_rule_files_glob_matching_nothing_is_empty(tmp_path: Path, prometheus_dir: Path) -> None:
    write(prometheus_dir / "prometheus.yml", "rule_files:\n  - /etc/prometheus/rules/*.rules\n")
    assert PrometheusConfig.of_service(service(tmp_path, "prometheus", PROMETHEUS_VOLUMES)).rule_files() == []


def test_rule_files_outside_every_mount_name_the_service(tmp_path: Path, prometheus_dir: Path) -> None:
    write(prometheus_dir / "prometheus.yml", "rule_files:\n  - /etc/prometheus/alerts/*.yml\n")
    with pytest.raises(InputError) as info:
        PrometheusConfig.of_service(service(tmp_path, "prometheus", PROMETHEUS_VOLUMES)).rule_files()
    assert info.value.file == "prometheus"
    assert "/etc/prometheus/alerts" in info.value.problem


def test_rule_files_resolve_a_relative_glob_against_the_config_files_directory(tmp_path: Path,
                                                                               prometheus_dir: Path) -> None:
    # Prometheus joins relative rule_files to the directory of the config file (config.JoinDir).
    write(prometheus_dir / "prometheus.yml", "rule_files:\n  - rules/*.yml\n")
    config = PrometheusConfig.of_service(service(tmp_path, "prometheus", PROMETHEUS_VOLUMES))
    assert [p.name for p in config.rule_files()] == ["loki.yml", "stack.yml"]


def test_rule_files_find_a_rule_file_mounted_on_its_own(tmp_path: Path) -> None:
    write(tmp_path / "prometheus" / "prometheus.yml", "rule_files:\n  - /etc/prometheus/alerts.yml\n")
    write(tmp_path / "prometheus" / "alerts.yml", STACK_RULES)
    spec = service(tmp_path, "prometheus", """\
        volumes:
          - ./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro
          - ./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro
        """)
    assert PrometheusConfig.of_service(spec).rule_files() == [(tmp_path / "prometheus" / "alerts.yml").resolve()]


def test_shipped_rule_files_include_yml_and_yaml_whether_the_glob_matches_or_not(
        prometheus_config: PrometheusConfig, prometheus_dir: Path) -> None:
    rules = (prometheus_dir / "rules").resolve()
    assert prometheus_config.shipped_rule_files() == [rules / "draft.yaml", rules / "loki.yml", rules / "stack.yml"]


def test_shipped_rule_files_list_each_file_once_for_several_globs_into_one_directory(
        tmp_path: Path, prometheus_dir: Path) -> None:
    write(prometheus_dir / "prometheus.yml",
          "rule_files:\n  - /etc/prometheus/rules/loki.yml\n  - /etc/prometheus/rules/stack.yml\n")
    config = PrometheusConfig.of_service(service(tmp_path, "prometheus", PROMETHEUS_VOLUMES))
    assert [p.name for p in config.shipped_rule_files()] == ["draft.yaml", "loki.yml", "stack.yml"]


def test_alert_rules_of_the_config_are_every_alerting_rule_of_the_matched_files(
        prometheus_config: PrometheusConfig) -> None:
    assert [(r.group, r.name) for r in prometheus_config.alert_rules()] == [
        ("loki-self-monitoring", "LokiDown"),
        ("loki-self-monitoring", "LokiPushLatencyHigh"),
        ("stack", "TargetDown"),
    ]


def test_rule_files_are_parsed_once_however_often_their_rules_are_asked_for(
        prometheus_config: PrometheusConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = YamlDoc.parse

    def counted(cls: type[YamlDoc], text: str, name: str) -> YamlDoc:
        parsed.append(name)
        return real(text, name)

    monkeypatch.setattr(YamlDoc, "parse", classmethod(counted))
    for _ in range(3):
        prometheus_config.alert_rules()
    assert sorted(Path(name).name for name in parsed) == ["loki.yml", "stack.yml"]


# --- rule files --------------------------------------------------------------------------------


def test_alert_rules_reads_name_expr_for_labels_and_file(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.yml", STACK_RULES)
    expected = AlertRule("stack", "TargetDown", "up == 0", 120.0, {"severity": "critical"}, path)
    assert RuleFile.load(path).alert_rules() == [expected]


def test_alert_rules_leave_out_recording_rules(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.yml", STACK_RULES)
    assert "job:up:sum" not in [r.name for r in RuleFile.load(path).alert_rules()]


def test_alert_rule_without_for_fires_after_zero_seconds(tmp_path: Path) -> None:
    path = write(tmp_path / "loki.yml", LOKI_RULES)
    latency = next(r for r in RuleFile.load(path).alert_rules() if r.name == "LokiPushLatencyHigh")
    assert (latency.for_s, latency.labels) == (0.0, {})


def test_alert_rules_of_an_empty_rule_file_are_none(tmp_path: Path) -> None:
    assert RuleFile.load(write(tmp_path / "empty.yml", "")).alert_rules() == []


def test_alert_rule_with_an_invalid_for_raises(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yml", "groups:\n  - name: g\n    rules:\n      - {alert: A, expr: up, for: soon}\n")
    with pytest.raises(ValueError, match="soon"):
        RuleFile.load(path).alert_rules()


def test_alert_rules_of_a_missing_file_name_it(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        RuleFile.load(tmp_path / "absent.yml")
    assert info.value.problem == "Prometheus rule file not found"


def test_rule_names_list_both_kinds_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path / "stack.yml", STACK_RULES)
    assert RuleFile.load(path).rule_names() == [("stack", "TargetDown"), ("stack", "job:up:sum")]


# --- AlertmanagerConfig ------------------------------------------------------------------------


@pytest.fixture
def alertmanager_config(tmp_path: Path) -> AlertmanagerConfig:
    write(tmp_path / "alertmanager" / "alertmanager.yml", ALERTMANAGER_YML)
    spec = service(tmp_path, "alertmanager", """\
        command:
          - --config.file=/etc/alertmanager/alertmanager.yml
          - --storage.path=/alertmanager
        volumes:
          - ./alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro
          - alertmanager-data:/alertmanager
        """, image="prom/alertmanager:v0.26.0")
    return AlertmanagerConfig.of_service(spec)


def test_alertmanager_config_reads_the_mounted_file(alertmanager_config: AlertmanagerConfig, tmp_path: Path) -> None:
    assert alertmanager_config.path == (tmp_path / "alertmanager" / "alertmanager.yml").resolve()


def test_alertmanager_config_not_mounted_names_the_service(tmp_path: Path) -> None:
    spec = service(tmp_path, "alertmanager", "volumes: [alertmanager-data:/alertmanager]\n", image="prom/alertmanager:v0.26.0")
    with pytest.raises(InputError) as info:
        AlertmanagerConfig.of_service(spec)
    assert info.value.file == "alertmanager"
    assert "/etc/alertmanager/alertmanager.yml" in info.value.problem


def test_slack_channels_are_the_receivers_channels_in_order(alertmanager_config: AlertmanagerConfig) -> None:
    assert alertmanager_config.slack_channels("slack-critical") == ["#obs-critical", "#oncall"]


def test_slack_channels_of_an_unknown_receiver_are_empty(alertmanager_config: AlertmanagerConfig) -> None:
    assert alertmanager_config.slack_channels("pagerduty") == []


def test_slack_channels_of_a_receiver_without_slack_configs_are_empty(alertmanager_config: AlertmanagerConfig) -> None:
    assert alertmanager_config.slack_channels("blackhole") == []


def test_slack_channel_left_to_the_webhook_default_is_empty(alertmanager_config: AlertmanagerConfig) -> None:
    assert alertmanager_config.slack_channels("slack-default-channel") == [""]


# --- the real stack ----------------------------------------------------------------------------


def test_real_prometheus_config_mounted_by_the_real_compose_file_yields_its_facts(
        real_stack: dict[str, ServiceSpec]) -> None:
    config = PrometheusConfig.of_service(real_stack["prometheus"])
    assert config.path == (ROOT / "stack" / "prometheus" / "prometheus.yml").resolve()
    assert config.scrape_interval_s > 0 and config.evaluation_interval_s > 0
    assert {t.job for t in config.targets()} >= {"prometheus", "loki"}
    assert config.rule_files() and all(p.parent == (ROOT / "stack" / "prometheus" / "rules").resolve()
                                       for p in config.rule_files())
    assert {r.name for r in config.alert_rules()} <= {name for p in config.rule_files()
                                                      for _, name in RuleFile.load(p).rule_names()}
    assert config.alert_rules()


def test_real_alertmanager_config_mounted_by_the_real_compose_file_yields_slack_channels(
        real_stack: dict[str, ServiceSpec]) -> None:
    config = AlertmanagerConfig.of_service(real_stack["alertmanager"])
    assert config.path == (ROOT / "stack" / "alertmanager" / "alertmanager.yml").resolve()
    receivers = [r["name"] for r in config.doc.get("receivers")]
    assert receivers and all(c.startswith("#") for r in receivers for c in config.slack_channels(r))
