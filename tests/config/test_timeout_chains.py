"""Timeouts along every proxied request path fire innermost first (docs/timeouts.md).

A proxy that gives up before the service behind it turns the service's own error (a query
timeout, a refused push) into a bare 504. Each check judges one path from the stack's files,
nginx's inheritance and each program's documented defaults included, and names both numbers.
"""

import pytest

from obsgate.checks.static import timeouts
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.recorder import GateRecorder


def judge(paths: list[timeouts.RequestPath], gate: GateRecorder) -> None:
    gate.evidence["chains"] = [line for path in paths for line in path.shown()]
    require_none(timeouts.contradictions(paths), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_push_path_timeouts_let_loki_answer_before_nginx(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Loki's own push deadline fires before its server or nginx cut the push; a slow body is Loki's to refuse."""
    judge(timeouts.push_paths(stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_read_path_query_timeout_fires_before_loki_server_and_nginx(stack_files: StackFiles, gate: GateRecorder) -> None:
    """query_timeout < http_server_write_timeout < nginx proxy_read_timeout, as nginx.conf's own comment says."""
    judge(timeouts.read_paths(stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_tail_path_nginx_outlasts_loki_pings(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A live tail stays open while Loki pings: nginx's proxy_read_timeout exceeds the ping interval."""
    judge(timeouts.tail_paths(stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_prometheus_path_query_timeout_fires_before_nginx(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A slow PromQL query ends with Prometheus' timeout error, not nginx's 504."""
    judge(timeouts.prometheus_paths(stack_files), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_path_datasource_timeouts_fire_in_order(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Loki's or Prometheus' query timeout < Grafana's datasource timeout < nginx proxy_read_timeout."""
    judge(timeouts.grafana_paths(stack_files), gate)
