"""Typed HTTP clients for the stack's services, direct or through the nginx gateway.

A client re-resolves its base URL whenever its service was restarted or re-created
(new IP, new published port), so a test can restart a container and carry on.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from obsgate import logproto
from obsgate.secrets import BasicAuth, RunSecrets
from obsgate.stack import ServiceHandle

Labels = Mapping[str, str]


@dataclass
class Endpoint:
    """Where a client sends requests; ``base_url`` is recomputed when ``version`` changes."""

    base_url: Callable[[], str]
    version: Callable[[], int] = lambda: 0
    auth: BasicAuth | None = None
    verify: ssl.SSLContext | bool = True
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def direct(cls, handle: ServiceHandle, port: int, path: str = "") -> Endpoint:
        """The service's own port on the run network (in-network access, as other services see it)."""
        return cls(lambda: handle.url(port) + path, lambda: handle.epoch)


class API:
    """A small httpx wrapper: one client per endpoint version, typed helpers in subclasses."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = 10.0) -> None:
        self.endpoint, self.timeout_s = endpoint, timeout_s
        self._client: httpx.Client | None = None
        self._version = -1

    @property
    def http(self) -> httpx.Client:
        version = self.endpoint.version()
        if self._client is None or version != self._version:
            if self._client is not None:
                self._client.close()
            self._client = httpx.Client(
                base_url=self.endpoint.base_url(),
                auth=self.endpoint.auth.pair if self.endpoint.auth else None,
                verify=self.endpoint.verify, headers=dict(self.endpoint.headers),
                timeout=self.timeout_s, follow_redirects=False,
            )
            self._version = version
        return self._client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _data(response: httpx.Response) -> Any:
    """The ``data`` member of a Prometheus-style JSON answer; raises with the body on error."""
    response.raise_for_status()
    return response.json()["data"]


class LokiAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/ready")

    def push(self, streams: Sequence[tuple[Labels, Sequence[tuple[int, str]]]]) -> httpx.Response:
        """Push in Loki's JSON format; each stream is (labels, [(unix_ns, line), ...])."""
        body = {"streams": [{"stream": dict(labels), "values": [[str(ts), line] for ts, line in values]}
                            for labels, values in streams]}
        return self.post("/loki/api/v1/push", json=body)

    def push_protobuf(self, streams: Sequence[tuple[Labels, Sequence[tuple[int, str]]]]) -> httpx.Response:
        """Push in Loki's native format (protobuf PushRequest, snappy block), as Promtail/Alloy do."""
        return self.post("/loki/api/v1/push", content=logproto.encode(streams),
                         headers={"Content-Type": logproto.CONTENT_TYPE})

    def query_range(self, query: str, start_ns: int, end_ns: int | None = None, limit: int = 1000,
                    direction: str = "forward") -> Any:
        params = {"query": query, "start": str(start_ns), "end": str(end_ns or time.time_ns()),
                  "limit": str(limit), "direction": direction}
        return _data(self.get("/loki/api/v1/query_range", params=params))

    def query(self, query: str, time_ns: int | None = None, limit: int = 100) -> Any:
        """An instant query (LogQL metric queries: ``count_over_time`` and friends)."""
        params = {"query": query, "time": str(time_ns or time.time_ns()), "limit": str(limit)}
        return _data(self.get("/loki/api/v1/query", params=params))

    def config(self) -> str:
        """The effective configuration Loki runs with (YAML text)."""
        response = self.get("/config")
        response.raise_for_status()
        return response.text

    def metrics(self) -> str:
        response = self.get("/metrics")
        response.raise_for_status()
        return response.text


class PrometheusAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/-/ready")

    def buildinfo(self) -> Any:
        return _data(self.get("/api/v1/status/buildinfo"))

    def targets(self) -> Any:
        return _data(self.get("/api/v1/targets"))

    def rules(self) -> Any:
        return _data(self.get("/api/v1/rules"))

    def query(self, expr: str) -> Any:
        return _data(self.get("/api/v1/query", params={"query": expr}))

    def alerts(self) -> Any:
        """Active (pending and firing) alerts with their ``activeAt``."""
        return _data(self.get("/api/v1/alerts"))["alerts"]


class AlertmanagerAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/-/ready")

    def status(self) -> Any:
        response = self.get("/api/v2/status")
        response.raise_for_status()
        return response.json()

    def alerts(self) -> Any:
        response = self.get("/api/v2/alerts")
        response.raise_for_status()
        return response.json()


class GrafanaAPI(API):
    """Grafana's documented HTTP API (https://grafana.com/docs/grafana/latest/developers/http_api/)."""

    def health(self) -> httpx.Response:
        return self.get("/api/health")

    def datasources(self) -> Any:
        response = self.get("/api/datasources")
        response.raise_for_status()
        return response.json()

    def datasource_health(self, uid: str) -> httpx.Response:
        return self.get(f"/api/datasources/uid/{uid}/health")

    def search(self, **params: str) -> Any:
        response = self.get("/api/search", params=params)
        response.raise_for_status()
        return response.json()

    def user(self) -> httpx.Response:
        """The signed-in user (``GET /api/user``): 200 only with valid credentials."""
        return self.get("/api/user")

    def signup(self, email: str) -> httpx.Response:
        """Start a self sign-up (``POST /api/user/signup``); 401 when sign-up is disabled."""
        return self.post("/api/user/signup", json={"email": email, "username": email})

    def loki_query_range(self, datasource_uid: str, query: str, start_ns: int, end_ns: int,
                         limit: int = 100) -> httpx.Response:
        """A LogQL query through Grafana's datasource proxy (Loki's own answer format)."""
        params = {"query": query, "start": str(start_ns), "end": str(end_ns), "limit": str(limit)}
        return self.get(f"/api/datasources/proxy/uid/{datasource_uid}/loki/api/v1/query_range", params=params)


class Gateway:
    """The nginx front door: HTTPS on the published 443 (verified against the run's CA), HTTP on 80."""

    def __init__(self, handle: ServiceHandle, secrets: RunSecrets) -> None:
        self.handle, self.secrets = handle, secrets
        self.tls = ssl.create_default_context(cafile=str(secrets.ca_cert))

    def https_url(self) -> str:
        host, port = self.handle.published(443)
        return f"https://{host}:{port}"

    def http_url(self) -> str:
        host, port = self.handle.published(80)
        return f"http://{host}:{port}"

    def endpoint(self, path: str = "", auth: BasicAuth | None = None, **headers: str) -> Endpoint:
        return Endpoint(lambda: self.https_url() + path, lambda: self.handle.epoch, auth, self.tls, headers)

    def api(self, auth: BasicAuth | None = None) -> API:
        return API(self.endpoint(auth=auth))

    def loki(self, auth: BasicAuth | None = None) -> LokiAPI:
        return LokiAPI(self.endpoint(auth=auth))

    def prometheus(self, auth: BasicAuth | None = None) -> PrometheusAPI:
        return PrometheusAPI(self.endpoint("/prometheus", auth))

    def grafana(self) -> GrafanaAPI:
        return GrafanaAPI(self.endpoint())
