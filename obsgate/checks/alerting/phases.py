"""One alert's trip, watched phase by phase: Prometheus -> Alertmanager -> receiver.

A trip's latency is mostly set by configuration (the next evaluation, ``for:``,
``group_wait``); only the rest is the stack's own doing. ``AlertTrace`` polls the three
places an alert passes and keeps the moment it first showed in each, so a check judges
each phase against its own budget and a timeout names the phase the alert is stuck in.

Clocks: Prometheus' ``activeAt`` is the evaluation timestamp (the scheduled slot, the
host clock the containers share); Alertmanager's ``updatedAt`` is when it accepted the
alert; the receiver stamps each post on arrival.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from obsgate.checks.static.alerting import Budget
from obsgate.clients import AlertmanagerAPI, PrometheusAPI
from obsgate.clients.webhook import Delivery, WebhookReceiver
from obsgate.core.policy import Policy, format_number
from obsgate.core.recorder import GateRecorder
from obsgate.core.results import Judgement, Measurement
from obsgate.core.wait import WaitTimeout, poll

POLL_S = 0.25


def _labelled(found: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(found.get(k) == v for k, v in wanted.items())


@dataclass
class AlertTrace:
    """Where one alert (``labels``) has got to, from polls of Prometheus, Alertmanager and the receiver."""

    labels: dict[str, str]
    prometheus: PrometheusAPI
    alertmanager: AlertmanagerAPI
    receiver: WebhookReceiver
    delivered: Callable[[Delivery], bool]
    since: float = 0.0                      # ignore what an earlier alert of the same labels left behind
    active_at: float | None = None          # Prometheus activeAt (evaluation timestamp)
    received_at: float | None = None        # Alertmanager's updatedAt when first seen there
    delivery: Delivery | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def sample(self) -> Delivery | None:
        """One look at all three places; the delivery once the receiver has it."""
        self.delivery = self.delivery or next((d for d in list(self.receiver.deliveries) if self.delivered(d)), None)
        if self.active_at is None:
            try:
                self.active_at = next((a.active_at for a in self.prometheus.alerts()
                                       if _labelled(a.labels, self.labels) and a.active_at >= self.since), None)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.errors["prometheus"] = f"{type(exc).__name__}: {exc}"
        if self.received_at is None:
            try:
                self.received_at = next((a.updated_at for a in self.alertmanager.alerts()
                                         if _labelled(a.labels, self.labels) and a.updated_at >= self.since), None)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.errors["alertmanager"] = f"{type(exc).__name__}: {exc}"
        return self.delivery

    def wait(self, timeout_s: float, what: str, origin: float) -> Delivery:
        """Poll until the receiver has it; on timeout the first line names the phase it is stuck in."""
        try:
            return poll(self.sample, timeout_s=timeout_s, what=what, interval_s=POLL_S)
        except WaitTimeout as exc:
            first, _, rest = str(exc).partition("\n")
            raise WaitTimeout(f"{first}; {self.where(origin)}" + (f"\n{rest}" if rest else "")) from None

    def where(self, origin: float) -> str:
        """The phase the alert is stuck in, and when it reached each place (seconds after ``origin``)."""
        def at(moment: float | None) -> str:
            return "not yet" if moment is None else f"{moment - origin:+.1f} s"
        stuck = ("Prometheus (never active: the rule is not true, or not evaluated)" if self.active_at is None
                 else "Prometheus -> Alertmanager (not received: not sent, or sent elsewhere)"
                 if self.received_at is None else "Alertmanager -> receiver (not posted, or posted elsewhere)")
        errors = "".join(f"; last {k} error: {v}" for k, v in self.errors.items())
        return (f"stuck in {stuck}: Prometheus active {at(self.active_at)}, Alertmanager received "
                f"{at(self.received_at)}, {len(self.receiver.deliveries)} deliveries at the receiver{errors}")


@dataclass(frozen=True)
class Phase:
    """A span of the trip: set by the config (bounded by it) or by the stack (judged by a gate.yml target)."""

    name: str
    seconds: float
    bound_s: float | None = None        # a config-set phase: the most the config allows
    source: str = ""                    # where that bound is set, e.g. "prometheus.yml global.evaluation_interval"
    target_key: str | None = None       # a stack-set phase: its gate.yml target


def judge_phases(gate: GateRecorder, phases: list[Phase]) -> None:
    """Record every phase as a measurement, then fail naming each one that blew its budget."""
    misses = []
    table = gate.evidence.setdefault("phases", {})
    for phase in phases:
        if phase.target_key is not None:
            table[phase.name] = {"s": round(phase.seconds, 3), "budget": f"gate.yml {phase.target_key}"}
            try:
                gate.measure(phase.target_key, phase.seconds, name=phase.name)
            except AssertionError as exc:
                misses.append(str(exc))
            continue
        assert phase.bound_s is not None, f"phase {phase.name} has neither a config bound nor a target"
        met = phase.seconds <= phase.bound_s
        table[phase.name] = {"s": round(phase.seconds, 3), "bound_s": phase.bound_s, "budget": phase.source}
        gate.measurements.append(Measurement(phase.name, round(phase.seconds, 3), "s", None, phase.bound_s, None,
                                             "lower", Judgement.MET if met else Judgement.MISSED))
        if not met:
            misses.append(f"{phase.name}: {phase.seconds:.1f} s > {format_number(phase.bound_s)} s, "
                          f"the most {phase.source} allows")
    if misses:
        shown = ", ".join(f"{p.name} {p.seconds:.1f} s" for p in phases)
        raise AssertionError("; ".join(misses) + f" (phases: {shown})")


def feasible(policy: Policy, budget: Budget, target_key: str) -> float:
    """How long the live check may wait; AssertionError with the arithmetic when the config alone misses the target.

    The policy bounds the wait (its warn band); a config that pages sooner shortens it to its
    own worst case with the stack's allowance widened to the dispatch target's warn band.
    """
    target, dispatch = policy.target(target_key), policy.target("notification_dispatch_s")
    if target.judge(budget.seconds) is Judgement.MISSED:
        raise AssertionError(f"{budget.subject} cannot meet {target_key} whatever the stack does: worst case "
                             f"{target.explain(budget.seconds)}: {budget.arithmetic}")
    widened = budget.seconds - dispatch.value + (dispatch.warn or dispatch.value)
    return min(target.warn or target.value, widened)
