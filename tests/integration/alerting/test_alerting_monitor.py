"""Monitoring the monitor: Prometheus scrapes every part of the stack and runs every shipped rule.

A target whose service could not run here (no image) makes its check not evaluated; a
target of a running service that is down fails it.
"""

from __future__ import annotations

from typing import Any

import pytest

from obsgate.bringup.stack import ServiceHandle, Stack, State
from obsgate.checks.stackfiles import PrometheusConfig, ScrapeTarget, recording_and_alerting_rules
from obsgate.clients import PrometheusAPI
from obsgate.errors import NotEvaluated
from obsgate.gate.recorder import GateRecorder
from obsgate.wait import poll

SELF = ("localhost", "127.0.0.1")      # a target Prometheus scrapes on itself


def scraped_service(stack: Stack, target: ScrapeTarget) -> ServiceHandle:
    """The compose service behind a scrape target (its address is the service name on the stack network)."""
    name = "prometheus" if target.host in SELF else target.host
    if name not in stack.services:
        raise AssertionError(f"scrape target {target.address} (job {target.job}) is not a service of the stack: "
                             f"services are {sorted(stack.services)}")
    return stack[name]


def find_target(data: Any, target: ScrapeTarget) -> dict[str, Any] | None:
    return next((t for t in data["activeTargets"]
                 if t.get("scrapePool") == target.job and t["labels"].get("instance") == target.address), None)


@pytest.mark.gate(category="Resilience", weight=1)
def test_prometheus_scrapes_stack_target(scrape_target: ScrapeTarget, stack: Stack, prometheus_api: PrometheusAPI,
                                         prometheus_config: PrometheusConfig, gate: GateRecorder) -> None:
    """Every part of the stack must be scraped and up: a blind spot hides its failure from the alerts."""
    service = scraped_service(stack, scrape_target)
    if service.state is State.UNAVAILABLE:
        raise NotEvaluated(f"target {scrape_target.address} (job {scrape_target.job}): "
                           f"{service.name} cannot run here ({service.reason})")
    service.require()
    seen: dict[str, Any] = {}

    def up() -> bool:
        found = find_target(prometheus_api.targets(), scrape_target)
        seen.update(found or {"health": "not among Prometheus' active targets"})
        return bool(found and found["health"] == "up")

    # Unknown until its first scrape; a service just (re)started needs one more interval.
    timeout = 2 * prometheus_config.scrape_interval_s + 5
    poll(up, timeout_s=timeout, what=f"target {scrape_target.address} (job {scrape_target.job}) to be up",
         evidence=lambda: f"target: health={seen.get('health')!r} lastError={seen.get('lastError')!r} "
                          f"scrapeUrl={seen.get('scrapeUrl')!r}\n{service.log_tail(10)}")
    gate.evidence["target"] = {k: seen.get(k) for k in ("scrapeUrl", "health", "lastScrape", "lastError")}


@pytest.mark.gate(category="Resilience", weight=3)
def test_prometheus_runs_every_shipped_rule(prometheus: ServiceHandle, prometheus_api: PrometheusAPI,
                                            prometheus_config: PrometheusConfig, gate: GateRecorder) -> None:
    """A shipped rule that is not loaded or fails to evaluate is an alert that can never fire."""
    shipped = prometheus_config.shipped_rule_files()
    gate.evidence["rule files"] = [str(p) for p in shipped]
    assert shipped, f"no rule files are mounted for the rule_files of {prometheus_config.path}"
    expected = {rule for path in shipped for rule in recording_and_alerting_rules(path)}
    state: dict[str, Any] = {}

    def judge() -> bool:
        loaded = {(g["name"], r["name"]): r for g in prometheus_api.rules()["groups"] for r in g["rules"]}
        state["missing"] = sorted(expected - set(loaded))
        state["unhealthy"] = {f"{g}/{n}": (r.get("health"), r.get("lastError"))
                              for (g, n), r in loaded.items() if (g, n) in expected and r.get("health") != "ok"}
        return not state["missing"] and not state["unhealthy"]

    # Health is "unknown" until a rule's first evaluation.
    timeout = 2 * prometheus_config.evaluation_interval_s + 5
    try:
        poll(judge, timeout_s=timeout, what="every shipped rule loaded and evaluated without error")
    except AssertionError:
        raise AssertionError(f"shipped rules not running: missing (group, rule) {state['missing']}; "
                             f"not healthy {state['unhealthy']}\n{prometheus.log_tail(15)}") from None
    gate.evidence["rules running"] = len(expected)
