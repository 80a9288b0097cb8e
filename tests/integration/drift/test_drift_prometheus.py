"""Prometheus runs the approved config: its loaded config, its rule groups, the Alertmanagers it sends to and
the targets it scrapes, each through nginx, against stack/prometheus as the compose file mounts it.

A file changed in git but not deployed (or not reloaded) fails here naming both values; the judging is
obsgate.checks.drift (unit-tested with recorded answers).
"""

from __future__ import annotations

import pytest

from obsgate.checks import drift
from obsgate.clients import PrometheusAPI
from obsgate.core.recorder import GateRecorder
from obsgate.stackfiles.prometheus import PrometheusConfig


@pytest.mark.gate(category="Configuration", weight=2)
def test_prometheus_loaded_config_matches_stack(read_prometheus: PrometheusAPI, prometheus_config: PrometheusConfig,
                                                gate: GateRecorder) -> None:
    """GET /api/v1/status/config: jobs, targets, rule_files, Alertmanagers and intervals as prometheus.yml says."""
    loaded = PrometheusConfig.loaded(read_prometheus.loaded_config(), prometheus_config.spec)
    gate.evidence["jobs"] = loaded.jobs()
    problems = drift.loaded_config_problems(prometheus_config, loaded)
    assert not problems, drift.explained(problems, drift.CONFIG_FIX)


@pytest.mark.gate(category="Configuration", weight=2)
def test_prometheus_rule_groups_match_rule_files(read_prometheus: PrometheusAPI,
                                                 prometheus_config: PrometheusConfig, gate: GateRecorder) -> None:
    """GET /api/v1/rules: the groups and rules (expr, for, labels) of the approved rule files, no more, no less."""
    loaded = read_prometheus.rule_definitions()
    gate.evidence["groups"] = {g.name: [r.name for r in g.rules] for g in loaded}
    problems = drift.rule_group_problems(prometheus_config, loaded)
    assert not problems, drift.explained(problems, drift.RULES_FIX)


@pytest.mark.gate(category="Configuration", weight=1)
def test_prometheus_alertmanagers_discovered_as_configured(read_prometheus: PrometheusAPI,
                                                           prometheus_config: PrometheusConfig,
                                                           gate: GateRecorder) -> None:
    """GET /api/v1/alertmanagers: alerts go to the configured Alertmanagers, discovered and active."""
    active = read_prometheus.alertmanagers()
    gate.evidence["active"] = active
    problems = drift.alertmanager_problems(prometheus_config, active)
    assert not problems, drift.explained(problems, drift.CONFIG_FIX)


@pytest.mark.gate(category="Configuration", weight=1)
def test_prometheus_scrape_targets_match_config(read_prometheus: PrometheusAPI,
                                                prometheus_config: PrometheusConfig, gate: GateRecorder) -> None:
    """GET /api/v1/targets: Prometheus scrapes exactly the configured targets."""
    active = read_prometheus.targets()
    gate.evidence["active"] = sorted(f"{t.job} {t.scrape_url}" for t in active)
    problems = drift.target_problems(prometheus_config, active)
    assert not problems, drift.explained(problems, drift.CONFIG_FIX)
