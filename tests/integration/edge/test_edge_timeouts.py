"""The timeout chains of the proxied paths hold for the values the services run with (docs/timeouts.md).

The static checks read the files; a flag in a service's command, or a key a Loki version
ignores, changes what runs. Loki's values come from its ``GET /config``, Prometheus' from its
flags; nginx's and Grafana's from their files, as the static checks read them.
"""

import pytest

from obsgate.checks.static import timeouts
from obsgate.clients import LokiAPI, PrometheusAPI
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun
from obsgate.stackfiles import loki as loki_config
from obsgate.stackfiles.project import ProjectFiles


@pytest.mark.gate(category="Configuration", weight=1)
def test_running_timeouts_fire_innermost_first(gate_run: GateRun, loki_api: LokiAPI, prometheus_api: PrometheusAPI,
                                               gate: GateRecorder) -> None:
    """Every path's timeouts keep their order with Loki's GET /config and Prometheus' flags as they run."""
    running = timeouts.Running(loki_config.effective(loki_api.config(), "loki"), prometheus_api.flags())
    timeouts.require_in_order(timeouts.all_paths(ProjectFiles(gate_run.project), running), gate)
