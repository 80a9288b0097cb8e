"""The management checks fail on a stack that opens Prometheus' admin and lifecycle APIs to the edge.

The variant starts Prometheus with ``--web.enable-lifecycle --web.enable-admin-api`` and mounts the
production nginx.conf without its refusal of those paths, so ``/prometheus/`` proxies them broadly with
the read credential. The live audit names the request, the credential and the status (and never pulls
``/-/quit``: Prometheus must still answer afterwards); the static check names the flag and the route.
Grafana's admin audit cannot run here: its logic is proven in tests/unit/test_management.py.
"""

from __future__ import annotations

from pathlib import Path

from tests.selftest.conftest import NGINX_CONF, STACK, Compose, failed_or_skip, mount, nginx_conf, with_nginx
from tests.selftest.test_static_checks_fail import STATIC, only_failure

LIVE = "tests/integration/edge/test_edge_management.py"
LIVE_CHECK = "test_management_endpoints_refused_through_gateway"
STATIC_CHECK = "test_management_apis_switched_on_are_not_routed_by_nginx"
FLAGS = ["--web.enable-lifecycle", "--web.enable-admin-api"]


def without_prometheus_refusal() -> tuple[str, str]:
    """The edit removing nginx.conf's refusal of Prometheus' admin and lifecycle paths."""
    text = (STACK / "nginx" / "nginx.conf").read_text()
    start = text.index("            # The TSDB admin API")
    return text[start:text.index("            limit_req zone=api_read", start)], ""


def prometheus_flags(doc: Compose) -> None:
    doc["services"]["prometheus"]["command"] += FLAGS


def test_live_audit_fails_on_open_admin_and_lifecycle_apis(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, without_prometheus_refusal())
    run = child_gate(f"{LIVE}::{LIVE_CHECK}[prometheus]",
                     compose=variant(with_nginx(conf, "prometheus", more=prometheus_flags)))
    failed_or_skip(run, f"{LIVE_CHECK}[prometheus]")
    reason = "\n".join(run.checks[f"{LIVE_CHECK}[prometheus]"]["evidence"]["findings"])
    assert "POST /prometheus/-/reload with read credential → 200 from the service" in reason
    assert "POST /prometheus/api/v1/admin/tsdb/snapshot with read credential → 400 from the service" in reason
    # /-/quit is judged by its probe: reached, never sent (Prometheus answered every request after it).
    assert "PATCH /prometheus/-/quit with read credential → 405 from the service" in reason and "not sent" in reason
    assert "POST /prometheus/-/quit" not in reason
    assert "with no credential" not in reason and "with push credential" not in reason


def test_static_check_fails_on_switched_on_apis_that_nginx_routes(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, without_prometheus_refusal())

    def broken(doc: Compose) -> None:
        prometheus_flags(doc)
        mount("nginx", NGINX_CONF, conf)(doc)

    findings = only_failure(child_gate(*STATIC, compose=variant(broken)), STATIC_CHECK)
    assert "--web.enable-lifecycle switches on prometheus's POST /-/reload" in findings
    assert "--web.enable-admin-api switches on prometheus's POST /api/v1/admin/tsdb/snapshot" in findings
    assert "/prometheus/-/quit (location /prometheus/)" in findings


def test_static_check_passes_with_the_flags_behind_nginx_refusal(variant, child_gate) -> None:
    run = child_gate(*STATIC, compose=variant(prometheus_flags))
    assert run.outcome(STATIC_CHECK) == "passed", run.reason(STATIC_CHECK)
