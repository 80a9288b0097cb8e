"""Static policy on the compose file as written (before interpolation): no containers, milliseconds."""

import pytest

from obsgate.checks.static import compose
from obsgate.checks.static.credentials import config_secrets, repo_config_files
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.findings import shown
from obsgate.core.recorder import GateRecorder
from obsgate.core.yamlio import YamlDoc


@pytest.mark.gate(category="Configuration", weight=2)
def test_compose_images_are_pinned_to_exact_versions(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A floating tag (latest, 2, 2.9) deploys whatever was pushed last: untested code."""
    require_none(compose.image_pins(stack_files.compose), gate)


@pytest.mark.gate(category="Security", weight=3)
def test_compose_has_no_literal_or_default_secrets(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed #10: a default admin password in the docs. Secrets come from ${VAR:?}, never from the repository."""
    findings = compose.secrets(stack_files.compose)
    for path in repo_config_files(stack_files.project):
        findings += config_secrets(YamlDoc.load(path, shown(path)))
    require_none(findings, gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_compose_services_have_healthchecks(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed #7: without a healthcheck, 'running' is all anyone (and depends_on) can know."""
    require_none(compose.healthchecks(stack_files.compose), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_compose_services_have_restart_policies(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A crashed or rebooted service must come back on its own."""
    require_none(compose.restart_policies(stack_files.compose), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_compose_services_keep_state_on_volumes(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Logs, metrics, silences and dashboards must survive re-creating a container."""
    require_none(compose.state_volumes(stack_files.compose), gate)


@pytest.mark.gate(category="Security", weight=3)
def test_compose_publishes_only_the_proxy(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed #10 'ports exposed to public internet': only nginx (TLS, auth) faces clients."""
    require_none(compose.published_ports(stack_files.compose), gate)
