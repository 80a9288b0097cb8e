"""Management and destructive endpoints of every proxied service, as clients reach them through nginx.

The static nginx checks judge what nginx.conf routes; behind a broad location (``/prometheus/``,
``/``) the upstream serves more than the queries the location is there for. ``CATALOGUE`` is the one
list of those endpoints (method and path as the service serves them); nginx.conf's reader says under
which gateway URIs nginx hands each one to its service (``NginxConf.gateway_routes``), and the audit
asks every such URI with each credential the stack issues, with and without a browser's Origin.

Never pulling the trigger: an endpoint that acts whatever it is sent (``TRIGGER``: quit, shut down,
flush) is first asked with ``PROBE_METHOD``, a method no version of its service serves there. The
service's own 405 proves the request reached its route, which is the finding; the real method is sent
only where nginx itself refused the probe (then nginx refuses the real one too, unless its refusal
depends on the method, which is what sending it finds out). ``HARMLESS`` endpoints are sent a request
their service rejects or that changes nothing (a bad argument, reloading the same config); ``READ``
ones a GET. Reads and harmless requests go first, triggers last. Design and verdicts: docs/management.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

from obsgate.bringup.secrets import BasicAuth
from obsgate.clients import API, Gateway
from obsgate.core.wait import poll
from obsgate.stackfiles.nginx import NginxConf

PROBE_METHOD = "PATCH"
# nginx's own error page (401, 403, 404, 405, 5xx ...), with or without its version (server_tokens).
_NGINX_PAGE = re.compile(r"<hr><center>nginx(?:/[\d.]+)?</center>")
REFUSED_STATUSES = frozenset({401, 403})


class Kind(StrEnum):
    READ = "read"           # a GET: answers, changes nothing
    HARMLESS = "harmless"   # sent as catalogued: rejected by the service or a no-op if it gets through
    TRIGGER = "trigger"     # acts whatever it is sent: probed with PROBE_METHOD, sent only where nginx refuses


@dataclass(frozen=True)
class Endpoint:
    """A management endpoint as its service serves it, and what a request to it would do."""

    service: str
    method: str
    path: str
    kind: Kind
    does: str                                       # what it does, for the finding
    params: Mapping[str, str] = field(default_factory=dict)
    json: Any = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _e(service: str, method: str, path: str, kind: Kind, does: str, **params: str) -> Endpoint:
    return Endpoint(service, method, path, kind, does, params)


# Prometheus (2.x HTTP API docs, "TSDB Admin APIs", "Management API"): the admin API answers 503
# "admin APIs disabled" without --web.enable-admin-api, the lifecycle API 403 without --web.enable-lifecycle;
# remote write 404 without --web.enable-remote-write-receiver.
PROMETHEUS = "prometheus"
LOKI = "loki"
ALERTMANAGER = "alertmanager"
GRAFANA = "grafana"
_BAD_BOOL = "obs-gate-probe"        # an argument the handler refuses (400) once it is past its switch
CATALOGUE: tuple[Endpoint, ...] = (
    *(_e(PROMETHEUS, m, "/api/v1/admin/tsdb/snapshot", Kind.HARMLESS, "writes a TSDB snapshot", skip_head=_BAD_BOOL)
      for m in ("POST", "PUT")),
    *(_e(PROMETHEUS, m, "/api/v1/admin/tsdb/delete_series", Kind.HARMLESS, "deletes series (no match[] sent)")
      for m in ("POST", "PUT")),
    *(_e(PROMETHEUS, m, "/-/reload", Kind.HARMLESS, "reloads the configuration") for m in ("POST", "PUT")),
    _e(PROMETHEUS, "POST", "/api/v1/write", Kind.HARMLESS, "writes samples (empty body sent)"),
    *(_e(PROMETHEUS, m, "/api/v1/admin/tsdb/clean_tombstones", Kind.TRIGGER, "rewrites blocks with tombstones")
      for m in ("POST", "PUT")),
    *(_e(PROMETHEUS, m, "/-/quit", Kind.TRIGGER, "stops Prometheus") for m in ("POST", "PUT")),
    # Loki 2.9 and 3.x (HTTP API reference: status, ring, flush/shutdown and log deletion endpoints; /ring,
    # /memberlist and /runtime_config are on Loki's index page). A path one version lacks answers 404.
    *(_e(LOKI, "GET", p, Kind.READ, d) for p, d in (
        ("/config", "shows the whole configuration"), ("/runtime_config", "shows the runtime overrides"),
        ("/services", "lists the modules' states"), ("/log_level", "shows the log level"),
        ("/ring", "ingester ring page (its form forgets instances)"), ("/distributor/ring", "distributor ring page"),
        ("/compactor/ring", "compactor ring page"), ("/ruler/ring", "ruler ring page"),
        ("/indexgateway/ring", "index gateway ring page"), ("/memberlist", "memberlist status page"),
        ("/ingester/prepare_shutdown", "shows whether the next SIGTERM empties the ingester"),
        ("/loki/api/v1/delete", "lists delete requests"), ("/loki/api/admin/delete", "lists delete requests (2.x alias)"),
        ("/loki/api/v1/cache/generation_numbers", "cache generation numbers of deletes"))),
    _e(LOKI, "POST", "/log_level", Kind.HARMLESS, "changes the log level", log_level=_BAD_BOOL),
    *(_e(LOKI, m, "/loki/api/v1/delete", Kind.HARMLESS, "requests or cancels log deletion (no query sent)")
      for m in ("POST", "PUT", "DELETE")),
    _e(LOKI, "POST", "/loki/api/v1/rules/obs-gate-probe", Kind.HARMLESS, "writes ruler rules (empty body sent)"),
    _e(LOKI, "POST", "/flush", Kind.TRIGGER, "flushes every in-memory chunk"),
    _e(LOKI, "POST", "/ingester/prepare_shutdown", Kind.TRIGGER, "makes the next SIGTERM empty the ingester"),
    _e(LOKI, "POST", "/ingester/flush_shutdown", Kind.TRIGGER, "flushes and stops the ingester (2.x)"),
    _e(LOKI, "POST", "/ingester/shutdown", Kind.TRIGGER, "flushes and stops the ingester, and Loki"),
    # Alertmanager (API v2, "Management API"): no switch turns any of these off.
    _e(ALERTMANAGER, "GET", "/api/v2/status", Kind.READ, "shows the configuration and cluster"),
    _e(ALERTMANAGER, "POST", "/-/reload", Kind.HARMLESS, "reloads the configuration"),
    Endpoint(ALERTMANAGER, "POST", "/api/v2/silences", Kind.HARMLESS, "creates silences (an invalid one sent)",
             json={}),
    _e(ALERTMANAGER, "DELETE", "/api/v2/silence/00000000-0000-0000-0000-000000000000", Kind.TRIGGER,
       "expires a silence"),
    # Grafana (HTTP API, "Admin API"): Grafana's own permission check guards these; asked as non-admin users.
    _e(GRAFANA, "GET", "/api/admin/settings", Kind.READ, "shows every setting"),
    _e(GRAFANA, "GET", "/api/admin/stats", Kind.READ, "shows instance statistics"),
    Endpoint(GRAFANA, "POST", "/api/admin/users", Kind.HARMLESS, "creates users (an empty one sent)", json={}),
    Endpoint(GRAFANA, "PUT", "/api/admin/users/1/password", Kind.HARMLESS,
             "sets a user's password (an empty one sent)", json={"password": ""}),
    _e(GRAFANA, "POST", "/api/admin/provisioning/dashboards/reload", Kind.HARMLESS, "reloads dashboard provisioning"),
)


def catalogue(service: str) -> tuple[Endpoint, ...]:
    """The service's endpoints, reads and harmless requests first, triggers last (in catalogue order)."""
    own = [e for e in CATALOGUE if e.service == service]
    return tuple(sorted(own, key=lambda e: e.kind == Kind.TRIGGER))


@dataclass(frozen=True)
class Caller:
    """Who asks: a credential (or none) and, for a browser, its Origin."""

    name: str
    auth: BasicAuth | None = None
    origin: str | None = None

    def __str__(self) -> str:
        return f"{self.name} and Origin {self.origin}" if self.origin else self.name


def callers(credentials: Mapping[str, BasicAuth | None], origin: str | None) -> list[Caller]:
    """Each credential alone, then each with the browser ``origin`` (what a page on an allowed origin sends)."""
    plain = [Caller(name, auth) for name, auth in credentials.items()]
    return plain + ([Caller(c.name, c.auth, origin) for c in plain] if origin else [])


@dataclass(frozen=True)
class Answer:
    """An answer reduced to what the verdict needs: status, whether nginx wrote it itself, its start."""

    status: int
    by_nginx: bool
    text: str = ""

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        return cls(response.status_code, bool(_NGINX_PAGE.search(response.text)), " ".join(response.text.split())[:160])

    def __str__(self) -> str:
        who = "nginx" if self.by_nginx else "the service"
        return f"{self.status} from {who}" + (f" ({self.text})" if self.text and not self.by_nginx else "")


class Verdict(StrEnum):
    REFUSED = "refused"
    ABSENT = "absent"
    REACHED = "reached"
    RATE_LIMITED = "rate limited"


def verdict(answer: Answer, probe: bool) -> Verdict:
    """Refused or absent: 401/403 (nginx or the service), 404, nginx's own 405 (and any other answer nginx
    writes itself below 500). Reached: a 2xx, a service's 400-class answer other than those (it read the
    request), any 5xx (the service failed at it, or nginx passed it on and got no answer), and the
    service's own 405 to the probe method (its route is there). A 405 from the service to the real
    method means it does not serve that method: absent."""
    status = answer.status
    if status == 429:
        return Verdict.RATE_LIMITED
    if status >= 500:
        return Verdict.REACHED
    if answer.by_nginx or status in REFUSED_STATUSES:
        return Verdict.ABSENT if status == 404 else Verdict.REFUSED
    if status == 404:
        return Verdict.ABSENT
    if status == 405:
        return Verdict.REACHED if probe else Verdict.ABSENT
    return Verdict.REACHED


@dataclass(frozen=True)
class Asked:
    """One request of the audit and its answer."""

    endpoint: Endpoint
    uri: str
    method: str
    caller: Caller
    answer: Answer
    verdict: Verdict

    def line(self) -> str:
        return f"{self.method} {self.uri} with {self.caller} → {self.answer}"

    def finding(self) -> str:
        if self.method == PROBE_METHOD and self.method != self.endpoint.method:
            return (f"{self.line()}: reaches {self.endpoint.service}'s {self.endpoint} ({self.endpoint.does}); "
                    f"not sent")
        return f"{self.line()}: {self.endpoint.service}'s {self.endpoint} ({self.endpoint.does})"


# (method, gateway URI, params, json body, caller) -> the answer
Send = Callable[[str, str, Mapping[str, str], Any, Caller], Answer]


@dataclass
class Audit:
    """Every request asked, what it found, and the endpoints nginx does not route to their service."""

    asked: list[Asked] = field(default_factory=list)
    unrouted: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[str]:
        return [a.finding() for a in self.asked if a.verdict == Verdict.REACHED]

    def evidence(self) -> dict[str, Any]:
        return {"asked": [f"{a.line()}: {a.verdict}" for a in self.asked],
                "not routed to their service by nginx (absent)": self.unrouted}


def _ask(send: Send, endpoint: Endpoint, uri: str, caller: Caller, probe: bool,
         retry: Callable[[Callable[[], Answer | None]], Answer]) -> Asked:
    method = PROBE_METHOD if probe else endpoint.method
    params = {} if probe else dict(endpoint.params)
    body = None if probe else endpoint.json

    def once() -> Answer | None:
        answer = send(method, uri, params, body, caller)
        return None if answer.status == 429 else answer

    answer = retry(once)
    return Asked(endpoint, uri, method, caller, answer, verdict(answer, probe))


def run(endpoints: Iterable[Endpoint], routes: Callable[[Endpoint], list[str]], who: Iterable[Caller],
        send: Send, retry: Callable[[Callable[[], Answer | None]], Answer]) -> Audit:
    """Ask each endpoint under each gateway URI nginx routes it to, as each caller, triggers last.

    ``retry`` calls its argument until it gives an answer (None: rate limited, ask again) within a deadline;
    a trigger's real request goes only where every answer to its probe was nginx's own refusal.
    """
    audit = Audit()
    callers_ = list(who)
    for endpoint in endpoints:
        uris = routes(endpoint)
        if not uris:
            audit.unrouted.append(f"{endpoint.service} {endpoint}")
            continue
        for uri in uris:
            if endpoint.kind != Kind.TRIGGER:
                audit.asked += [_ask(send, endpoint, uri, c, False, retry) for c in callers_]
                continue
            probes = [_ask(send, endpoint, uri, c, True, retry) for c in callers_]
            audit.asked += probes
            audit.asked += [_ask(send, endpoint, uri, p.caller, False, retry) for p in probes
                            if p.answer.by_nginx and p.verdict in (Verdict.REFUSED, Verdict.ABSENT)]
    return audit


class GatewaySender:
    """``Send`` through the nginx gateway: one client per credential, the caller's Origin on each request."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.apis: dict[BasicAuth | None, API] = {}

    def __call__(self, method: str, uri: str, params: Mapping[str, str], body: Any, caller: Caller) -> Answer:
        api = self.apis.get(caller.auth)
        if api is None:
            api = self.apis[caller.auth] = self.gateway.api(caller.auth)
        headers = {"Origin": caller.origin} if caller.origin else {}
        return Answer.of(api.request(method, uri, params=params, json=body, headers=headers))

    def close(self) -> None:
        for api in self.apis.values():
            api.close()


def audit_through(gateway: Gateway, conf: NginxConf, service: str, who: Iterable[Caller],
                  timeout_s: float = 30.0) -> Audit:
    """The live audit of ``service``'s catalogued endpoints through ``gateway``, routed as ``conf`` says.

    A rate-limited answer (429) is asked again until ``timeout_s``: the audit sends many requests at once.
    """
    sender = GatewaySender(gateway)

    def retry(ask: Callable[[], Answer | None]) -> Answer:
        return poll(ask, timeout_s=timeout_s, what="an answer other than 429 (rate limited)", interval_s=0.5)

    try:
        return run(catalogue(service), lambda e: [r.uri for r in conf.gateway_routes(e.service, e.path)],
                   who, sender, retry)
    finally:
        sender.close()
