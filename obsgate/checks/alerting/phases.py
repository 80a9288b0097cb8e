"""One alert's trip, watched phase by phase: Prometheus -> Alertmanager -> receiver.

A trip's latency is mostly set by configuration (the next evaluation, ``for:``,
``group_wait``); only the rest is the stack's own doing. ``AlertTrace`` polls the three
places an alert passes and keeps the moment it first showed in each, so a check judges
each phase against its own budget and a timeout names the phase the alert is stuck in.

Clocks: Prometheus' ``activeAt`` is the evaluation timestamp (the scheduled slot, the
host clock the containers share); the moment it fired is its rule group's ``lastEvaluation``
(when that evaluation started) as first seen with the alert firing, observed rather than
inferred from ``for:``; Alertmanager's ``updatedAt`` is when it accepted the alert; the receiver
stamps each post on arrival.

A busy machine can eat a trip's time (Prometheus evaluating late, every service slow), and a
good stack must not fail for it: ``TripLoad`` holds what the services and the machine recorded
over the trip, and a missed budget is *inconclusive* (not evaluated) when the machine's CPUs
were busy and no service recorded a fault of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from obsgate.checks.static.alerting import Budget
from obsgate.clients import AlertmanagerAPI, PrometheusAPI
from obsgate.clients.webhook import Delivery, WebhookReceiver
from obsgate.core.errors import NotEvaluated
from obsgate.core.machine import CpuTimes
from obsgate.core.policy import Policy, format_number
from obsgate.core.recorder import GateRecorder
from obsgate.core.results import Judgement, Measurement
from obsgate.core.wait import WaitTimeout, poll

POLL_S = 0.25
BUSY_SHARE = 0.9        # the machine's CPUs busy at least this share of a trip: it can have eaten the time
MISSED = "prometheus_rule_group_iterations_missed_total"
# Faults a service records itself: with any of them grown, a missed budget is the stack's, however busy the machine.
NOTIFIER_COUNTERS = ("prometheus_notifications_errors_total", "prometheus_notifications_dropped_total")
FAULTS = (*NOTIFIER_COUNTERS, "prometheus_rule_evaluation_failures_total")


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
    fired_at: float | None = None           # the start of the evaluation first seen with it firing
    received_at: float | None = None        # Alertmanager's updatedAt when first seen there
    delivery: Delivery | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def sample(self) -> Delivery | None:
        """One look at all three places; the delivery once the receiver has it."""
        self.delivery = self.delivery or next((d for d in list(self.receiver.deliveries) if self.delivered(d)), None)
        if self.fired_at is None:
            try:
                mine = [a for a in self.prometheus.alerts() if _labelled(a.labels, self.labels) and a.active_at >= self.since]
                self.active_at = self.active_at or next((a.active_at for a in mine), None)
                if any(a.state == "firing" for a in mine):
                    self.fired_at = self._evaluated_at()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.errors["prometheus"] = f"{type(exc).__name__}: {exc}"
        if self.received_at is None:
            try:
                self.received_at = next((a.updated_at for a in self.alertmanager.alerts()
                                         if _labelled(a.labels, self.labels) and a.updated_at >= self.since), None)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.errors["alertmanager"] = f"{type(exc).__name__}: {exc}"
        return self.delivery

    def _evaluated_at(self) -> float:
        """When the evaluation that made the alert fire started: its group's last evaluation, read just after
        seeing it firing (now, were the group not found)."""
        name = self.labels.get("alertname")
        group = next((g for g in self.prometheus.rules() if any(r.name == name for r in g.rules)), None)
        return group.last_evaluation if group is not None and group.last_evaluation else time.time()

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


@dataclass(frozen=True)
class TripLoad:
    """What Prometheus and the machine recorded over a trip: whether a missed budget can be the machine's."""

    busy_share: float | None            # the machine's CPUs, 0..1; None where /proc/stat cannot speak for Docker
    missed_iterations: float            # rule group evaluations Prometheus skipped, running late
    faults: dict[str, float]            # FAULTS grown during the trip

    def excuse(self) -> str | None:
        """Why a missed budget is the machine's doing, or None: then it is the stack's."""
        if self.faults or self.busy_share is None or self.busy_share < BUSY_SHARE:
            return None
        missed = f", Prometheus missed {self.missed_iterations:.0f} rule evaluations" if self.missed_iterations else ""
        return f"the machine was busy: its CPUs {self.busy_share:.0%} busy during the trip{missed}, no service recorded a fault"

    def evidence(self) -> dict[str, Any]:
        return {"machine_cpu_busy": None if self.busy_share is None else round(self.busy_share, 3),
                "prometheus_missed_iterations": self.missed_iterations, "faults": self.faults}


@dataclass
class TripWatch:
    """Started when a trip begins; ``load()`` once it ends."""

    prometheus: PrometheusAPI
    counters: dict[str, float]
    cpu: CpuTimes | None

    @classmethod
    def start(cls, prometheus: PrometheusAPI) -> TripWatch:
        return cls(prometheus, prometheus.counters((MISSED, *FAULTS)), CpuTimes.now())

    def load(self) -> TripLoad:
        busy = self.cpu.busy_share_until(CpuTimes.now()) if self.cpu is not None else None
        now = self.prometheus.counters((MISSED, *FAULTS))
        grown = {k: now[k] - self.counters[k] for k in FAULTS if now[k] > self.counters[k]}
        return TripLoad(busy, now[MISSED] - self.counters[MISSED], grown)


def judge_phases(gate: GateRecorder, phases: list[Phase], load: TripLoad | None = None) -> None:
    """Record every phase as a measurement, then fail naming each one that blew its budget, or, when ``load``
    shows the machine ate the time, say so: inconclusive (not evaluated), never a failure of the stack."""
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
    if load is not None:
        gate.evidence["trip_load"] = load.evidence()
    if misses:
        shown = ", ".join(f"{p.name} {p.seconds:.1f} s" for p in phases)
        said = "; ".join(misses) + f" (phases: {shown})"
        excuse = load.excuse() if load is not None else None
        if excuse:
            raise NotEvaluated(f"inconclusive — {excuse}: {said}")
        raise AssertionError(said)


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
