"""The retentions as the running programs apply them, defaults included: what the static checks of
tests/config/test_limits_and_retentions.py read from the compose file, asked of the binaries themselves.

Loki's effective retention and query horizon (GET /config) are judged with its acceptance checks
(test_loki_effective_config_meets_policy); Alertmanager reports no flags, so its retention is judged
statically only (docs/limits.md).
"""

import pytest

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.static import limits
from obsgate.clients import PrometheusAPI
from obsgate.core.recorder import GateRecorder
from obsgate.stackfiles.prometheus import running_tsdb_retention


@pytest.mark.gate(category="Configuration", weight=1)
def test_running_prometheus_retention_meets_policy(prometheus: ServiceHandle, prometheus_api: PrometheusAPI,
                                                   gate: GateRecorder) -> None:
    """GET /api/v1/status/flags: the TSDB retention Prometheus really applies meets metrics_retention_h."""
    measured = limits.running_metrics_retention(running_tsdb_retention(prometheus_api.flags()), prometheus.image.ref)
    gate.evidence["running_prometheus_retention"] = measured.arithmetic
    gate.measure("metrics_retention_h", measured.value, name="running_prometheus_retention_h",
                 context=f"{measured.arithmetic}; fix: {limits.METRICS_FIX}")
