"""The timeout chains of the proxied paths, judged on copies of the shipped stack (no containers).

Each test edits one file of a copy of stack/ (nginx.conf, loki.yml, datasources.yml or the
compose file) and checks which pair of timeouts the judgement names, with both numbers and
where they are set; the parsers of nginx times and Loki's query timeout by version too.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from obsgate.checks.static import timeouts
from obsgate.core.errors import NotEvaluated
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles import loki
from obsgate.stackfiles.compose import load_compose
from obsgate.stackfiles.grafana import datasource_timeout
from obsgate.stackfiles.nginx import time_s
from obsgate.stackfiles.project import ProjectFiles

ROOT = Path(__file__).resolve().parents[2]
Edit = tuple[str, str, str]     # (file under stack/, old text, new text)


@pytest.fixture
def stack(tmp_path: Path) -> Callable[..., ProjectFiles]:
    """The shipped stack's files, each (old, new) edit applied to its copy."""

    def make(*edits: Edit) -> ProjectFiles:
        copy = tmp_path / "stack"
        shutil.copytree(ROOT / "stack", copy, dirs_exist_ok=True)
        for relative, old, new in edits:
            path = copy / relative
            text = path.read_text()
            assert old in text, f"edit does not apply to {relative}: {old!r}"
            path.write_text(text.replace(old, new))
        secrets = tmp_path / "secrets"
        for sub in ("nginx", "alertmanager"):
            (secrets / sub).mkdir(parents=True, exist_ok=True)
        env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y",
               "OBS_PUBLIC_URL": "https://obs.example"}
        return ProjectFiles(load_compose(copy / "docker-compose.yml", env))

    return make


def problems(paths: list[timeouts.RequestPath]) -> list[str]:
    return [f"{f.key}: {f.problem}" for f in timeouts.contradictions(paths)]


# --- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("75", 75), ("1h", 3600), ("500ms", 0.5),
                                               ("1h 30m", 5400), ("1m30s", 90), ("1d", 86400), ("1M", 2592000)])
def test_nginx_times_read_as_ngx_parse_time_does(text: str, seconds: float) -> None:
    assert time_s(text) == seconds


@pytest.mark.parametrize("text", ["", "30x", "1s 1h", "30 1s", "1m 1m"])
def test_nginx_times_nginx_refuses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an nginx time"):
        time_s(text)


def test_loki_2x_takes_a_one_minute_query_timeout_as_unset_and_applies_the_engine_timeout() -> None:
    one_minute = YamlDoc.parse("limits_config:\n  query_timeout: 60s\n", "loki.yml")
    assert loki.query_timeout_key(one_minute, (2, 9, 3)) == "querier.engine.timeout"
    assert loki.query_timeout_key(YamlDoc.parse("{}", "loki.yml"), (2, 9, 3)) == "querier.engine.timeout"
    assert loki.query_timeout_key(one_minute, (3, 4, 6)) == "limits_config.query_timeout"
    assert loki.query_timeout_key(YamlDoc.parse("limits_config:\n  query_timeout: 45s\n", "l"), (2, 9, 3)) \
        == "limits_config.query_timeout"


@pytest.mark.parametrize(("json_data", "seconds"), [({"timeout": 60}, 60), ({"timeout": "90"}, 90), ({"timeout": 0}, None),
                                                    ({"timeout": "1m"}, None), ({}, None), (None, None)])
def test_datasource_timeout_as_grafana_reads_it(json_data: dict | None, seconds: int | None) -> None:
    assert datasource_timeout({"jsonData": json_data} if json_data is not None else {}) == seconds


# --- today's stack ------------------------------------------------------------------------------


def test_todays_stack_has_every_path_and_no_contradiction(stack) -> None:
    files = stack()
    paths = (timeouts.push_paths(files) + timeouts.read_paths(files) + timeouts.tail_paths(files)
             + timeouts.prometheus_paths(files) + timeouts.grafana_paths(files))
    assert [p.name.split(" (")[0] for p in paths] == [
        "push path /loki/api/v1/push",
        "read path /loki/api/v1/query, /loki/api/v1/query_range, /loki/api/v1/labels, /loki/api/v1/series",
        "tail path /loki/api/v1/tail", "Prometheus path /prometheus/api/v1/query_range",
        "Grafana path /api/ds/query -> datasource 'Loki'", "Grafana path /api/ds/query -> datasource 'Prometheus'"]
    assert problems(paths) == []
    read = timeouts.read_paths(files)[0].shown()
    assert "limits_config.query_timeout 45s" in read[0] and "server.http_server_write_timeout 70s" in read[0]
    assert "nginx proxy_read_timeout 75s" in read[1] and "location ~ ^/loki/api/v1/" in read[1]


# --- each link, broken ------------------------------------------------------------------------


def test_inherited_nginx_timeout_is_named_at_the_block_that_sets_it(stack) -> None:
    files = stack(("nginx/nginx.conf", "            proxy_read_timeout 30s;\n            proxy_send_timeout 75s;\n",
                   "            proxy_send_timeout 75s;\n"),
                  ("nginx/nginx.conf", "    proxy_read_timeout 60s;\n", "    proxy_read_timeout 4s;\n"))
    found = problems(timeouts.push_paths(files))
    assert len(found) == 1
    assert found[0].startswith("http proxy_read_timeout: push path /loki/api/v1/push")
    assert "nginx proxy_read_timeout 4s" in found[0] and "fires before Loki ingester_client.remote_timeout 5s" in found[0]


def test_unset_nginx_timeout_is_nginx_default_and_equal_values_race(stack) -> None:
    files = stack(("nginx/nginx.conf", "    proxy_send_timeout 60s;\n", ""),
                  ("nginx/nginx.conf", "            proxy_send_timeout 75s;\n", ""),
                  ("loki/loki.yml", "http_server_read_timeout: 70s", "http_server_read_timeout: 60s"))
    found = problems(timeouts.push_paths(files))
    assert len(found) == 1
    assert "nginx proxy_send_timeout 60s (unset at" in found[0] and "nginx default 60s" in found[0]
    assert "fires together with Loki server.http_server_read_timeout 60s" in found[0]


def test_unset_loki_server_timeouts_are_lokis_30s_default(stack) -> None:
    files = stack(("loki/loki.yml", "  http_server_read_timeout: 70s\n  http_server_write_timeout: 70s\n", ""))
    found = problems(timeouts.read_paths(files))
    assert len(found) == 1
    assert "Loki server.http_server_write_timeout 30s (unset at" in found[0] and "Loki default 30s" in found[0]
    assert "fires before Loki limits_config.query_timeout 45s" in found[0]


def test_loki_2x_one_minute_query_timeout_is_judged_as_the_engines_five_minutes(stack) -> None:
    files = stack(("loki/loki.yml", "query_timeout: 45s", "query_timeout: 1m"))
    found = problems(timeouts.read_paths(files))
    assert len(found) == 1
    assert "fires before Loki querier.engine.timeout (2.x: limits_config.query_timeout of 1m counts as unset) 5m (= 300s)" \
        in found[0]


def test_prometheus_query_timeout_from_the_command_line(stack) -> None:
    files = stack(("docker-compose.yml", "      - --web.route-prefix=/\n",
                   "      - --web.route-prefix=/\n      - --query.timeout=3m\n"))
    found = problems(timeouts.prometheus_paths(files)) + problems(timeouts.grafana_paths(files))
    assert len(found) == 2
    assert "nginx proxy_read_timeout 130s" in found[0] and "Prometheus --query.timeout 3m (= 180s) (" in found[0]
    assert "services.prometheus.command" in found[0]
    assert "jsonData.timeout 130s" in found[1] and "fires before Prometheus --query.timeout 3m" in found[1]


def test_grafana_without_datasource_timeout_waits_its_dataproxy_default_or_the_env(stack) -> None:
    files = stack(("grafana/provisioning/datasources/datasources.yml", "      timeout: 60\n", ""))
    found = problems(timeouts.grafana_paths(files))
    assert len(found) == 1 and "datasource 'Loki' via [dataproxy] timeout 30s (unset at" in found[0]
    assert "Grafana default 30s" in found[0] and "fires before Loki limits_config.query_timeout 45s" in found[0]
    env = stack(("grafana/provisioning/datasources/datasources.yml", "      timeout: 60\n", ""),
                ("docker-compose.yml", "      GF_LOG_LEVEL: info\n",
                 "      GF_LOG_LEVEL: info\n      GF_DATAPROXY_TIMEOUT: \"50\"\n"))
    assert problems(timeouts.grafana_paths(env)) == []


def test_grafana_path_is_not_evaluated_while_its_provisioning_cannot_be_read(stack) -> None:
    files = stack(("grafana/provisioning/datasources/datasources.yml", "apiVersion: 1", "apiVersion: [1"))
    with pytest.raises(NotEvaluated, match=r"\(see test_grafana_provisioning_files_parse\)"):
        timeouts.grafana_paths(files)


def test_a_path_nginx_does_not_proxy_has_no_chain(stack) -> None:
    files = stack(("nginx/nginx.conf", "        location = /loki/api/v1/tail {\n",
                   "        location = /loki/api/v1/tail {\n            return 403;\n"))
    assert timeouts.tail_paths(files) == []       # `return` ends the request before proxy_pass


def test_running_values_replace_the_files_lokis_and_prometheus(stack) -> None:
    files = stack()
    text = (ROOT / "stack" / "loki" / "loki.yml").read_text().replace("http_server_write_timeout: 70s",
                                                                       "http_server_write_timeout: 1m20s")
    running = timeouts.Running(loki.effective(text, "loki"), {"query.timeout": "2m20s"})
    found = problems(timeouts.all_paths(files, running))
    assert len(found) == 3, found
    assert "nginx proxy_read_timeout 75s" in found[0] and "Loki server.http_server_write_timeout 1m20s (= 80s) " \
        "(GET /config of loki:" in found[0]
    assert "nginx proxy_read_timeout 130s" in found[1] and "Prometheus --query.timeout 2m20s (= 140s) " \
        "(GET /api/v1/status/flags of prometheus query.timeout)" in found[1]
    assert "datasource 'Prometheus' jsonData.timeout 130s" in found[2]


def test_a_value_that_is_no_duration_is_not_evaluated_and_names_the_check_that_fails(stack) -> None:
    files = stack(("loki/loki.yml", "http_server_write_timeout: 70s", "http_server_write_timeout: seventy"))
    with pytest.raises(NotEvaluated, match=r"'seventy' is not a duration \(see test_loki_accepts_its_config\)"):
        timeouts.read_paths(files)
    nginx = stack(("nginx/nginx.conf", "proxy_read_timeout 1h;", "proxy_read_timeout 1x;"))
    with pytest.raises(NotEvaluated, match=r"'1x' is not a duration \(see test_nginx_accepts_its_config\)"):
        timeouts.tail_paths(nginx)
