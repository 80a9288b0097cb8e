"""Prometheus' HTTP API: readiness, targets, rules, instant queries, active alerts, its Alertmanagers, its flags,
its build and its loaded config.

Each answer is parsed here, once, into the few fields the checks use.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from obsgate.clients.http import API, labels_of, rfc3339

NEVER = "0001-01-01T00:00:00Z"      # Prometheus' zero time: a group not evaluated yet


@dataclass(frozen=True)
class Series:
    """One series of a query answer: its labels and its (unix s, value) points (one for an instant vector)."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]

    @property
    def value(self) -> float:
        """The latest value (an instant vector's only one)."""
        return self.points[-1][1]


def series(data: Mapping[str, Any]) -> list[Series]:
    """The series of a ``vector`` or ``matrix`` answer (Prometheus', and Loki's metric queries)."""
    kind = data.get("resultType")
    if kind not in ("vector", "matrix"):
        raise ValueError(f"expected a vector or matrix answer, got {kind!r}")
    return [Series(labels_of(s.get("metric")),
                   tuple((float(t), float(v)) for t, v in ([s["value"]] if kind == "vector" else s["values"])))
            for s in data["result"]]


@dataclass(frozen=True)
class Target:
    """An active scrape target."""

    job: str                    # its scrape pool
    instance: str
    health: str                 # up, down, unknown (before its first scrape)
    last_error: str
    scrape_url: str
    last_scrape: str

    @classmethod
    def of(cls, t: Mapping[str, Any]) -> Target:
        return cls(str(t.get("scrapePool", "")), labels_of(t.get("labels")).get("instance", ""), str(t.get("health", "")),
                   str(t.get("lastError", "")), str(t.get("scrapeUrl", "")), str(t.get("lastScrape", "")))


@dataclass(frozen=True)
class Rule:
    name: str
    health: str                 # ok, err, unknown (before its first evaluation)
    last_error: str


@dataclass(frozen=True)
class RuleGroup:
    name: str
    last_evaluation: float | None       # unix s: when its last evaluation started; None before the first
    rules: tuple[Rule, ...]
    evaluation_s: float = 0.0           # how long that evaluation took
    interval_s: float = 0.0             # how often the group is evaluated

    @classmethod
    def of(cls, g: Mapping[str, Any]) -> RuleGroup:
        evaluated = str(g.get("lastEvaluation") or NEVER)
        return cls(str(g["name"]), None if evaluated.startswith("0001-") else rfc3339(evaluated),
                   tuple(Rule(str(r["name"]), str(r.get("health", "")), str(r.get("lastError", "")))
                         for r in g.get("rules") or []),
                   float(g.get("evaluationTime") or 0.0), float(g.get("interval") or 0.0))


@dataclass(frozen=True)
class LoadedRule:
    """A rule as Prometheus loaded it: ``query`` is its expression as Prometheus prints it back."""

    kind: str                   # alerting | recording
    name: str
    query: str
    for_s: float                # ``duration``: 0 for a recording rule
    labels: Mapping[str, str]


@dataclass(frozen=True)
class LoadedGroup:
    name: str
    file: str                   # the rule file it came from, as the container sees it
    interval_s: float
    rules: tuple[LoadedRule, ...]

    @classmethod
    def of(cls, g: Mapping[str, Any]) -> LoadedGroup:
        return cls(str(g["name"]), str(g.get("file", "")), float(g.get("interval") or 0.0),
                   tuple(LoadedRule(str(r.get("type", "")), str(r["name"]), str(r.get("query", "")),
                                    float(r.get("duration") or 0.0), labels_of(r.get("labels")))
                         for r in g.get("rules") or []))


@dataclass(frozen=True)
class BuildInfo:
    """What a Prometheus-family binary says it is (``/api/v1/status/buildinfo``; Loki answers the same fields)."""

    version: str                # as the binary reports it, e.g. 2.48.1 or Debian's 2.42.0+ds
    revision: str
    branch: str

    @classmethod
    def of(cls, d: Mapping[str, Any]) -> BuildInfo:
        return cls(str(d.get("version", "")), str(d.get("revision", "")), str(d.get("branch", "")))


@dataclass(frozen=True)
class PromAlert:
    """A pending or firing alert."""

    labels: Mapping[str, str]
    state: str
    active_at: float            # unix s: the evaluation that made it active

    @classmethod
    def of(cls, a: Mapping[str, Any]) -> PromAlert:
        return cls(labels_of(a.get("labels")), str(a.get("state", "")), rfc3339(str(a["activeAt"])))


class PrometheusAPI(API):
    def ready(self) -> httpx.Response:
        return self.get("/-/ready")

    def targets(self) -> list[Target]:
        return [Target.of(t) for t in self.data("/api/v1/targets")["activeTargets"]]

    def rules(self) -> list[RuleGroup]:
        return [RuleGroup.of(g) for g in self.data("/api/v1/rules")["groups"]]

    def rule_definitions(self) -> list[LoadedGroup]:
        """The loaded rule groups with each rule's expression, ``for``, labels and kind (what drift compares)."""
        return [LoadedGroup.of(g) for g in self.data("/api/v1/rules")["groups"]]

    def buildinfo(self) -> BuildInfo:
        return BuildInfo.of(self.data("/api/v1/status/buildinfo"))

    def loaded_config(self) -> str:
        """The configuration Prometheus runs with, as YAML (``GET /api/v1/status/config``): defaults filled in."""
        return str(self.data("/api/v1/status/config")["yaml"])

    def query(self, expr: str, at_s: float | None = None) -> list[Series]:
        """An instant query, evaluated now or at ``at_s`` (a range selector answers a matrix: all its points)."""
        at = {"time": f"{at_s:.3f}"} if at_s is not None else {}
        return series(self.data("/api/v1/query", query=expr, **at))

    def alerts(self) -> list[PromAlert]:
        """Active (pending and firing) alerts."""
        return [PromAlert.of(a) for a in self.data("/api/v1/alerts")["alerts"]]

    def counters(self, names: Collection[str], by: str | None = None) -> dict[str, float]:
        """Prometheus' own counters ``names`` from its /metrics, each summed over its label sets (0 when absent);
        with ``by``, one sum per value of that label instead, keyed ``name{by="value"}`` (e.g. per Alertmanager URL),
        and ``name`` for samples without it."""
        totals: dict[str, float] = {}
        seen: set[str] = set()
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name in names:
                    value = sample.labels.get(by) if by else None
                    key = sample.name + (f'{{{by}="{value}"}}' if value else "")
                    totals[key] = totals.get(key, 0.0) + sample.value
                    seen.add(sample.name)
        return {**{name: 0.0 for name in names if name not in seen}, **totals}

    def flags(self) -> dict[str, str]:
        """The flags the running Prometheus uses, every one with its value, defaults included (``query.timeout`` ->
        ``2m``; an unset size or time as its zero: 0s, 0B)."""
        return {str(k): str(v) for k, v in self.data("/api/v1/status/flags").items()}

    def alertmanagers(self) -> list[str]:
        """The URLs of the Alertmanagers Prometheus' notifier sends to now."""
        return [str(a["url"]) for a in self.data("/api/v1/alertmanagers")["activeAlertmanagers"]]
