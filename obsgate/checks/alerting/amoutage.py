"""Alertmanager down, then back: Prometheus evaluates on, and an alert that fired meanwhile is delivered.

Runs on the test alert's overlay (obsgate.checks.alerting.alertpath), after its trip, in the
same background thread. Alertmanager is stopped gracefully; a new test alert (a name of its
own, so no Alertmanager group and no notification-log entry of the trip is reused) turns
true while it is down. Prometheus must go on evaluating (the rule group's lastEvaluation
passes the stop, the alert fires) and its notifier fails to send (its own
``prometheus_notifications_errors_total`` / ``dropped_total``, recorded when seen). Then
Alertmanager is started and the time from it being ready again to the receiver's post is
measured against ``alert_after_alertmanager_return_s``.

Nothing is accelerated: the overlay's Prometheus keeps the production flags. Prometheus
never retries a failed send; it resends a firing alert at the first evaluation strictly
later than ``--rules.alert.resend-delay`` (default 1m) after the last send, and evaluation
timestamps sit on exact slots. So from Alertmanager ready the worst case is that delay held
to the next slot (floor(60/15)+1 = 5 slots of 15 s = 75 s) + what is left of the route's
group_wait (none: Alertmanager flushes a new group at once when its alert started longer
than group_wait ago) + the dispatch allowance (5 s) = 80 s, against the 90 s target. A
shorter resend delay would measure a stack that is not the one shipped; the price is that
the drill takes about 100 s (in the background, see alertpath.drills_in_background).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.alerting.phases import NOTIFIER_COUNTERS, AlertTrace
from obsgate.checks.alerting.slack import announces
from obsgate.checks.static.alerting import Budget, Term
from obsgate.clients import AlertmanagerAPI, PrometheusAPI
from obsgate.clients.webhook import Delivery, WebhookReceiver
from obsgate.core.findings import shown
from obsgate.core.wait import WaitTimeout, poll
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import flag
from obsgate.stackfiles.prometheus import prom_duration_s

RETURN_ALERT = "ObsGateAlertmanagerReturn"
RESEND_FLAG = "rules.alert.resend-delay"
RESEND_DEFAULT = "1m"                       # Prometheus' default for --rules.alert.resend-delay
NOTIFIER_S = 15.0       # a failed send shows within the alerting timeout (10 s in prometheus.yml) and a margin


def return_budget(delivery: Budget, prometheus: ServiceSpec, compose: Path) -> Budget:
    """Alertmanager ready -> receiver, worst case: the resend delay held to the next evaluation + the rest of
    the delivery budget (group_wait, dispatch allowance); ``delivery`` is the test alert's (evaluation first)."""
    evaluation, group_wait, *rest = delivery.terms
    configured = flag(prometheus, RESEND_FLAG, "")
    resend = prom_duration_s(configured or RESEND_DEFAULT)
    interval = evaluation.seconds
    held = (math.floor(resend / interval) + 1) * interval if interval else resend
    term = Term(f"resend delay {configured or RESEND_DEFAULT + ' (default)'} held to the first evaluation after it",
                held, shown(compose), f"services.prometheus.command --{RESEND_FLAG}", None)
    # Alertmanager flushes a new group at once when its alert started group_wait ago or longer.
    left = Term(f"{group_wait.what} left after the resend", max(0.0, group_wait.seconds - held), group_wait.file,
                group_wait.key, group_wait.line)
    return Budget(f"{delivery.key}@return", f"an alert fired while Alertmanager was down ({delivery.subject})",
                  (term, left, *rest))


def notifier_failures(api: PrometheusAPI) -> dict[str, float]:
    """Prometheus' own notifier failure counters (errors per Alertmanager URL, dropped), from its /metrics."""
    return api.counters(NOTIFIER_COUNTERS, by="alertmanager")


def grown(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """The counters that went up between two reads, by how much."""
    return {k: v - before.get(k, 0.0) for k, v in sorted(after.items()) if v > before.get(k, 0.0)}


def describe(failures: dict[str, float]) -> str:
    """Grown notifier counters in words: failed sends per Alertmanager URL, alerts dropped."""
    words = []
    for key, count in failures.items():
        name, _, url = key.partition('{alertmanager="')
        what = "failed sends" if name == NOTIFIER_COUNTERS[0] else "alerts dropped"
        url = url.removesuffix('"}')
        words.append(f"{count:g} {what}" + (f" to {url}" if url else ""))
    return ", ".join(words) or "no failed send"


def last_evaluation(api: PrometheusAPI, group: str) -> float | None:
    """When Prometheus last evaluated rule group ``group`` (Unix seconds), None before its first evaluation."""
    return next((g.last_evaluation for g in api.rules() if g.name == group), None)


@dataclass
class Return:
    """What the outage showed (wall-clock Unix seconds)."""

    alertname: str
    budget: Budget
    stopped_at: float                   # Alertmanager stopped (graceful stop returned)
    true_at: float                      # the new alert's rule turned true
    firing_at: float                    # Prometheus' activeAt, while Alertmanager was down
    evaluated: tuple[float | None, float]   # the group's lastEvaluation at the stop and once firing
    failures: dict[str, float]          # notifier counters that grew while Alertmanager was down
    ready_s: float                      # Alertmanager start -> ready
    ready_at: float
    received_at: float | None           # Alertmanager accepted it again
    delivery: Delivery
    arms: int

    @property
    def return_s(self) -> float:
        return self.delivery.received_at - self.ready_at

    def evidence(self) -> dict[str, Any]:
        def since_stop(moment: float | None) -> float | None:
            return None if moment is None else round(moment - self.stopped_at, 3)
        resent = None if self.received_at is None else round(self.received_at - self.ready_at, 3)
        return {"alert": self.alertname, "worst case": self.budget.arithmetic, "arms": self.arms,
                "while down (s after the stop)": {
                    "rule true": since_stop(self.true_at), "firing in Prometheus": since_stop(self.firing_at),
                    "group lastEvaluation": [since_stop(self.evaluated[0]), since_stop(self.evaluated[1])],
                    "notifier failures": self.failures or "not observed within "
                                                          f"{NOTIFIER_S:g} s of firing"},
                "alertmanager_ready_again_s": round(self.ready_s, 3),
                "split": {"ready -> Alertmanager has it (the resend)": resent,
                          "ready -> receiver": round(self.return_s, 3)}}


@dataclass
class AlertmanagerOutage:
    """Stop the overlay's Alertmanager, fire a new alert, start it again, wait for the alert at the receiver."""

    prometheus: ServiceHandle
    alertmanager: ServiceHandle
    api: PrometheusAPI
    am_api: AlertmanagerAPI
    receiver: WebhookReceiver
    marker: str                         # carried in the test rule's summary: this run's posts only
    group: str                          # the rule group the test rule is written into

    def run(self, arm: Callable[[str], float | None], arms: int, evaluation_s: float, budget: Budget,
            deadline_s: float) -> Return:
        """``arm(name)`` writes and loads the rule, returning when it turns true (None: re-arm); firing is awaited
        for two evaluations (``evaluation_s``) after that, the receiver after the return for ``deadline_s``."""
        before, evaluated_before = notifier_failures(self.api), last_evaluation(self.api, self.group)
        self.alertmanager.stop()
        stopped_at = time.time()
        alertname, true_at, armed = RETURN_ALERT, None, 0
        while true_at is None and armed < arms:
            armed += 1
            alertname = RETURN_ALERT if armed == 1 else f"{RETURN_ALERT}Rearm{armed}"
            true_at = arm(alertname)
        if true_at is None:
            raise AssertionError(f"could not arm {RETURN_ALERT}: Prometheus' notifier took too long to reload "
                                 f"each of {arms} times")
        firing = poll(lambda: self._firing(alertname, stopped_at),
                      timeout_s=true_at - time.time() + 2 * evaluation_s + 5,
                      what=f"Prometheus to evaluate on and fire {alertname} while Alertmanager is down",
                      evidence=lambda: self.prometheus.log_tail(20))
        try:
            failures = poll(lambda: grown(before, notifier_failures(self.api)), timeout_s=NOTIFIER_S,
                            what="Prometheus' notifier to count a failed send")
        except WaitTimeout:
            failures = {}
        ready_s = self.alertmanager.start()
        ready_at = time.time()
        since_return = notifier_failures(self.api)
        trace = AlertTrace({"alertname": alertname}, self.api, self.am_api, self.receiver,
                           lambda d: announces(d, alertname, marker=self.marker))
        try:
            delivery = trace.wait(deadline_s, f"{alertname} (fired while Alertmanager was down) at the Slack "
                                              "receiver after Alertmanager's return", origin=ready_at)
        except WaitTimeout as exc:
            # Where Prometheus still fails to send is the likeliest cause: it leads the message.
            failed = describe(grown(since_return, notifier_failures(self.api)))
            raise WaitTimeout(f"Prometheus' notifier since Alertmanager's return: {failed}; {exc}\n"
                              f"{self.prometheus.log_tail(10)}\n{self.alertmanager.log_tail(10)}") from None
        return Return(alertname, budget, stopped_at, true_at, firing[0], (evaluated_before, firing[1]), failures,
                      ready_s, ready_at, trace.received_at, delivery, armed)

    def _firing(self, alertname: str, stopped_at: float) -> tuple[float, float] | None:
        """(activeAt, lastEvaluation) once the alert fires and its group was evaluated after the stop."""
        alert = next((a for a in self.api.alerts() if a.labels.get("alertname") == alertname and a.state == "firing"),
                     None)
        evaluated = last_evaluation(self.api, self.group)
        if alert is None or evaluated is None or evaluated <= stopped_at:
            return None
        return alert.active_at, evaluated
