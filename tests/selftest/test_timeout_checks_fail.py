"""Each timeout-chain check fails on a variant that breaks one link of its path, naming both numbers.

Every variant is stack/docker-compose.yml with one mounted file copied from stack/ and edited
(nginx.conf, loki.yml or Grafana's datasources), run through the whole static set in a child
pytest: the one check of that path fails and every other static check passes; no container
starts for those. The live check is shown catching what no file says (a flag in Loki's command);
it needs a Loki image and skips with the child's reason where there is none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.selftest.conftest import (
    NGINX_CONF,
    STACK,
    ChildRun,
    Compose,
    edit_push_location,
    failed_or_skip,
    mount,
    nginx_conf,
    only,
)
from tests.selftest.test_static_checks_fail import STATIC, edited, only_failure, yaml_edit

CHAINS = "tests/config/test_timeout_chains.py"
READ_LOCATION_TIMEOUT = ("            # Loki: query_timeout 45s < http_server_write_timeout 70s < this.\n"
                         "            proxy_read_timeout 75s;\n")


@pytest.fixture
def static_run(variant, child_gate) -> Callable[[Callable[[Compose], None]], ChildRun]:
    """The static set on a variant of the stack."""
    return lambda mutate: child_gate(*STATIC, compose=variant(mutate))


def with_conf(tmp_path: Path, *edits: tuple[str, str]) -> Callable[[Compose], None]:
    return mount("nginx", NGINX_CONF, nginx_conf(tmp_path, *edits))


def loki_edit(tmp_path: Path, section: str, key: str, value: str) -> Callable[[Compose], None]:
    def change(doc: dict) -> None:
        doc[section][key] = value

    return mount("loki", "/etc/loki/loki.yml", edited(tmp_path, STACK / "loki" / "loki.yml", yaml_edit("", change)))


def test_timeout_checks_pass_on_the_fixed_stack(child_gate) -> None:
    run = child_gate(CHAINS)
    assert run.checks and all(c["outcome"] == "passed" for c in run.checks.values()), run.output[-3000:]
    assert "test_grafana_path_datasource_timeouts_fire_in_order" in run.checks
    assert any("proxy_read_timeout 75s" in line for line in
               run.checks["test_read_and_tail_paths_let_loki_answer_before_nginx"]["evidence"]["chains"])


def test_push_read_timeout_below_lokis_own_push_deadline_is_flagged(static_run, tmp_path: Path) -> None:
    run = static_run(with_conf(tmp_path, edit_push_location("proxy_read_timeout 30s;", "proxy_read_timeout 3s;")))
    reason = only_failure(run, "test_push_path_timeouts_let_loki_answer_before_nginx")
    assert "location = /loki/api/v1/push proxy_read_timeout: push path /loki/api/v1/push" in reason
    assert "nginx proxy_read_timeout 3s" in reason and "fires before Loki ingester_client.remote_timeout 5s" in reason
    assert "Loki default 5s" in reason


def test_push_body_cut_by_nginx_before_loki_reads_it_is_flagged(static_run, tmp_path: Path) -> None:
    run = static_run(loki_edit(tmp_path, "server", "http_server_read_timeout", "90s"))
    reason = only_failure(run, "test_push_path_timeouts_let_loki_answer_before_nginx")
    assert "nginx proxy_send_timeout 75s" in reason and "Loki server.http_server_read_timeout 90s" in reason
    assert "loki.yml:" in reason


def test_read_path_nginx_below_lokis_write_timeout_is_flagged(static_run, tmp_path: Path) -> None:
    run = static_run(with_conf(tmp_path, (READ_LOCATION_TIMEOUT, "            proxy_read_timeout 50s;\n")))
    reason = only_failure(run, "test_read_and_tail_paths_let_loki_answer_before_nginx")
    assert "read path /loki/api/v1/query, /loki/api/v1/query_range" in reason
    assert "nginx proxy_read_timeout 50s" in reason and "fires before Loki server.http_server_write_timeout 70s" in reason
    assert "raise nginx proxy_read_timeout above 70s" in reason


def test_read_path_query_timeout_above_lokis_write_timeout_is_flagged(static_run, tmp_path: Path) -> None:
    run = static_run(loki_edit(tmp_path, "server", "http_server_write_timeout", "40s"))
    reason = only_failure(run, "test_read_and_tail_paths_let_loki_answer_before_nginx")
    assert "Loki server.http_server_write_timeout 40s" in reason
    assert "fires before Loki limits_config.query_timeout 45s" in reason


def test_tail_timeout_shorter_than_lokis_ping_is_flagged(static_run, tmp_path: Path) -> None:
    tail = "location = /loki/api/v1/tail {"
    text = (STACK / "nginx" / "nginx.conf").read_text()
    block = text[text.index(tail):text.index("\n        }\n", text.index(tail))]
    run = static_run(with_conf(tmp_path, (block, block.replace("proxy_read_timeout 1h;", "proxy_read_timeout 500ms;"))))
    reason = only_failure(run, "test_read_and_tail_paths_let_loki_answer_before_nginx")
    assert "nginx proxy_read_timeout 500ms (= 0.5s)" in reason and "Loki tail websocket ping interval 1s" in reason


def test_prometheus_location_below_the_default_query_timeout_is_flagged(static_run, tmp_path: Path) -> None:
    old = "            proxy_read_timeout 130s;   # Prometheus default query timeout is 2m\n"
    run = static_run(with_conf(tmp_path, (old, "            proxy_read_timeout 90s;\n")))
    reason = only_failure(run, "test_prometheus_path_query_timeout_fires_before_nginx")
    assert "nginx proxy_read_timeout 90s" in reason and "Prometheus --query.timeout 2m (= 120s)" in reason
    assert "Prometheus default 2m" in reason


def test_grafana_datasource_timeout_below_lokis_query_timeout_is_flagged(static_run, tmp_path: Path) -> None:
    def shorter(doc: dict) -> None:
        doc["datasources"][0]["jsonData"]["timeout"] = 30

    provisioning = edited(tmp_path, STACK / "grafana" / "provisioning", yaml_edit("datasources/datasources.yml", shorter))
    run = static_run(mount("grafana", "/etc/grafana/provisioning", provisioning))
    reason = only_failure(run, "test_grafana_path_datasource_timeouts_fire_in_order")
    assert "datasource 'Loki'" in reason and "jsonData.timeout 30s" in reason
    assert "fires before Loki limits_config.query_timeout 45s" in reason


# --- the live check: what runs, not what the file says -----------------------------------------

LIVE = "tests/integration/edge/test_edge_timeouts.py"


def test_running_check_catches_a_command_line_flag_the_files_do_not_show(variant, child_gate) -> None:
    """Loki's command overrides its file's write timeout: the static read check passes, the live one fails."""
    def flag(doc: Compose) -> None:
        only("loki", "prometheus", "nginx")(doc)
        doc["services"]["loki"]["command"] = [*doc["services"]["loki"]["command"], "-server.http-write-timeout=40s"]

    run = child_gate(LIVE, f"{CHAINS}::test_read_and_tail_paths_let_loki_answer_before_nginx", compose=variant(flag))
    failed_or_skip(run, "test_running_timeouts_fire_innermost_first")
    reason = "\n".join(run.checks["test_running_timeouts_fire_innermost_first"]["evidence"]["findings"])
    assert "Loki server.http_server_write_timeout 40s (GET /config of loki:" in reason
    assert "fires before Loki limits_config.query_timeout 45s (GET /config of loki:" in reason
    assert run.outcome("test_read_and_tail_paths_let_loki_answer_before_nginx") == "passed"
