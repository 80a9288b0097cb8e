"""Static policy on the limits and retentions the stack declares: memory per service and in sum, how long
metrics and alert state are kept, and how far back Loki's queries reach (docs/limits.md)."""

import pytest

from obsgate.checks.static import limits, loki
from obsgate.checks.static.files import StackFiles, measure, require_none
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Resilience", weight=2)
def test_compose_services_have_memory_limits(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A service without a memory limit can take the host's memory, and every other service with it."""
    require_none(limits.memory_limits(stack_files.compose, stack_files.project.services), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_compose_memory_limits_fit_stack_budget(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed: < 4 GB for all services; the limits' sum is the most the stack may take (stack_memory_limit_bytes)."""
    measured = limits.memory_budget(stack_files.project.services)
    measure(gate, stack_files.compose, "stack_memory_limit_bytes", measured, "memory_limits_bytes", limits.MEMORY_FIX)


@pytest.mark.gate(category="Configuration", weight=2)
def test_prometheus_retention_meets_policy(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Metrics are kept as long as the policy says (metrics_retention_h), not Prometheus' default 15d."""
    retention = limits.prometheus_retention(stack_files.compose, stack_files.spec("prometheus"))
    measured = limits.metrics_retention(stack_files.compose, retention)
    measure(gate, stack_files.compose, "metrics_retention_h", measured, "prometheus_retention_h", limits.METRICS_FIX)


@pytest.mark.gate(category="Resilience", weight=1)
def test_alertmanager_retention_meets_policy(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Silences and the notification log outlive alert_state_retention_h and every repeat_interval."""
    retention = limits.alertmanager_retention(stack_files.compose, stack_files.spec("alertmanager"))
    measured = limits.alert_state_retention(stack_files.compose, retention)
    measure(gate, stack_files.compose, "alert_state_retention_h", measured, "alertmanager_retention_h",
            limits.ALERT_STATE_FIX)
    require_none(limits.repeats_within_retention(stack_files.compose, retention, stack_files.alertmanager), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_loki_config_query_horizon_reaches_retention(stack_files: StackFiles, policy: Policy, gate: GateRecorder) -> None:
    """max_query_lookback and max_query_length reach back as far as logs are kept (retention_h)."""
    require_none(loki.query_horizon(stack_files.loki, policy.target("retention_h")), gate)
