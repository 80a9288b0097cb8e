"""Grafana's documented HTTP API: health, its version, datasources, search, users, the datasource proxy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.clients.http import API, Endpoint


@dataclass(frozen=True)
class Datasource:
    uid: str
    name: str
    type: str

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> Datasource:
        return cls(str(d.get("uid", "")), str(d.get("name", "")), str(d.get("type", "")))


@dataclass(frozen=True)
class SearchHit:
    """A dashboard or folder found by ``/api/search``."""

    uid: str
    type: str                   # dash-db, dash-folder
    folder_title: str           # "" in the General folder

    @classmethod
    def of(cls, h: Mapping[str, Any]) -> SearchHit:
        return cls(str(h.get("uid", "")), str(h.get("type", "")), str(h.get("folderTitle", "")))


@dataclass(frozen=True)
class DatasourceSettings:
    """A datasource with the settings provisioning sets (``GET /api/datasources``)."""

    uid: str
    name: str
    type: str
    url: str
    is_default: bool

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> DatasourceSettings:
        return cls(str(d.get("uid", "")), str(d.get("name", "")), str(d.get("type", "")), str(d.get("url", "")),
                   bool(d.get("isDefault", False)))


@dataclass(frozen=True)
class DashboardEntry:
    """A dashboard as ``/api/search?type=dash-db`` lists it."""

    uid: str
    title: str
    folder_title: str           # "" in the General folder

    @classmethod
    def of(cls, h: Mapping[str, Any]) -> DashboardEntry:
        return cls(str(h.get("uid", "")), str(h.get("title", "")), str(h.get("folderTitle", "")))


class GrafanaAPI(API):
    """Grafana's documented HTTP API (https://grafana.com/docs/grafana/latest/developers/http_api/)."""

    @classmethod
    def as_admin(cls, grafana: ServiceHandle, secrets: RunSecrets) -> GrafanaAPI:
        """Grafana's API as its admin (user from the compose file, password generated for the run)."""
        endpoint = Endpoint.direct(grafana)
        endpoint.auth = BasicAuth(grafana.spec.environment.get("GF_SECURITY_ADMIN_USER", "admin"),
                                  secrets.grafana_admin_password)
        return cls(endpoint)

    def health(self) -> httpx.Response:
        return self.get("/api/health")

    def version(self) -> str:
        """The version Grafana runs (``version`` of ``GET /api/health``, which needs no credentials)."""
        return str(self.ok("GET", "/api/health").json().get("version", ""))

    def datasource_settings(self) -> list[DatasourceSettings]:
        return [DatasourceSettings.of(d) for d in self.ok("GET", "/api/datasources").json()]

    def dashboards(self) -> list[DashboardEntry]:
        return [DashboardEntry.of(h) for h in self.ok("GET", "/api/search", params={"type": "dash-db"}).json()]

    def datasources(self) -> list[Datasource]:
        return [Datasource.of(d) for d in self.ok("GET", "/api/datasources").json()]

    def datasource_health(self, uid: str) -> httpx.Response:
        return self.get(f"/api/datasources/uid/{uid}/health")

    def search(self, **params: str) -> list[SearchHit]:
        return [SearchHit.of(h) for h in self.ok("GET", "/api/search", params=params).json()]

    def user(self) -> httpx.Response:
        """The signed-in user (``GET /api/user``): 200 only with valid credentials."""
        return self.get("/api/user")

    def signup(self, email: str) -> httpx.Response:
        """Start a self sign-up (``POST /api/user/signup``); 401 when sign-up is disabled."""
        return self.post("/api/user/signup", json={"email": email, "username": email})

    def create_user(self, login: str, password: str) -> int:
        """A new user of the main organisation (``POST /api/admin/users``, as the admin; Viewer by default): its id."""
        body = {"name": login, "login": login, "email": f"{login}@example.invalid", "password": password}
        return int(self.ok("POST", "/api/admin/users", json=body).json()["id"])

    def set_org_role(self, user_id: int, role: str) -> None:
        """The user's role in the main organisation (``PATCH /api/org/users/:id``): Viewer, Editor or Admin."""
        self.ok("PATCH", f"/api/org/users/{user_id}", json={"role": role})

    def delete_user(self, user_id: int) -> None:
        self.ok("DELETE", f"/api/admin/users/{user_id}")

    def loki_query_range(self, datasource_uid: str, query: str, start_ns: int, end_ns: int,
                         limit: int = 100) -> httpx.Response:
        """A LogQL query through Grafana's datasource proxy (Loki's own answer format)."""
        params = {"query": query, "start": str(start_ns), "end": str(end_ns), "limit": str(limit)}
        return self.get(f"/api/datasources/proxy/uid/{datasource_uid}/loki/api/v1/query_range", params=params)
