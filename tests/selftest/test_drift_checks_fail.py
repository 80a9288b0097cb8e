"""The drift checks fail when a deployment runs something other than what the gate approved.

The good stack runs under ``obsgate up`` (``served_stack``, this run's images) and a child gate judges it with
``--target``, as after a deploy, while approving something else: an image it does not run (``--image
prometheus=…:9.9.9`` in the child only), a rule file changed and not deployed, a prometheus.yml changed and not
deployed. Each check fails naming both values; the checks the change does not touch still pass.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from obsgate.stackfiles.compose import tag_version
from tests.selftest.conftest import STACK, ChildRun, Served, failed_or_skip, mount, passed_or_skip

DRIFT = "tests/integration/drift"
PROMETHEUS_CHECKS = ("test_prometheus_loaded_config_matches_stack", "test_prometheus_rule_groups_match_rule_files",
                     "test_prometheus_alertmanagers_discovered_as_configured",
                     "test_prometheus_scrape_targets_match_config")
UNAPPROVED = "standin/prometheus:9.9.9-debian"


def judged(child_gate, served: Served, *selection: str, compose: Path | None = None) -> ChildRun:
    """A child gate judging the served stack with ``--target`` (its credentials from the environment); skipped
    where the served stack lacks a service the drift checks ask (no image here)."""
    served.require("loki", "prometheus", "alertmanager", "nginx")
    return child_gate(*selection, "-m", "gate", compose=compose, extra=served.target_args, env=served.env)


def failure(run: ChildRun, check: str) -> str:
    """The check's whole failure message (its one-line reason is cut short in the reports)."""
    failed_or_skip(run, check)
    return str(run.checks[check]["evidence"]["failure"])


def unchanged(run: ChildRun, *checks: str) -> None:
    for check in checks:
        passed_or_skip(run, check)


def test_drift_checks_pass_on_the_deployment_the_gate_approved(served_stack: Served, child_gate) -> None:
    """No false alarm: the served stack is what the child approves (Grafana's checks: not evaluated, no image)."""
    run = judged(child_gate, served_stack, DRIFT)
    unchanged(run, "test_loki_runs_the_approved_version", "test_prometheus_runs_the_approved_version", *PROMETHEUS_CHECKS)


def test_prometheus_runs_the_approved_version_fails_on_an_image_not_deployed(
        served_stack: Served, child_gate, pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child approves Prometheus 9.9.9 while the target runs this run's Prometheus."""
    images = list(pytestconfig.getoption("image"))
    served = next((i.partition("=")[2] for i in images if i.startswith("prometheus=")), compose_pin("prometheus"))
    monkeypatch.setattr(pytestconfig.option, "image",
                        [i for i in images if not i.startswith("prometheus=")] + [f"prometheus={UNAPPROVED}"])
    run = judged(child_gate, served_stack, f"{DRIFT}/test_drift_versions.py")
    reason = failed_or_skip(run, "test_prometheus_runs_the_approved_version")
    assert f"prometheus: running {tag_version(served)}" in reason, reason
    assert f"--image {UNAPPROVED} is 9.9.9" in reason, reason
    unchanged(run, "test_loki_runs_the_approved_version")


def compose_pin(service: str) -> str:
    """The compose pin of ``service`` (the image ``obsgate up`` runs without an override)."""
    return str(yaml.safe_load((STACK / "docker-compose.yml").read_text())["services"][service]["image"])


def test_prometheus_rule_groups_match_rule_files_fails_on_a_rule_not_deployed(
        served_stack: Served, child_gate, variant, tmp_path: Path) -> None:
    """A rule added to stack.yml and TargetDown's ``for`` raised, in the approved copy only."""
    rules = tmp_path / "rules"
    shutil.copytree(STACK / "prometheus" / "rules", rules)
    text = (rules / "stack.yml").read_text()
    added = "      - alert: GateDriftProbe\n        expr: vector(1) == 2\n        for: 1m\n"
    assert "    rules:\n" in text and "expr: up == 0\n        for: 1m" in text, "variant edit does not apply any more"
    text = text.replace("    rules:\n", "    rules:\n" + added, 1).replace("expr: up == 0\n        for: 1m",
                                                                          "expr: up == 0\n        for: 3m", 1)
    (rules / "stack.yml").write_text(text)
    run = judged(child_gate, served_stack, f"{DRIFT}/test_drift_prometheus.py",
                 compose=variant(mount("prometheus", "/etc/prometheus/rules", rules)))
    reason = failure(run, "test_prometheus_rule_groups_match_rule_files")
    assert "rule 'GateDriftProbe' is in the file but not loaded" in reason, reason
    assert "rule 'TargetDown' for: running 60s, the file has 180s" in reason, reason
    unchanged(run, *(c for c in PROMETHEUS_CHECKS if c != "test_prometheus_rule_groups_match_rule_files"))


def test_prometheus_config_checks_fail_on_a_prometheus_yml_not_deployed(
        served_stack: Served, child_gate, variant, tmp_path: Path) -> None:
    """prometheus.yml approved with Loki's target and the Alertmanager moved; the target runs the old file."""
    text = (STACK / "prometheus" / "prometheus.yml").read_text()
    for old in ('targets: ["loki:3100"]', 'targets: ["alertmanager:9093"]\n\nrule_files'):
        assert old in text, f"variant edit does not apply any more: {old!r}"
    conf = tmp_path / "prometheus.yml"
    conf.write_text(text.replace('targets: ["loki:3100"]', 'targets: ["loki-new:3100"]')
                    .replace('targets: ["alertmanager:9093"]\n\nrule_files', 'targets: ["am-new:9093"]\n\nrule_files'))
    run = judged(child_gate, served_stack, f"{DRIFT}/test_drift_prometheus.py",
                 compose=variant(mount("prometheus", "/etc/prometheus/prometheus.yml", conf)))
    loaded = failure(run, "test_prometheus_loaded_config_matches_stack")
    assert f"job 'loki' targets: running [loki:3100], {conf} has [loki-new:3100]" in loaded, loaded
    assert (f"alerting.alertmanagers: running [http://alertmanager:9093/api/v2/alerts], {conf} has "
            "[http://am-new:9093/api/v2/alerts]") in loaded, loaded
    targets = failure(run, "test_prometheus_scrape_targets_match_config")
    assert "job 'loki' target loki-new:3100 is configured but not scraped" in targets, targets
    assert f"job 'loki' target loki:3100 is scraped but not in {conf}" in targets, targets
    discovered = failure(run, "test_prometheus_alertmanagers_discovered_as_configured")
    assert (f"Prometheus sends to [http://alertmanager:9093/api/v2/alerts], {conf} names "
            "[http://am-new:9093/api/v2/alerts]") in discovered, discovered
    unchanged(run, "test_prometheus_rule_groups_match_rule_files")
