"""Prometheus' HTTP API: readiness, targets, rules, instant queries, active alerts."""

from __future__ import annotations

from typing import Any

import httpx

from obsgate.clients.http import API, data


class PrometheusAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/-/ready")

    def buildinfo(self) -> Any:
        return data(self.get("/api/v1/status/buildinfo"))

    def targets(self) -> Any:
        return data(self.get("/api/v1/targets"))

    def rules(self) -> Any:
        return data(self.get("/api/v1/rules"))

    def query(self, expr: str) -> Any:
        return data(self.get("/api/v1/query", params={"query": expr}))

    def alerts(self) -> Any:
        """Active (pending and firing) alerts with their ``activeAt``."""
        return data(self.get("/api/v1/alerts"))["alerts"]
