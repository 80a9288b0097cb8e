"""Monitoring the monitor: Prometheus scrapes every part of the stack and runs every shipped rule.

A target whose service could not run here (no image) makes its check not evaluated; a
target of a running service that is down fails it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from obsgate.bringup.stack import ServiceHandle, State
from obsgate.checks.alerting.monitor import find_target, first_pass_wait, unknowable
from obsgate.clients import PrometheusAPI
from obsgate.clients.prometheus import Target
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import WaitTimeout, poll
from obsgate.stackfiles.prometheus import PrometheusConfig, RuleFile, ScrapeTarget


@pytest.mark.gate(category="Resilience", weight=1)
def test_prometheus_scrapes_stack_target(scrape_target: ScrapeTarget, service: ServiceHandle, prometheus_api: PrometheusAPI,
                                         prometheus_config: PrometheusConfig, policy: Policy,
                                         gate: GateRecorder) -> None:
    """Every part of the stack must be scraped and up: a blind spot hides its failure from the alerts."""
    if service.state is State.UNAVAILABLE:
        raise NotEvaluated(f"target {scrape_target.address} (job {scrape_target.job}): "
                           f"{service.name} cannot run here ({service.reason})", service.cause)
    service.require()
    target: Target | None = None

    def up() -> bool:
        nonlocal target
        target = find_target(prometheus_api.targets(), scrape_target)
        return target is not None and target.health == "up"

    # Unknown until its first scrape; a service just (re)started needs one more interval.
    interval = prometheus_config.job_scrape_s(scrape_target.job)[0]
    try:
        poll(up, timeout_s=first_pass_wait(policy, interval),
             what=f"target {scrape_target.address} (job {scrape_target.job}) to be up",
             evidence=lambda: f"target: {target or 'not among Prometheus active targets'}")
    except WaitTimeout:
        late = unknowable(policy, interval, f"target {scrape_target.address}", f"job {scrape_target.job} scrape_interval")
        if target is not None and target.health == "unknown" and late is not None:
            raise late from None
        raise
    gate.evidence["target"] = dataclasses.asdict(target)


@pytest.mark.gate(category="Resilience", weight=3)
def test_prometheus_runs_every_shipped_rule(prometheus_api: PrometheusAPI, prometheus_config: PrometheusConfig,
                                            policy: Policy, gate: GateRecorder) -> None:
    """A shipped rule that is not loaded or fails to evaluate is an alert that can never fire."""
    shipped = prometheus_config.shipped_rule_files()
    gate.evidence["rule files"] = [str(p) for p in shipped]
    assert shipped, f"no rule files are mounted for the rule_files of {prometheus_config.path}"
    expected = {rule for path in shipped for rule in RuleFile.load(path).rule_names()}
    state: dict[str, Any] = {}

    def judge() -> bool:
        loaded = {(g.name, r.name): r for g in prometheus_api.rules() for r in g.rules}
        state["missing"] = sorted(expected - set(loaded))
        state["unhealthy"] = {f"{g}/{n}": (r.health, r.last_error)
                              for (g, n), r in loaded.items() if (g, n) in expected and r.health != "ok"}
        return not state["missing"] and not state["unhealthy"]

    # Health is "unknown" until a rule's first evaluation.
    interval = prometheus_config.evaluation_interval_s
    try:
        poll(judge, timeout_s=first_pass_wait(policy, interval), what="every shipped rule loaded and evaluated")
    except AssertionError:
        late = unknowable(policy, interval, "rule health", "global evaluation_interval")
        unknown = all(h == "unknown" for h, _ in state.get("unhealthy", {}).values())
        if late is not None and "missing" in state and not state["missing"] and unknown:
            raise late from None
        raise AssertionError(f"shipped rules not running: missing (group, rule) {state['missing']}; "
                             f"not healthy {state['unhealthy']}") from None
    gate.evidence["rules running"] = len(expected)
