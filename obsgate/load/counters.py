"""Loki's own ingestion counters, from its /metrics, read with prometheus_client's text parser.

``loki_distributor_lines_received_total`` counts every line a push carried (parsed, before any
limit); ``loki_discarded_samples_total{reason}`` counts those refused afterwards (tenant or
stream rate limit, line too long, too old ...). Accepted = received - discarded, per window.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

LINES_RECEIVED = "loki_distributor_lines_received_total"
BYTES_RECEIVED = "loki_distributor_bytes_received_total"
DISCARDED_LINES = "loki_discarded_samples_total"
DISCARDED_BYTES = "loki_discarded_bytes_total"


@dataclass(frozen=True)
class LokiCounters:
    """One reading of Loki's ingestion counters, summed over tenants."""

    lines_received: float = 0.0
    bytes_received: float = 0.0
    discarded_lines: Mapping[str, float] = field(default_factory=dict)     # by reason
    discarded_bytes: Mapping[str, float] = field(default_factory=dict)

    def __sub__(self, earlier: LokiCounters) -> LokiCounters:
        def minus(now: Mapping[str, float], then: Mapping[str, float]) -> dict[str, float]:
            return {k: v - then.get(k, 0.0) for k, v in now.items() if v - then.get(k, 0.0)}
        return LokiCounters(self.lines_received - earlier.lines_received, self.bytes_received - earlier.bytes_received,
                            minus(self.discarded_lines, earlier.discarded_lines),
                            minus(self.discarded_bytes, earlier.discarded_bytes))

    @property
    def accepted_lines(self) -> float:
        return self.lines_received - sum(self.discarded_lines.values())

    @property
    def accepted_bytes(self) -> float:
        return self.bytes_received - sum(self.discarded_bytes.values())

    def as_dict(self) -> dict[str, Any]:
        return {"lines_received": self.lines_received, "bytes_received": self.bytes_received,
                "discarded_lines": dict(self.discarded_lines), "discarded_bytes": dict(self.discarded_bytes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LokiCounters:
        return cls(float(data["lines_received"]), float(data["bytes_received"]),
                   dict(data["discarded_lines"]), dict(data["discarded_bytes"]))


def parse(text: str) -> LokiCounters:
    """The counters in a /metrics page; absent ones (nothing pushed yet) read as 0."""
    totals: dict[str, float] = {LINES_RECEIVED: 0.0, BYTES_RECEIVED: 0.0}
    discarded: dict[str, dict[str, float]] = {DISCARDED_LINES: {}, DISCARDED_BYTES: {}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (LINES_RECEIVED, BYTES_RECEIVED):
                totals[sample.name] += sample.value
            elif sample.name in discarded:
                reason = sample.labels.get("reason", "")
                discarded[sample.name][reason] = discarded[sample.name].get(reason, 0.0) + sample.value
    return LokiCounters(totals[LINES_RECEIVED], totals[BYTES_RECEIVED], discarded[DISCARDED_LINES],
                        discarded[DISCARDED_BYTES])


def scrape(url: str, timeout_s: float = 5.0) -> LokiCounters:
    """Read Loki's /metrics at ``url`` (its own port on the run network)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return parse(response.read().decode("utf-8", "replace"))
