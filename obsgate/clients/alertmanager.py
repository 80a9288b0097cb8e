"""Alertmanager's HTTP API (v2): readiness, alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from obsgate.clients.http import API, labels_of, rfc3339


@dataclass(frozen=True)
class AmAlert:
    """An alert Alertmanager holds."""

    labels: Mapping[str, str]
    updated_at: float           # unix s: when Alertmanager last accepted it

    @classmethod
    def of(cls, a: Mapping[str, Any]) -> AmAlert:
        return cls(labels_of(a.get("labels")), rfc3339(str(a["updatedAt"])))


class AlertmanagerAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/-/ready")

    def alerts(self) -> list[AmAlert]:
        return [AmAlert.of(a) for a in self.ok("GET", "/api/v2/alerts").json()]
