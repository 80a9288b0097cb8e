"""Monitoring the monitor: every part of the stack scraped and up, every shipped rule loaded and healthy.

Waits are for Prometheus' first scrape or evaluation after a (re)start: the config's
interval sets them, the policy bounds them. A config whose interval is longer than the
policy lets the gate wait makes the state unknowable here: not evaluated, and the budget
checks (tests/config/test_alerting_budget.py) carry the failure.
"""

from __future__ import annotations

from collections.abc import Collection

from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.clients.prometheus import Target
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.stackfiles.prometheus import ScrapeTarget

SELF = ("localhost", "127.0.0.1")      # a target Prometheus scrapes on itself
BOUND = "outage_to_page_s"             # nothing Prometheus must notice may take longer than paging an outage


def scraped_name(services: Collection[str], target: ScrapeTarget) -> str:
    """The compose service behind a scrape target (its address is the service name on the stack network)."""
    name = "prometheus" if target.host in SELF else target.host
    if name not in services:
        raise AssertionError(f"scrape target {target.address} (job {target.job}) is not a service of the stack: "
                             f"services are {sorted(services)}")
    return name


def scraped_service(stack: Stack, target: ScrapeTarget) -> ServiceHandle:
    """The service of ``stack`` behind a scrape target, whether it can run here or not."""
    return stack[scraped_name(list(stack.services), target)]


def find_target(active: list[Target], target: ScrapeTarget) -> Target | None:
    """Prometheus' active target for ``target`` of its config, if any."""
    return next((t for t in active if t.job == target.job and t.instance == target.address), None)


def first_pass_wait(policy: Policy, interval_s: float) -> float:
    """How long to wait for the first scrape or evaluation: two intervals, at most the policy's bound."""
    return min(2 * interval_s + 5, policy.target(BOUND).warn or policy.target(BOUND).value)


def unknowable(policy: Policy, interval_s: float, what: str, setting: str) -> NotEvaluated | None:
    """NotEvaluated when ``interval_s`` alone keeps ``what`` unknown longer than the policy lets the gate wait."""
    bound = first_pass_wait(policy, interval_s)
    if 2 * interval_s + 5 <= bound:
        return None
    return NotEvaluated(f"{what} still unknown after {bound:g} s, the most gate.yml {BOUND} lets the gate wait: "
                        f"{setting} {interval_s:g} s is too long (tests/config/test_alerting_budget.py judges it)")
