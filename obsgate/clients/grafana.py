"""Grafana's documented HTTP API: health, datasources, search, users, the datasource proxy."""

from __future__ import annotations

from typing import Any

import httpx

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.clients.http import API, Endpoint


class GrafanaAPI(API):
    """Grafana's documented HTTP API (https://grafana.com/docs/grafana/latest/developers/http_api/)."""

    @classmethod
    def as_admin(cls, grafana: ServiceHandle, secrets: RunSecrets) -> GrafanaAPI:
        """Grafana's API as its admin (user from the compose file, password generated for the run)."""
        endpoint = Endpoint.direct(grafana, grafana.spec.expose[0])
        endpoint.auth = BasicAuth(grafana.spec.environment.get("GF_SECURITY_ADMIN_USER", "admin"),
                                  secrets.grafana_admin_password)
        return cls(endpoint)

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
