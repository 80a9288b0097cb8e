"""The stack's wiring across files: addresses, files and state directories land where another file says.

Each file is also checked on its own elsewhere; these follow the links between them, one
finding per broken link naming both ends (e.g. a datasource URL and the port Loki's
config listens on).
"""

import pytest

from obsgate.checks.static import wiring
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Configuration", weight=2)
def test_wiring_addresses_reach_a_listening_service(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Datasources, scrape and alerting targets, upstreams, receivers: service, shared network, listening port."""
    gate.evidence["addresses"] = len(stack_files.addresses)
    require_none(wiring.unreachable(stack_files.addresses, stack_files.listeners, stack_files.project,
                                    stack_files.compose), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_wiring_referenced_files_are_mounted(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A rule glob matching nothing loads no rules silently; a missing secret file fails at start or send time."""
    gate.evidence["files"] = len(stack_files.file_refs)
    require_none(wiring.unmounted(stack_files.file_refs, stack_files.project, stack_files.compose), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_wiring_state_directories_are_writable_volumes(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Loki's paths, Prometheus' TSDB, Alertmanager's storage, Grafana's data: persistent, writable mounts."""
    gate.evidence["directories"] = len(stack_files.written_dirs)
    require_none(wiring.not_persistent(stack_files.written_dirs, stack_files.project, stack_files.compose), gate)
