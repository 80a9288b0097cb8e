"""Loki's own ingestion counters, from its /metrics, read with prometheus_client's text parser.

``loki_distributor_lines_received_total`` counts every line a push carried (parsed, before any
limit); ``loki_discarded_samples_total{reason}`` counts those refused afterwards (tenant or
stream rate limit, line too long, too old ...). Accepted = received - discarded, per window.
``loki_request_duration_seconds{route="loki_api_v1_push"}`` is Loki's own time per push, from its
HTTP server: beside the client's latency it says which share of a slow push Loki spent.
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
PUSH_SECONDS = "loki_request_duration_seconds_bucket"
PUSH_ROUTE = "loki_api_v1_push"


@dataclass(frozen=True)
class LokiCounters:
    """One reading of Loki's ingestion counters, summed over tenants."""

    lines_received: float = 0.0
    bytes_received: float = 0.0
    discarded_lines: Mapping[str, float] = field(default_factory=dict)     # by reason
    discarded_bytes: Mapping[str, float] = field(default_factory=dict)
    push_seconds: Mapping[float, float] = field(default_factory=dict)       # cumulative: upper bound -> pushes

    def __sub__(self, earlier: LokiCounters) -> LokiCounters:
        def minus(now: Mapping[str, float], then: Mapping[str, float]) -> dict[str, float]:
            return {k: v - then.get(k, 0.0) for k, v in now.items() if v - then.get(k, 0.0)}
        return LokiCounters(self.lines_received - earlier.lines_received, self.bytes_received - earlier.bytes_received,
                            minus(self.discarded_lines, earlier.discarded_lines),
                            minus(self.discarded_bytes, earlier.discarded_bytes),
                            {le: n - earlier.push_seconds.get(le, 0.0) for le, n in self.push_seconds.items()})

    @property
    def accepted_lines(self) -> float:
        return self.lines_received - sum(self.discarded_lines.values())

    @property
    def accepted_bytes(self) -> float:
        return self.bytes_received - sum(self.discarded_bytes.values())

    def push_quantile(self, q: float) -> float | None:
        """The q-th percentile of Loki's own push time, as the upper bound of the histogram bucket it
        falls in (an over-estimate by at most one bucket, never an under-estimate); None without pushes."""
        buckets = sorted(self.push_seconds.items())
        total = buckets[-1][1] if buckets else 0.0
        if not total:
            return None
        return next(le for le, n in buckets if n >= total * q / 100)

    def as_dict(self) -> dict[str, Any]:
        return {"lines_received": self.lines_received, "bytes_received": self.bytes_received,
                "discarded_lines": dict(self.discarded_lines), "discarded_bytes": dict(self.discarded_bytes),
                "push_seconds": [[le, n] for le, n in sorted(self.push_seconds.items())]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LokiCounters:
        return cls(float(data["lines_received"]), float(data["bytes_received"]),
                   dict(data["discarded_lines"]), dict(data["discarded_bytes"]),
                   {float(le): float(n) for le, n in data.get("push_seconds", ())})


def parse(text: str) -> LokiCounters:
    """The counters in a /metrics page; absent ones (nothing pushed yet) read as 0."""
    totals: dict[str, float] = {LINES_RECEIVED: 0.0, BYTES_RECEIVED: 0.0}
    discarded: dict[str, dict[str, float]] = {DISCARDED_LINES: {}, DISCARDED_BYTES: {}}
    push: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in (LINES_RECEIVED, BYTES_RECEIVED):
                totals[sample.name] += sample.value
            elif sample.name in discarded:
                reason = sample.labels.get("reason", "")
                discarded[sample.name][reason] = discarded[sample.name].get(reason, 0.0) + sample.value
            elif sample.name == PUSH_SECONDS and sample.labels.get("route") == PUSH_ROUTE:
                le = float(sample.labels["le"])
                push[le] = push.get(le, 0.0) + sample.value
    return LokiCounters(totals[LINES_RECEIVED], totals[BYTES_RECEIVED], discarded[DISCARDED_LINES],
                        discarded[DISCARDED_BYTES], push)


def scrape(url: str, timeout_s: float = 5.0) -> LokiCounters:
    """Read Loki's /metrics at ``url`` (its own port on the run network)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return parse(response.read().decode("utf-8", "replace"))
