"""Each config accepted by the real program, run from the service's own image (one-off containers).

Seed P0-1 "Loki config not tested": a config that looks right can be rejected, or silently
ignored, by the version actually deployed. Images are the compose pins or --image
overrides; a service whose image is not available here is not evaluated.
"""

import pytest

from obsgate.bringup.oneoff import image_for
from obsgate.checks import acceptance
from obsgate.checks.acceptance import Acceptance, LokiStart
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun


def _accepted(result: Acceptance, gate: GateRecorder) -> None:
    gate.evidence.update(result.evidence)
    require_none(result.findings, gate)


@pytest.mark.gate(category="Configuration", weight=3)
def test_loki_accepts_its_config(gate_run: GateRun, stack_files: StackFiles, gate: GateRecorder) -> None:
    """`loki -verify-config`: unknown, removed or invalid keys stop Loki at start-up."""
    _accepted(acceptance.loki_verify_config(gate_run, image_for(gate_run, "loki"), stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=3)
def test_loki_starts_ready_with_its_config(loki_started: LokiStart, stack_files: StackFiles, gate: GateRecorder) -> None:
    """Some config errors only show when the modules start (rings, stores, directories)."""
    _accepted(acceptance.loki_ready(loki_started, stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_loki_starts_without_config_warnings(loki_started: LokiStart, gate: GateRecorder) -> None:
    """Deprecation warnings today are start-up failures after the next upgrade."""
    _accepted(acceptance.loki_startup_log(loki_started), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_loki_effective_config_meets_policy(
    loki_started: LokiStart, stack_files: StackFiles, policy: Policy, gate: GateRecorder
) -> None:
    """GET /config: retention, limits and compactor as the running Loki really applies them."""
    _accepted(acceptance.loki_effective_config(loki_started, stack_files, policy), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_prometheus_accepts_its_config(gate_run: GateRun, stack_files: StackFiles, gate: GateRecorder) -> None:
    """`promtool check config`: the config and the rule files it names load."""
    _accepted(acceptance.promtool_check_config(gate_run, image_for(gate_run, "prometheus"), stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_prometheus_rule_files_pass_promtool_check(gate_run: GateRun, stack_files: StackFiles, gate: GateRecorder) -> None:
    """`promtool check rules` on every rule file: syntax, PromQL, duplicate groups."""
    _accepted(acceptance.promtool_check_rules(gate_run, image_for(gate_run, "prometheus"), stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_alert_rules_pass_their_promtool_tests(gate_run: GateRun, stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed P1-2: each alert fires on synthetic series when it should and stays silent otherwise."""
    _accepted(acceptance.promtool_test_rules(gate_run, image_for(gate_run, "prometheus"), stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_alertmanager_accepts_its_config(gate_run: GateRun, stack_files: StackFiles, gate: GateRecorder) -> None:
    """`amtool check-config`: a misspelt key stops Alertmanager, and with it every alert."""
    _accepted(acceptance.amtool_check_config(gate_run, image_for(gate_run, "alertmanager"), stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_alertmanager_routes_alerts_by_severity(gate_run: GateRun, stack_files: StackFiles, gate: GateRecorder) -> None:
    """`amtool config routes test`: critical and warning alerts reach their intended receivers."""
    _accepted(acceptance.amtool_routes(gate_run, image_for(gate_run, "alertmanager"), stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=3)
def test_nginx_accepts_its_config(gate_run: GateRun, stack_files: StackFiles, gate: GateRecorder) -> None:
    """`nginx -t` with this run's certificates and htpasswd files: nginx would not start otherwise."""
    _accepted(acceptance.nginx_test(gate_run, image_for(gate_run, "nginx"), stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_grafana_provisioning_loads_without_errors(
    gate_run: GateRun, stack_files: StackFiles, policy: Policy, gate: GateRecorder
) -> None:
    """Seed P1-1: a provisioning file Grafana cannot load only shows as level=error in its log."""
    image = image_for(gate_run, "grafana")
    _accepted(acceptance.grafana_provisioning(gate_run, image, stack_files, policy), gate)
