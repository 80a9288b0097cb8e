"""The real "Loki down" page: Loki stopped on the run's stack, LokiDown timed from the stop to the receiver.

The wait is bounded by the policy (``outage_to_page_s``) and, sooner, by the config's own
worst case; a config that cannot page in time fails before Loki is stopped. The trip is
split into the phases the config sets (detection: next scrape + its timeout + next
evaluation; ``for:``; ``group_wait``) and the stack's own share of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.alerting.phases import AlertTrace, Phase, TripLoad, TripWatch, feasible
from obsgate.checks.alerting.slack import announces, payload_summary
from obsgate.checks.static.alerting import AlertingConfig, Budget, RuleTiming, outage_budget
from obsgate.clients import AlertmanagerAPI, PrometheusAPI
from obsgate.clients.webhook import Delivery, WebhookReceiver
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.wait import WaitTimeout, poll

LOKI_DOWN = "LokiDown"          # stack/prometheus/rules/loki.yml: Loki not scraped successfully
LOKI_JOB = "loki"
FIRING_SLACK_S = 1.0            # an evaluation starts this much after its slot at most on an idle machine


@dataclass
class LokiOutage:
    """Loki stopped on demand (as a crash or an operator would leave it)."""

    loki: ServiceHandle
    stopped_at: float | None = None     # wall clock: the stop began
    down_at: float | None = None        # wall clock: the container had exited

    def begin(self) -> float:
        self.stopped_at = time.time()
        self.loki.stop()
        self.down_at = time.time()
        return self.stopped_at


@dataclass
class OutagePage:
    """LokiDown's trip for one outage."""

    outage: LokiOutage
    rule: RuleTiming
    budget: Budget
    delivery: Delivery
    active_at: float
    fired_at: float | None          # observed (see AlertTrace); None if never seen firing before delivery
    received_at: float | None
    load: TripLoad

    @property
    def firing_at(self) -> float:
        """When Prometheus fired it: observed, else inferred (active + for)."""
        return self.fired_at if self.fired_at is not None else self.active_at + self.budget.terms[3].seconds

    def phases(self) -> list[Phase]:
        assert self.outage.stopped_at is not None and self.outage.down_at is not None
        interval, timeout, evaluation, held, group_wait = self.budget.terms[:5]
        return [
            Phase("loki_down_detection_s", self.active_at - self.outage.down_at,
                  interval.seconds + timeout.seconds + evaluation.seconds,
                  f"{interval.what} + {timeout.what} + {evaluation.what} ({interval.file})"),
            # Prometheus evaluating late (a missed slot) shows here, not in the stack's dispatch.
            Phase("loki_down_firing_s", self.firing_at - self.active_at, held.seconds + FIRING_SLACK_S,
                  f"{held.what} ({held.file}), evaluated at its slot"),
            Phase("loki_down_dispatch_s", self.delivery.received_at - self.firing_at - group_wait.seconds,
                  target_key="notification_dispatch_s"),
            # From the moment Loki is surely gone: a graceful stop may still serve (its length is evidence).
            Phase("loki_down_outage_to_page_s", self.delivery.received_at - self.outage.down_at,
                  target_key="outage_to_page_s"),
        ]

    def evidence(self) -> dict[str, Any]:
        assert self.outage.stopped_at is not None and self.outage.down_at is not None
        since = self.outage.stopped_at
        return {"worst case": self.budget.arithmetic, "payload": payload_summary(self.delivery),
                "timeline_s": {"Loki stopped (container exited)": round(self.outage.down_at - since, 3),
                               "LokiDown active (pending)": round(self.active_at - since, 3),
                               "firing" + ("" if self.fired_at is not None else
                                           f" (not seen: inferred, for: held {self.budget.terms[3].seconds:g} s)"):
                                   round(self.firing_at - since, 3),
                               "Alertmanager received": None if self.received_at is None
                               else round(self.received_at - since, 3),
                               "receiver": round(self.delivery.received_at - since, 3)}}


class LokiDownCheck:
    """LokiDown must reach the receiver through the production path within the outage budget."""

    def __init__(self, config: AlertingConfig, policy: Policy) -> None:
        rule = next((r for r in config.alert_rules() if r.name == LOKI_DOWN), None)
        if rule is None:
            raise AssertionError(f"no {LOKI_DOWN} alert in the rule files of {config.prometheus.path}")
        self.rule, self.policy = rule, policy
        budgets = outage_budget(config, rule, jobs=[LOKI_JOB])
        if not budgets:
            raise AssertionError(f"{LOKI_DOWN}: Prometheus has no scrape job {LOKI_JOB!r}: nothing sees Loki go down")
        self.budget = max(budgets, key=lambda b: b.seconds)
        self.deadline_s = feasible(policy, self.budget, "outage_to_page_s")   # fails now on an impossible config

    def wait_until_quiet(self, prometheus: PrometheusAPI) -> None:
        """Start from a healthy state, or the alert's clock already runs; not evaluated if Prometheus never saw Loki up."""
        def quiet() -> bool:
            return not any(a.labels.get("alertname") == LOKI_DOWN for a in prometheus.alerts())

        interval, timeout, evaluation = (t.seconds for t in self.budget.terms[:3])
        try:
            poll(quiet, timeout_s=min(interval + timeout + evaluation, self.deadline_s),
                 what=f"no {LOKI_DOWN} alert before Loki is stopped")
        except WaitTimeout:
            found = next((t for t in prometheus.targets() if t.job == LOKI_JOB), None)
            target = {"health": found.health, "lastError": found.last_error} if found is not None else {}
            if target.get("health") == "up":
                raise AssertionError(f"{LOKI_DOWN} is active while Prometheus scrapes Loki successfully: "
                                     f"the rule ({self.rule.expr}) fires on a healthy Loki") from None
            raise NotEvaluated(f"Prometheus does not scrape Loki successfully before the outage (health "
                               f"{target.get('health')!r}, last error {target.get('lastError')!r}): "
                               f"test_prometheus_scrapes_stack_target[{LOKI_JOB}] judges that") from None

    def page(self, outage: LokiOutage, receiver: WebhookReceiver, prometheus: PrometheusAPI,
             alertmanager: AlertmanagerAPI) -> OutagePage:
        """Wait (within the deadline) for LokiDown at the receiver once ``outage`` has begun (Loki stopped)."""
        stopped_at = outage.stopped_at
        assert stopped_at is not None, "LokiDown's page awaited before Loki was stopped"
        watch = TripWatch.start(prometheus)
        trace = AlertTrace({"alertname": LOKI_DOWN}, prometheus, alertmanager, receiver,
                           lambda d: d.received_at >= stopped_at and announces(d, LOKI_DOWN), since=stopped_at)
        assert outage.down_at is not None
        delivery = trace.wait(outage.down_at + self.deadline_s - time.time(),
                              f"{LOKI_DOWN} at the Slack receiver after Loki stopped", origin=stopped_at)
        if trace.active_at is None:
            trace.sample()
        assert trace.active_at is not None, f"{LOKI_DOWN} delivered, yet Prometheus never showed it active"
        return OutagePage(outage, self.rule, self.budget, delivery, trace.active_at, trace.fired_at, trace.received_at,
                          watch.load())
