"""Grafana's settings and provisioning read from files, and the static Grafana judges, without Grafana.

Each test writes a small compose project (a grafana service and the files it mounts) and
checks what Grafana would do with it, as its defaults and precedence rules say.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from obsgate.checks.static import grafana as g
from obsgate.checks.static.references import Address, Where
from obsgate.core.findings import ConfigUnreadable
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import load_compose
from obsgate.stackfiles.grafana import GrafanaConf, as_bool, env_name

DATASOURCES = {"apiVersion": 1, "datasources": [
    {"name": "Loki", "uid": "loki", "type": "loki", "url": "http://loki:3100"},
    {"name": "Prometheus", "uid": "prometheus", "type": "prometheus", "url": "http://prometheus:9090"}]}
PROVIDERS = {"apiVersion": 1, "providers": [{"name": "p", "type": "file", "options": {"path": "/etc/grafana/dashboards"}}]}
BOARD = {"uid": "b", "title": "B", "templating": {"list": [{"name": "ds", "type": "datasource", "query": "loki"}]},
         "panels": [{"datasource": {"type": "loki", "uid": "loki"}},
                    {"datasource": {"type": "loki", "uid": "${ds}"}},
                    {"datasource": "Prometheus"},
                    {"datasource": {"type": "datasource", "uid": "-- Mixed --"}}]}
SECRET = "${GRAFANA_ADMIN_PASSWORD:?set it}"
KEY = "${GRAFANA_SECRET_KEY:?set it}"


def project(tmp_path: Path, env: dict[str, str] | None = None, volumes: list[str] | None = None,
            datasources: dict | None = None, providers: dict | None = None, boards: dict[str, object] | None = None,
            ini: str | None = None) -> GrafanaConf:
    """A compose project with one grafana service mounting provisioning, dashboards and optionally grafana.ini."""
    for sub, doc in (("datasources", datasources or DATASOURCES), ("dashboards", providers or PROVIDERS)):
        (tmp_path / "provisioning" / sub).mkdir(parents=True)
        (tmp_path / "provisioning" / sub / f"{sub}.yml").write_text(yaml.safe_dump(doc))
    (tmp_path / "dashboards").mkdir()
    for name, board in (boards if boards is not None else {"b.json": BOARD}).items():
        (tmp_path / "dashboards" / name).write_text(board if isinstance(board, str) else json.dumps(board, indent=1))
    mounts = ["./provisioning:/etc/grafana/provisioning:ro", "./dashboards:/etc/grafana/dashboards:ro", "data:/var/lib/grafana"]
    if ini is not None:
        (tmp_path / "grafana.ini").write_text(ini)
        mounts.append("./grafana.ini:/etc/grafana/grafana.ini:ro")
    compose = {"services": {"grafana": {"image": "grafana/grafana:10.2.3", "volumes": mounts + (volumes or []),
                                        "environment": {"GF_SECURITY_ADMIN_PASSWORD": SECRET, "GF_SECURITY_SECRET_KEY": KEY}
                                        if env is None else env}},
               "volumes": {"data": {}}}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(compose, sort_keys=False))
    env = {"GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y", "SECRETS": str(tmp_path)}
    spec = load_compose(path, env).services["grafana"]
    return GrafanaConf(spec, YamlDoc.load(path, "docker-compose.yml"))


def problems(findings: list) -> list[str]:
    return [f"{f.key}: {f.problem}" for f in findings]


# --- how settings resolve --------------------------------------------------------------


def test_env_names_follow_grafana() -> None:
    assert env_name("auth.anonymous.enabled") == "GF_AUTH_ANONYMOUS_ENABLED"
    assert env_name("auth.generic_oauth.client_secret") == "GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"
    assert env_name("plugin.grafana-x.key") == "GF_PLUGIN_GRAFANA_X_KEY"


def test_booleans_read_as_go_ini_reads_them() -> None:
    assert as_bool("On", "false") and not as_bool("0", "true")
    assert as_bool("maybe", "true") and not as_bool("maybe", "false")      # unreadable: the default


def test_env_wins_over_grafana_ini_which_wins_over_defaults(tmp_path: Path) -> None:
    ini = "; comment\n[server]\nhttp_port = 3001 # was 3000\ndomain = \"obs.example\"\n[users]\nallow_sign_up = true  \n"
    conf = project(tmp_path, env={"GF_SECURITY_ADMIN_PASSWORD": SECRET, "GF_USERS_ALLOW_SIGN_UP": "false"}, ini=ini)
    assert (conf.setting("server.http_port").value, conf.setting("server.http_port").line) == ("3001", 3)
    assert conf.setting("users.allow_sign_up").origin == "compose" and not conf.flag("users.allow_sign_up")
    assert conf.setting("auth.anonymous.enabled").origin == "default"
    assert conf.root_url() == "http://obs.example:3001/"


def test_image_env_sets_the_paths_so_grafana_ini_paths_are_ignored(tmp_path: Path) -> None:
    conf = project(tmp_path, ini="[paths]\ndata = /elsewhere\n")
    data = conf.setting("paths.data")
    assert (data.value, data.origin) == ("/var/lib/grafana", "image")


def test_ini_values_expand_container_environment(tmp_path: Path) -> None:
    conf = project(tmp_path, env={"GF_SECURITY_ADMIN_PASSWORD": SECRET, "ANON": "true"},
                   ini="[auth.anonymous]\nenabled = $__env{ANON}\n")
    assert conf.flag("auth.anonymous.enabled")


def test_a_grafana_ini_line_that_is_no_setting_makes_it_unreadable(tmp_path: Path) -> None:
    conf = project(tmp_path, ini="[server]\nhttp_port 3000\n")
    with pytest.raises(ConfigUnreadable):
        conf.setting("server.http_port")
    assert problems(g.anonymous_access(conf)) == ["line 2: not a key = value line: 'http_port 3000'"]


# --- security settings -----------------------------------------------------------------


def test_the_fixed_settings_pass(tmp_path: Path) -> None:
    conf = project(tmp_path)
    assert g.anonymous_access(conf) == g.sign_up(conf) == g.admin_password(conf) == g.ini_secrets(conf) == []
    assert g.secret_key(conf) == []


def test_anonymous_access_from_grafana_ini_names_its_line(tmp_path: Path) -> None:
    (finding,) = g.anonymous_access(project(tmp_path, ini="[auth.anonymous]\nenabled = true\n"))
    assert finding.file.endswith("/grafana.ini") and (finding.line, finding.key) == (2, "auth.anonymous.enabled")


def test_sign_up_from_compose_names_its_variable(tmp_path: Path) -> None:
    (finding,) = g.sign_up(project(tmp_path, env={"GF_SECURITY_ADMIN_PASSWORD": SECRET, "GF_USERS_ALLOW_SIGN_UP": "yes"}))
    assert finding.key == "services.grafana.environment.GF_USERS_ALLOW_SIGN_UP" and "'yes'" in finding.problem


def test_admin_password_absent_is_admin_admin_unless_no_admin_is_created(tmp_path: Path) -> None:
    assert "password 'admin'" in g.admin_password(project(tmp_path / "a", env={}))[0].problem
    assert g.admin_password(project(tmp_path / "b", env={"GF_SECURITY_DISABLE_INITIAL_ADMIN_CREATION": "true"})) == []


def test_admin_password_file_must_be_mounted_from_the_deploy(tmp_path: Path) -> None:
    unmounted = project(tmp_path / "a", env={"GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/admin"})
    assert g.admin_password(unmounted) == []        # the wiring check names the missing mount
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "admin").write_text("x")
    shipped = project(tmp_path / "b", env={"GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/admin"},
                      volumes=["./admin:/run/secrets/admin:ro"])
    assert "ships with the compose file" in g.admin_password(shipped)[0].problem
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "admin").write_text("x")
    deployed = project(tmp_path / "c", env={"GF_SECURITY_ADMIN_PASSWORD__FILE": "/run/secrets/admin"},
                       volumes=["${SECRETS}/admin:/run/secrets/admin:ro"])
    assert g.admin_password(deployed) == []


def test_admin_password_and_its_file_together_stop_the_container(tmp_path: Path) -> None:
    conf = project(tmp_path, env={"GF_SECURITY_ADMIN_PASSWORD": SECRET, "GF_SECURITY_ADMIN_PASSWORD__FILE": "/x"})
    assert "refuses that" in g.admin_password(conf)[0].problem


def test_admin_password_in_grafana_ini_must_reference_a_required_variable(tmp_path: Path) -> None:
    literal = project(tmp_path / "a", env={}, ini="[security]\nadmin_password = hunter2\n")
    assert problems(g.admin_password(literal)) == [
        "security.admin_password: it is a literal (7 characters) committed in grafana.ini"]
    optional = project(tmp_path / "b", env={"PW": "${PW_SOURCE:-x}"}, ini="[security]\nadmin_password = $__env{PW}\n")
    assert "does not set as a required" in g.admin_password(optional)[0].problem
    required = project(tmp_path / "c", env={"PW": SECRET}, ini="[security]\nadmin_password = ${PW}\n")
    assert g.admin_password(required) == []


def test_secret_key_absent_is_the_published_default_and_an_ini_one_is_left_to_the_ini_check(tmp_path: Path) -> None:
    (finding,) = g.secret_key(project(tmp_path / "a", env={"GF_SECURITY_ADMIN_PASSWORD": SECRET}))
    assert finding.key == "services.grafana.environment" and "published default key" in finding.problem
    from_ini = project(tmp_path / "b", env={"GF_SECURITY_ADMIN_PASSWORD": SECRET}, ini="[security]\nsecret_key = abc\n")
    assert g.secret_key(from_ini) == [] and [f.key for f in g.ini_secrets(from_ini)] == ["security.secret_key"]


def test_other_secrets_in_grafana_ini_are_named_not_shown(tmp_path: Path) -> None:
    ini = "[database]\npassword = \"\"\"s3cret\"\"\"\nuser = grafana\n[security]\nsecret_key = $__env{KEY}\n"
    found = g.ini_secrets(project(tmp_path, ini=ini))
    assert [(f.key, f.line) for f in found] == [("database.password", 2), ("security.secret_key", 5)]
    assert "s3cret" not in str(found) and "6 characters" in found[0].problem


def test_root_url_must_be_the_public_url_where_nginx_serves_grafana(tmp_path: Path) -> None:
    served = [Address("nginx", Where("nginx.conf", "location /.proxy_pass", 9), "http://grafana:3000", "http",
                      "grafana", 3000, context="/")]
    conf = project(tmp_path, env={"GF_SECURITY_ADMIN_PASSWORD": SECRET, "GF_SERVER_ROOT_URL": "https://obs.example/"})
    assert g.root_url(conf, "https://obs.example", served) == []
    (wrong,) = g.root_url(conf, "https://other.example", served)
    assert "served at https://other.example/" in wrong.problem and "nginx.conf:9" in wrong.problem
    (default,) = g.root_url(project(tmp_path / "b"), "https://obs.example", served)
    assert "root_url is http://localhost:3000/ (unset" in default.problem
    assert "proxies no prefix location" in g.root_url(conf, "https://obs.example", [])[0].problem


# --- provisioning ----------------------------------------------------------------------


def test_the_fixed_provisioning_passes(tmp_path: Path) -> None:
    conf = project(tmp_path)
    checks = (g.provisioning_parses, g.unique_datasources, g.dashboard_providers, g.datasource_references)
    assert [c(conf) for c in checks] == [[], [], [], []]


def test_layout_grafana_cannot_read_is_named(tmp_path: Path) -> None:
    no_version = {"datasources": DATASOURCES["datasources"]}
    no_path = {"apiVersion": 1, "providers": [{"name": "p", "type": "file"}]}
    conf = project(tmp_path, datasources=no_version, providers=no_path, boards={"bad.json": "{\n  nope\n}"})
    assert problems(g.provisioning_parses(conf)) == [
        "apiVersion: no apiVersion: 1: Grafana reads it in the old v0 layout and fails",
        "providers[0]: entry lacks options.path: Grafana refuses the file"]
    conf = project(tmp_path / "b", boards={"bad.json": "{\n  nope\n}"})
    (finding,) = g.provisioning_parses(conf)
    assert (finding.line, finding.problem) == (2, "invalid JSON: Expecting property name enclosed in double quotes")


def test_duplicate_datasource_name_is_named_with_the_first(tmp_path: Path) -> None:
    twins = {"apiVersion": 1, "datasources": [*DATASOURCES["datasources"], {"name": "Loki", "type": "loki", "url": "x"}]}
    (finding,) = g.unique_datasources(project(tmp_path, datasources=twins))
    assert finding.key == "datasources[2].name" and "datasources.yml:3 datasources[0]" in finding.problem


def test_provider_path_without_dashboards_and_dashboards_nobody_reads(tmp_path: Path) -> None:
    elsewhere = {"apiVersion": 1, "providers": [{"name": "p", "options": {"path": "/etc/grafana/dashboards/sub"}}]}
    (tmp_path / "more").mkdir()
    found = g.dashboard_providers(project(tmp_path, providers=elsewhere, volumes=["./more:/etc/grafana/dashboards/sub:ro"]))
    assert "holds no *.json dashboard" in found[0].problem
    assert found[1].file.endswith("b.json") and "read by no dashboard provider" in found[1].problem


def test_dashboard_references_only_provisioned_datasources(tmp_path: Path) -> None:
    board = {**BOARD, "templating": {"list": [{"name": "ds", "type": "datasource", "query": "tempo"}]},
             "panels": [*BOARD["panels"], {"targets": [{"datasource": {"uid": "gone"}}]}]}
    found = g.datasource_references(project(tmp_path, boards={"b.json": board}))
    assert problems(found) == [
        "panels[1].datasource: variable $ds picks a tempo datasource; none is provisioned",
        "panels[4].targets[0].datasource.uid: references datasource 'gone', which nothing provisions: the panel is empty"]
    assert found[1].line is not None
