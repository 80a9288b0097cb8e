"""The readiness checks fail, naming the cause, when a service cannot come up."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsgate.run import GateRun
from tests.selftest.conftest import STACK, Compose, failed_or_skip, only

READY = "tests/integration/test_services_ready.py"


def test_prometheus_ready_fails_when_prometheus_rejects_its_flags(variant, child_gate) -> None:
    def broken(doc: Compose) -> None:
        only("prometheus")(doc)
        doc["services"]["prometheus"]["command"].append("--no-such.flag")

    run = child_gate(f"{READY}::test_prometheus_is_ready", compose=variant(broken))
    assert "prometheus exited" in failed_or_skip(run, "test_prometheus_is_ready")


def test_nginx_ready_fails_when_its_certificate_is_missing(variant, child_gate, tmp_path: Path) -> None:
    empty = tmp_path / "no-secrets"
    empty.mkdir()

    def broken(doc: Compose) -> None:
        only("nginx")(doc)
        doc["services"]["nginx"]["volumes"] = [
            v if "secrets" not in v else f"{empty}:/etc/nginx/secrets:ro" for v in doc["services"]["nginx"]["volumes"]
        ]

    run = child_gate(f"{READY}::test_nginx_is_ready", compose=variant(broken))
    reason = failed_or_skip(run, "test_nginx_is_ready")
    assert "nginx exited" in reason
    assert "server.crt" in run.checks["test_nginx_is_ready"]["evidence"]["failure"]


def test_alertmanager_ready_fails_when_healthcheck_never_passes(variant, child_gate) -> None:
    def broken(doc: Compose) -> None:
        only("alertmanager")(doc)
        hc = doc["services"]["alertmanager"]["healthcheck"]
        hc["test"] = ["CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:9999/-/ready"]
        hc.update(interval="1s", retries=2, start_period="2s", timeout="1s")

    run = child_gate(f"{READY}::test_alertmanager_is_ready", compose=variant(broken))
    reason = failed_or_skip(run, "test_alertmanager_is_ready")
    assert "timed out" in reason and "alertmanager healthcheck" in reason


@pytest.mark.parametrize(
    ("test", "named"),
    [
        (["CMD", "no-such-probe", "http://127.0.0.1:9093/-/ready"], "probe `no-such-probe` is not in the image"),
        (["CMD-SHELL", "kill -SEGV $$$$"], "probe `kill` exited 139 (crashed: SIGSEGV)"),  # $$ is compose's literal $
    ],
    ids=["missing", "crashing"],
)
def test_a_probe_that_cannot_run_is_named_as_the_probe_not_a_timeout(variant, child_gate, test, named) -> None:
    def broken(doc: Compose) -> None:
        only("alertmanager")(doc)
        doc["services"]["alertmanager"]["healthcheck"]["test"] = test

    run = child_gate(f"{READY}::test_alertmanager_is_ready", compose=variant(broken))
    reason = failed_or_skip(run, "test_alertmanager_is_ready")
    assert "alertmanager: healthcheck cannot run in " in reason and named in reason, reason
    assert "timed out" not in reason


def test_loki_ready_fails_when_its_config_has_an_unknown_key(variant, child_gate, tmp_path: Path) -> None:
    config = tmp_path / "loki.yml"
    config.write_text((STACK / "loki" / "loki.yml").read_text() + "\nno_such_section: {}\n")

    def broken(doc: Compose) -> None:
        only("loki")(doc)
        doc["services"]["loki"]["volumes"][0] = f"{config}:/etc/loki/loki.yml:ro"

    run = child_gate(f"{READY}::test_loki_is_ready", compose=variant(broken))
    reason = failed_or_skip(run, "test_loki_is_ready")
    assert "loki exited" in reason
    assert "no_such_section" in run.checks["test_loki_is_ready"]["evidence"]["failure"]


# What Grafana 10.2 answers on /api/health when it cannot use its database (pkg/api/health.go: 503, "failing").
GRAFANA_DB_FAILING = '{"commit": "1e84fede54", "database": "failing", "version": "10.2.3"}'


def test_grafana_ready_fails_when_grafana_reports_its_database_failing(variant, child_gate, readable: Path,
                                                                       gate_run: GateRun) -> None:
    """No Grafana image runs here, so Grafana is played by the run's nginx image answering its recorded
    /api/health for a failing database; the readiness judgement (the compose healthcheck, from the host) is the
    production one, only polled faster: test_grafana_is_ready must fail quoting that answer."""
    nginx = gate_run.image_choices()["nginx"]
    if not nginx.available:
        pytest.skip(f"nginx, which plays Grafana here: {nginx.reason}")
    conf = readable / "grafana-health.conf"
    conf.write_text("events {}\nhttp {\n  server {\n    listen 3000;\n    location = /api/health {\n"
                    f"      default_type application/json;\n      return 503 '{GRAFANA_DB_FAILING}';\n    }}\n  }}\n}}\n")
    conf.chmod(0o644)

    def broken(doc: Compose) -> None:
        only("grafana")(doc)
        grafana = doc["services"]["grafana"]
        doc["services"]["grafana"] = {
            "image": nginx.ref, "volumes": [f"{conf}:/etc/nginx/nginx.conf:ro"], "expose": grafana["expose"],
            "networks": grafana["networks"],
            "healthcheck": {**grafana["healthcheck"], "interval": "1s", "retries": 3, "start_period": "2s", "timeout": "1s"}}

    run = child_gate(f"{READY}::test_grafana_is_ready", compose=variant(broken))
    reason = failed_or_skip(run, "test_grafana_is_ready")
    assert "grafana: timed out" in reason and "grafana healthcheck: GET http://" in reason, reason
    assert f"/api/health answered 503 {GRAFANA_DB_FAILING}" in reason + run.checks["test_grafana_is_ready"]["evidence"].get(
        "failure", ""), reason
    assert run.checks["test_grafana_is_ready"]["blocker"]
