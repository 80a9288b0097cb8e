"""Timeouts along every proxied request path fire innermost first (docs/timeouts.md).

A proxy that gives up before the service behind it turns the service's own error (a query
timeout, a refused push) into a bare 504. Each check judges one path (the read API
and the live tail, both Loki's read credential, together) from the stack's files,
nginx's inheritance and each program's documented defaults included, and names both numbers.
"""

import pytest

from obsgate.checks.static import timeouts
from obsgate.checks.static.files import StackFiles
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Configuration", weight=1)
def test_push_path_timeouts_let_loki_answer_before_nginx(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Loki's own push deadline fires before its server or nginx cut the push; a slow body is Loki's to refuse."""
    timeouts.require_in_order(timeouts.push_paths(stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_read_and_tail_paths_let_loki_answer_before_nginx(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Read API: query_timeout < http_server_write_timeout < proxy_read_timeout; a tail outlasts Loki's pings."""
    timeouts.require_in_order(timeouts.read_paths(stack_files) + timeouts.tail_paths(stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_prometheus_path_query_timeout_fires_before_nginx(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A slow PromQL query ends with Prometheus' timeout error, not nginx's 504."""
    timeouts.require_in_order(timeouts.prometheus_paths(stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_path_datasource_timeouts_fire_in_order(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Loki's or Prometheus' query timeout < Grafana's datasource timeout < nginx proxy_read_timeout."""
    timeouts.require_in_order(timeouts.grafana_paths(stack_files), gate)
