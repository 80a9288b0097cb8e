"""The alerting and monitoring-the-monitor checks fail, naming the cause, on broken variants.

Two child runs: a prometheus.yml that scrapes Alertmanager on a wrong port and whose
rule_files glob no longer matches the shipped rule files; and an alertmanager.yml whose
Slack receivers post to an address where nothing listens (the receiver unreachable), which
both the test alert (overlay stack) and the real LokiDown alert must run into. The LokiDown
part needs Loki and skips where it cannot run. Grafana's provisioning checks cannot run
here: their logic is proven in tests/unit/test_grafana_checks.py.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.selftest.conftest import STACK, Compose, failed_or_skip, mount, only, passed_or_skip

ALERTING = "tests/integration/alerting"
MONITOR, DELIVERY = f"{ALERTING}/test_alerting_monitor.py", f"{ALERTING}/test_alerting_notifications.py"
UNREACHABLE = "http://127.0.0.1:9/unreachable-slack-webhook"    # inside the Alertmanager container


@pytest.fixture
def readable() -> Iterator[Path]:
    """A directory Prometheus' and Alertmanager's unprivileged users can read (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="obsgate-selftest-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o644)
    return path


def test_target_and_rule_checks_fail_on_a_broken_prometheus_config(variant, child_gate, readable: Path) -> None:
    config = yaml.safe_load((STACK / "prometheus" / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        if job["job_name"] == "alertmanager":
            job["static_configs"] = [{"targets": ["alertmanager:9094"]}]
    config["rule_files"] = ["/etc/prometheus/rules/*.rules"]
    path = write(readable / "prometheus.yml", config)

    def broken(doc: Compose) -> None:
        only("prometheus", "alertmanager", "grafana")(doc)
        mount("prometheus", "/etc/prometheus/prometheus.yml", path)(doc)

    run = child_gate(f"{MONITOR}::test_prometheus_scrapes_stack_target", f"{MONITOR}::test_prometheus_runs_every_shipped_rule",
                     compose=variant(broken))
    assert "alertmanager:9094" in failed_or_skip(run, "test_prometheus_scrapes_stack_target[alertmanager]")
    assert "connection refused" in run.checks["test_prometheus_scrapes_stack_target[alertmanager]"]["evidence"]["failure"]
    passed_or_skip(run, "test_prometheus_scrapes_stack_target[prometheus]")
    if run.checks["test_prometheus_scrapes_stack_target[grafana]"]["outcome"] != "passed":
        # A target whose service cannot run here is not evaluated, never failed.
        assert run.outcome("test_prometheus_scrapes_stack_target[grafana]") == "not_evaluated"
    assert "missing (group, rule)" in failed_or_skip(run, "test_prometheus_runs_every_shipped_rule")


def test_delivery_checks_fail_when_the_receiver_is_unreachable(variant, child_gate, readable: Path) -> None:
    config = yaml.safe_load((STACK / "alertmanager" / "alertmanager.yml").read_text())
    config["global"].pop("slack_api_url_file", None)
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url_file", None)
            slack["api_url"] = UNREACHABLE
    path = write(readable / "alertmanager.yml", config)

    def broken(doc: Compose) -> None:
        only("prometheus", "alertmanager", "loki")(doc)
        mount("alertmanager", "/etc/alertmanager/alertmanager.yml", path)(doc)

    run = child_gate(f"{DELIVERY}::test_test_alert_reaches_critical_receiver",
                     f"{DELIVERY}::test_loki_down_alert_reaches_receiver", compose=variant(broken))
    reason = failed_or_skip(run, "test_test_alert_reaches_critical_receiver")
    assert "timed out" in reason and "ObsGateTestAlert at the Slack receiver" in reason
    assert "LokiDown at the Slack receiver" in failed_or_skip(run, "test_loki_down_alert_reaches_receiver")
