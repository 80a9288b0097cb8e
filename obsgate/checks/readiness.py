"""Readiness of a deployment the gate did not start (``--target``), as its public surface shows it.

On the run's own stack a service is ready when its compose healthcheck passes in its container. A target's
containers are not the gate's to look into, so each service is asked where clients reach it: through nginx
with the read credential, and for Alertmanager (which nginx does not route) through Prometheus, whose
scrape of it says whether it answers.
"""

from __future__ import annotations

from collections.abc import Callable

from obsgate.bringup.secrets import BasicAuth
from obsgate.clients import Gateway
from obsgate.clients.http import API
from obsgate.core.wait import poll
from obsgate.stackfiles.prometheus import PrometheusConfig

READY_WAIT_S = 30.0     # a target is up already: this only rides out one slow answer


def _status(api: API, path: str, ok: Callable[[int], bool], what: str) -> str:
    """``what`` answered ``path`` with a status ``ok`` accepts: its evidence; AssertionError otherwise."""
    with api:
        response = api.get(path)
    shown = f"GET {path} -> {response.status_code}"
    assert ok(response.status_code), f"{what} is not ready: {shown}: {response.text.strip()[:200]}"
    return shown


def _scraped_up(gateway: Gateway, read: BasicAuth, prometheus: PrometheusConfig, service: str) -> str:
    """Prometheus' scrape of ``service`` is up (its ``up`` series is 1): the service answers on the stack network."""
    jobs = sorted({t.job for t in prometheus.targets() if t.host == service})
    assert jobs, f"{service}: Prometheus scrapes no target of it (stack/prometheus/prometheus.yml), so a target's " \
                 f"{service} cannot be seen from outside"
    expr = "max by (job) (up{job=~\"" + "|".join(jobs) + "\"})"
    with gateway.prometheus(read) as api:
        series = api.query(expr)
    up = {s.labels.get("job", ""): s.value for s in series}
    assert up and all(v == 1 for v in up.values()), f"{service} is not ready: Prometheus' {expr} = {up or 'no series'}"
    return f"{expr} = {up}"


def public_ready(service: str, gateway: Gateway, read: BasicAuth, prometheus: PrometheusConfig) -> str:
    """Evidence that ``service`` of a target answers where clients reach it; AssertionError naming what did not."""
    probes: dict[str, Callable[[], str]] = {
        # Any answer is nginx's own (a 502 too: nginx up, the upstream not), its TLS handshake included.
        "nginx": lambda: _status(gateway.api(), "/", lambda s: s > 0, "nginx"),
        "loki": lambda: _status(gateway.loki(read), "/loki/api/v1/labels", lambda s: s == 200, "loki via nginx"),
        "prometheus": lambda: _status(gateway.prometheus(read), "/-/ready", lambda s: s == 200, "prometheus via nginx"),
        "grafana": lambda: _status(gateway.grafana(), "/api/health", lambda s: s == 200, "grafana via nginx"),
        "alertmanager": lambda: _scraped_up(gateway, read, prometheus, "alertmanager"),
    }
    last: list[str] = []

    def probe() -> str | None:
        try:
            return probes[service]()
        except AssertionError as exc:
            last[:] = [str(exc)]
            return None
    return poll(probe, timeout_s=READY_WAIT_S, what=f"{service} of the target to answer",
                evidence=lambda: last[0] if last else "")
