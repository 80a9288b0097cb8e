"""The static Grafana and wiring checks each fail on a variant that breaks exactly them.

Every variant is stack/docker-compose.yml with one thing changed (a compose key, a mounted
file copied from stack/ and edited, or a fixture under tests/config/fixtures/broken), run
through the whole static set in a child pytest: the one check meant to catch it fails,
naming both ends of the broken link, and every other static check passes. No container
starts, so this runs wherever Python does.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.selftest.conftest import STACK, ChildRun, Compose, mount

ROOT = STACK.parent
FIXTURES = ROOT / "tests" / "config" / "fixtures"
SEED, BROKEN = FIXTURES / "seed", FIXTURES / "broken"
STATIC = ("tests/config", "-k", "not acceptance and not upgrade")
PROVISIONING, DASHBOARDS = "/etc/grafana/provisioning", "/etc/grafana/dashboards"


@pytest.fixture
def static_run(variant, child_gate) -> Callable[[Callable[[Compose], None]], ChildRun]:
    """The static set on a variant of the stack."""
    return lambda mutate: child_gate(*STATIC, compose=variant(mutate))


def failed(run: ChildRun) -> dict[str, str]:
    """Check that did not pass -> reason; a check not evaluated only for want of what another check
    judges (e.g. no rule file loaded) is not counted: that other check carries the failure."""
    assert run.checks, run.output[-3000:]
    return {c: v["reason"] for c, v in run.checks.items()
            if v["outcome"] != "passed" and not (v["outcome"] == "not_evaluated" and "(see test_" in v["reason"])}


def only_failure(run: ChildRun, check: str) -> str:
    """Assert ``check`` is the one static check that did not pass; all its findings, one a line."""
    bad = failed(run)
    assert set(bad) == {check}, "\n".join(f"{c}: {r}" for c, r in bad.items()) or run.output[-3000:]
    return "\n".join(run.checks[check]["evidence"]["findings"])


def env(**values: str | None) -> Callable[[Compose], None]:
    """Mutation: set (or, with None, remove) variables of grafana's compose environment."""

    def mutate(doc: Compose) -> None:
        environment = doc["services"]["grafana"]["environment"]
        for name, value in values.items():
            if value is None:
                del environment[name]
            else:
                environment[name] = value

    return mutate


def both(*mutations: Callable[[Compose], None]) -> Callable[[Compose], None]:
    def mutate(doc: Compose) -> None:
        for m in mutations:
            m(doc)
    return mutate


def edited(tmp_path: Path, source: Path, edit: Callable[[Path], None]) -> Path:
    """A copy of a stack file or directory, edited in place."""
    copy = tmp_path / "edited" / source.name
    if source.is_dir():
        shutil.copytree(source, copy)
    else:
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, copy)
    edit(copy)
    return copy


def yaml_edit(relative: str, change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / relative if relative else root
        doc = yaml.safe_load(path.read_text())
        change(doc)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return edit


def test_static_checks_pass_on_the_fixed_stack(child_gate) -> None:
    run = child_gate(*STATIC)
    assert not failed(run)
    assert {c for c in run.checks if c.startswith(("test_grafana_", "test_wiring_"))} >= {
        "test_grafana_anonymous_access_is_off", "test_grafana_provisioning_files_parse",
        "test_wiring_addresses_reach_a_listening_service", "test_wiring_state_directories_are_writable_volumes"}


# --- Grafana security settings ---------------------------------------------------------


def test_anonymous_access_from_a_mounted_grafana_ini_is_flagged(static_run) -> None:
    run = static_run(both(env(GF_AUTH_ANONYMOUS_ENABLED=None),
                          mount("grafana", "/etc/grafana/grafana.ini", BROKEN / "grafana-anonymous.ini")))
    reason = only_failure(run, "test_grafana_anonymous_access_is_off")
    assert "grafana-anonymous.ini:5: auth.anonymous.enabled: anonymous access" in reason


def test_open_sign_up_is_flagged(static_run) -> None:
    reason = only_failure(static_run(env(GF_USERS_ALLOW_SIGN_UP="true")), "test_grafana_self_sign_up_is_off")
    assert "services.grafana.environment.GF_USERS_ALLOW_SIGN_UP: self sign-up" in reason


def test_absent_admin_password_is_flagged_as_admin_admin(static_run) -> None:
    reason = only_failure(static_run(env(GF_SECURITY_ADMIN_PASSWORD=None)), "test_grafana_admin_password_is_a_required_secret")
    assert "with password 'admin'" in reason and "services.grafana.environment" in reason


def test_absent_secret_key_is_flagged_as_the_published_default(static_run) -> None:
    reason = only_failure(static_run(env(GF_SECURITY_SECRET_KEY=None)), "test_grafana_secret_key_is_a_required_secret")
    assert "published default key" in reason and "services.grafana.environment" in reason


def test_literal_secrets_in_grafana_ini_are_flagged_without_showing_them(static_run) -> None:
    run = static_run(mount("grafana", "/etc/grafana/grafana.ini", BROKEN / "grafana-literal-secrets.ini"))
    reason = only_failure(run, "test_grafana_ini_holds_no_literal_secrets")
    assert "grafana-literal-secrets.ini:7: database.password" in reason and "smtp.password" in reason
    assert "hunter2" not in reason and "smtp-in-git" not in reason


def test_root_url_other_than_the_public_url_is_flagged(static_run) -> None:
    reason = only_failure(static_run(env(GF_SERVER_ROOT_URL="http://localhost:3000/")), "test_grafana_root_url_is_the_public_url")
    assert "root_url is http://localhost:3000/" in reason and "served at https://localhost/" in reason
    assert "nginx.conf:" in reason and "location /.proxy_pass" in reason


# --- Grafana provisioning -------------------------------------------------------------


def test_unparsable_provisioning_file_is_flagged(static_run, tmp_path: Path) -> None:
    def comment_line(root: Path) -> None:
        path = root / "dashboards" / "dashboards.yml"
        path.write_text("// the seed's first line\n" + path.read_text())

    provisioning = edited(tmp_path, STACK / "grafana" / "provisioning", comment_line)
    reason = only_failure(static_run(mount("grafana", PROVISIONING, provisioning)), "test_grafana_provisioning_files_parse")
    assert "dashboards.yml:" in reason and "(document): invalid YAML" in reason


def test_seed_provisioning_is_flagged_unparsable_and_linking_to_a_missing_datasource(static_run) -> None:
    run = static_run(mount("grafana", PROVISIONING, SEED / "grafana" / "provisioning"))
    parse, links = "test_grafana_provisioning_files_parse", "test_grafana_dashboards_reference_provisioned_datasources"
    assert set(failed(run)) == {parse, links}
    assert "dashboard.yml:2: (document): invalid YAML" in run.reason(parse)
    assert "datasources[0].jsonData.derivedFields[0].datasourceUid: datasource 'Loki' links to uid 'tempo'" in run.reason(links)


def test_datasource_uid_given_twice_is_flagged(static_run, tmp_path: Path) -> None:
    def add_twin(doc: dict) -> None:
        doc["datasources"].append({**doc["datasources"][0], "name": "Loki (copy)", "isDefault": False})

    provisioning = edited(tmp_path, STACK / "grafana" / "provisioning", yaml_edit("datasources/datasources.yml", add_twin))
    run = static_run(mount("grafana", PROVISIONING, provisioning))
    reason = only_failure(run, "test_grafana_datasources_have_unique_names_and_uids")
    assert "datasources[2].uid: uid 'loki' again: first at" in reason and "datasources[0]" in reason


def test_dashboard_provider_reading_an_unmounted_path_is_flagged(static_run, tmp_path: Path) -> None:
    def elsewhere(doc: dict) -> None:
        doc["providers"][0]["options"]["path"] = "/var/lib/grafana/dashboards"

    provisioning = edited(tmp_path, STACK / "grafana" / "provisioning", yaml_edit("dashboards/dashboards.yml", elsewhere))
    run = static_run(mount("grafana", PROVISIONING, provisioning))
    reason = only_failure(run, "test_grafana_dashboard_provider_reads_the_shipped_dashboards")
    assert "providers[0].options.path: /var/lib/grafana/dashboards is on volume grafana-data" in reason
    assert "pos-logs.json" in reason and "read by no dashboard provider" in reason


def test_dashboard_naming_an_unprovisioned_datasource_uid_is_flagged(static_run, tmp_path: Path) -> None:
    def rename(root: Path) -> None:
        path = root / "pos-logs.json"
        path.write_text(path.read_text().replace('"uid": "loki"', '"uid": "loki-old"', 1))

    dashboards = edited(tmp_path, STACK / "grafana" / "dashboards", rename)
    run = static_run(mount("grafana", DASHBOARDS, dashboards))
    reason = only_failure(run, "test_grafana_dashboards_reference_provisioned_datasources")
    assert "pos-logs.json:" in reason and "templating.list[0].datasource.uid: references datasource 'loki-old'" in reason


# --- wiring across files --------------------------------------------------------------


def test_loki_moved_to_another_port_breaks_every_link_to_it(static_run, tmp_path: Path) -> None:
    def port(doc: dict) -> None:
        doc["server"]["http_listen_port"] = 3101

    config = edited(tmp_path, STACK / "loki" / "loki.yml", yaml_edit("", port))
    run = static_run(mount("loki", "/etc/loki/loki.yml", config))
    reason = only_failure(run, "test_wiring_addresses_reach_a_listening_service")
    for client in ("datasources.yml:", "prometheus.yml:", "nginx.conf:", "services.loki.healthcheck.test"):
        assert client in reason, client
    assert "loki does not listen on 3100" in reason and "loki.yml:" in reason and "server.http_listen_port" in reason


def test_loki_on_a_network_of_its_own_is_flagged_from_each_client(static_run) -> None:
    def isolate(doc: Compose) -> None:
        doc["networks"]["logs"] = {"driver": "bridge"}
        doc["services"]["loki"]["networks"] = ["logs"]

    reason = only_failure(static_run(isolate), "test_wiring_addresses_reach_a_listening_service")
    assert "no shared network: grafana on ['observability']" in reason and "loki on ['logs']" in reason
    assert reason.count("no shared network") >= 3            # Grafana, Prometheus, nginx


def test_misspelt_alertmanager_target_is_flagged(static_run, tmp_path: Path) -> None:
    def typo(doc: dict) -> None:
        doc["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = ["alertmanger:9093"]

    config = edited(tmp_path, STACK / "prometheus" / "prometheus.yml", yaml_edit("", typo))
    run = static_run(mount("prometheus", "/etc/prometheus/prometheus.yml", config))
    reason = only_failure(run, "test_wiring_addresses_reach_a_listening_service")
    assert "alerting.alertmanagers[0].static_configs[0].targets[0]: alertmanger:9093: alertmanger is no compose service" in reason


def test_rule_glob_matching_nothing_and_unmounted_secret_file_are_flagged(static_run, tmp_path: Path) -> None:
    def rules(doc: dict) -> None:
        doc["rule_files"] = ["/etc/prometheus/rules/*.yaml"]

    def secret(doc: dict) -> None:
        doc["global"]["slack_api_url_file"] = "/etc/alertmanager/slack_webhook_url"

    prometheus = edited(tmp_path / "p", STACK / "prometheus" / "prometheus.yml", yaml_edit("", rules))
    alertmanager = edited(tmp_path / "a", STACK / "alertmanager" / "alertmanager.yml", yaml_edit("", secret))
    run = static_run(both(mount("prometheus", "/etc/prometheus/prometheus.yml", prometheus),
                          mount("alertmanager", "/etc/alertmanager/alertmanager.yml", alertmanager)))
    reason = only_failure(run, "test_wiring_referenced_files_are_mounted")
    assert "rule_files[0]: /etc/prometheus/rules/*.yaml matches no file mounted into prometheus" in reason
    assert "global.slack_api_url_file: /etc/alertmanager/slack_webhook_url is not in the alertmanager container" in reason
    # With no rule loaded there is no alert to time: the budget check defers to this one.
    assert run.outcome("test_service_down_alerts_meet_outage_to_page_budget") == "not_evaluated"


def test_read_only_tsdb_volume_and_tmpfs_wal_are_flagged(static_run) -> None:
    def careless(doc: Compose) -> None:
        prometheus = doc["services"]["prometheus"]
        prometheus["volumes"] = [v + ":ro" if v.startswith("prometheus-data:") else v for v in prometheus["volumes"]]
        doc["services"]["loki"]["tmpfs"] = ["/loki/wal"]

    reason = only_failure(static_run(careless), "test_wiring_state_directories_are_writable_volumes")
    assert "services.prometheus.command: /prometheus is on a read-only mount" in reason
    assert "ingester.wal.dir: /loki/wal is on tmpfs /loki/wal" in reason
