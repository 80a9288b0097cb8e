"""The nginx front door as clients reach it: HTTPS on the published port, verified against the run's CA
(or a ``--target``'s address, verified as its options say)."""

from __future__ import annotations

import ssl
from typing import Protocol

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.clients.grafana import GrafanaAPI
from obsgate.clients.http import API, Endpoint
from obsgate.clients.loki import LokiAPI
from obsgate.clients.prometheus import PrometheusAPI
from obsgate.clients.tls import client_context


class FrontDoor(Protocol):
    """What the gateway needs of nginx: its name, its addresses for 443 and 80, and when they change
    (a ServiceHandle of the run's stack, or a target's RemoteService)."""

    @property
    def name(self) -> str: ...

    @property
    def epoch(self) -> int: ...

    def published(self, port: int, protocol: str = "tcp") -> tuple[str, int]: ...


class Gateway:
    """The nginx front door: HTTPS on the published 443 (verified against the run's CA), HTTP on 80."""

    def __init__(self, handle: FrontDoor, secrets: RunSecrets, tls: ssl.SSLContext | None = None) -> None:
        self.handle, self.secrets = handle, secrets
        self.tls = tls if tls is not None else client_context(secrets.ca_cert)

    def https_url(self) -> str:
        host, port = self.handle.published(443)
        return f"https://{host}:{port}"

    def http_url(self) -> str:
        host, port = self.handle.published(80)
        return f"http://{host}:{port}"

    def endpoint(self, path: str = "", auth: BasicAuth | None = None, upstream: str = "", **headers: str) -> Endpoint:
        """HTTPS at ``path``; its errors name nginx and the ``upstream`` service behind it ("loki via nginx")."""
        service = f"{upstream} via {self.handle.name}" if upstream else self.handle.name
        return Endpoint(lambda: self.https_url() + path, lambda: self.handle.epoch, auth, self.tls, headers, service)

    def api(self, auth: BasicAuth | None = None) -> API:
        return API(self.endpoint(auth=auth))

    def loki(self, auth: BasicAuth | None = None) -> LokiAPI:
        return LokiAPI(self.endpoint(auth=auth, upstream="loki"))

    def prometheus(self, auth: BasicAuth | None = None) -> PrometheusAPI:
        return PrometheusAPI(self.endpoint("/prometheus", auth, "prometheus"))

    def grafana(self, auth: BasicAuth | None = None) -> GrafanaAPI:
        return GrafanaAPI(self.endpoint(auth=auth, upstream="grafana"))
