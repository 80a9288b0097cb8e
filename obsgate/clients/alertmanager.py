"""Alertmanager's HTTP API (v2): readiness, status, alerts."""

from __future__ import annotations

from typing import Any

import httpx

from obsgate.clients.http import API


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
