"""The test alert: rule -> Prometheus -> Alertmanager -> Slack receiver, through the production routing.

``TestAlertPath`` runs a second, small stack of this run (Prometheus and Alertmanager with
their production configs and route tree) whose rule directory holds one test rule and
nothing else, and whose Slack webhook files point to a receiver of its own: nothing is
shared with the run's stack (alerts, secrets, receiver, network). The rule turns true at a
moment we choose; the trip is timed from that moment and split into its phases. After the
trip, on the same overlay and in the same background thread, Alertmanager is stopped and
started again around a second test alert (obsgate.checks.alerting.amoutage); each drill's
result is settled on its own, so one failing never fails the other's check.

Arming: Prometheus loads the rule on SIGHUP, and every reload empties its notifier's
Alertmanager list until service discovery refills it (up to 5 s; prometheus/prometheus#13064).
An alert evaluated in that window is dropped without a log line and only resent a
``resend_delay`` (1 min) later: the false "0 deliveries" alarm of a healthy stack. So the
rule turns true only after the notifier has its Alertmanager again, and the arm is redone
(a new alert name, so no Alertmanager group is reused) if the refill came too late.
"""

from __future__ import annotations

import posixpath
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from obsgate.bringup.cleanup import scratch_dir
from obsgate.bringup.context import RunContext
from obsgate.bringup.overlay import overlay_stack, with_mount
from obsgate.bringup.stack import ServiceFailed, ServiceHandle, Stack
from obsgate.checks.alerting.amoutage import AlertmanagerOutage, Return, return_budget
from obsgate.checks.alerting.phases import AlertTrace, Phase, TripLoad, TripWatch, feasible
from obsgate.checks.alerting.receiver import OwnReceiver, readable_dir
from obsgate.checks.alerting.routing import CRITICAL
from obsgate.checks.alerting.slack import announces
from obsgate.checks.static.alerting import Budget, load, probe_budget
from obsgate.clients import AlertmanagerAPI, PrometheusAPI
from obsgate.clients.webhook import Delivery, WebhookReceiver
from obsgate.core import stop
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.wait import WaitTimeout, poll
from obsgate.stackfiles.alertmanager import DEFAULT_CONFIG, AlertmanagerConfig
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import flag

T = TypeVar("T")
TEST_ALERT = "ObsGateTestAlert"
TEST_GROUP = "obs-gate-test"
DISCOVERY_REFILL_S = 5.0        # Prometheus' service discovery sends updates at most this often
ARM_S = DISCOVERY_REFILL_S + 1  # the rule turns true this long after the reload that loads it
ARMS = 3                        # re-arms allowed when the machine is too slow for ARM_S


@dataclass
class Trip:
    """What the test alert's trip produced, phase by phase (wall-clock Unix seconds)."""

    delivery: Delivery
    true_at: float                  # the rule's condition turned true
    active_at: float                # Prometheus' activeAt: the evaluation that found it true
    received_at: float | None       # Alertmanager accepted it
    budget: Budget                  # the config's worst case for this route (evaluation + group_wait + dispatch)
    receiver: str                   # the receiver the route tree picks for the (critical) test alert
    channels: list[str]             # that receiver's Slack channels
    warning_receiver: str           # the receiver the same alert would reach as a warning
    arms: int
    load: TripLoad                  # what Prometheus and the machine recorded over the trip

    @property
    def latency_s(self) -> float:
        return self.delivery.received_at - self.true_at

    def phases(self) -> list[Phase]:
        evaluation, group_wait = self.budget.terms[0], self.budget.terms[1]
        in_prometheus = self.active_at - self.true_at
        return [Phase("test_alert_evaluation_s", in_prometheus, evaluation.seconds, f"{evaluation.file} {evaluation.key}"),
                Phase("test_alert_dispatch_s", self.latency_s - in_prometheus - group_wait.seconds,
                      target_key="notification_dispatch_s"),
                Phase("test_alert_true_to_receiver_s", self.latency_s, target_key="alert_delivery_s")]

    def evidence(self) -> dict[str, Any]:
        group_wait = self.budget.terms[1].seconds
        handoff = None if self.received_at is None else round(self.received_at - self.active_at, 3)
        posted = None if self.received_at is None else round(self.delivery.received_at - self.received_at, 3)
        return {"worst case": self.budget.arithmetic, "arms": self.arms,
                "split": {"true -> Prometheus active": round(self.active_at - self.true_at, 3),
                          "Prometheus -> Alertmanager": handoff,
                          f"Alertmanager -> receiver (group_wait {group_wait:g} s)": posted}}


@dataclass(frozen=True)
class Drills:
    """The overlay's two drills, each settled on its own: the trip, then the Alertmanager outage."""

    trip: Future[Trip] = field(default_factory=Future)
    outage: Future[Return] = field(default_factory=Future)


class TestAlertPath:
    """One trip of a test alert through the production routing, on an overlay stack of this run."""

    __test__ = False    # not a pytest test class

    def __init__(self, run: RunContext, workdir: Path, policy: Policy) -> None:
        self.run, self.workdir, self.policy = run, workdir, policy
        self.marker = f"obs-gate probe {uuid.uuid4().hex[:12]}"
        self.config = load(run.project, policy)
        self.alertmanager = AlertmanagerConfig.of_service(run.project.services["alertmanager"])
        self.receiver: WebhookReceiver | None = None

    def _rule_file(self) -> tuple[str, str]:
        """(container dir, file name the first ``rule_files`` entry loads) for the test rule."""
        pattern = str((self.config.prometheus.doc.get("rule_files") or ["/etc/prometheus/rules/*.yml"])[0])
        directory, glob = posixpath.split(posixpath.join(posixpath.dirname(self.config.prometheus.container_path),
                                                         pattern))
        return directory, glob.replace("*", "zz-obs-gate-test", 1)

    def _services(self, rules: Path, receiver: OwnReceiver) -> dict[str, ServiceSpec]:
        specs = self.run.project.services
        prometheus = with_mount(specs["prometheus"], self._rule_file()[0], rules)
        return {"prometheus": prometheus, "alertmanager": receiver.alertmanager(specs["alertmanager"])}

    def _rule(self, alertname: str, true_at: float) -> str:
        return yaml.safe_dump({"groups": [{"name": TEST_GROUP, "rules": [{
            "alert": alertname,
            "expr": f"vector(time()) >= {true_at:.3f}",
            "labels": dict(CRITICAL),
            "annotations": {"summary": self.marker,
                            "description": "End-to-end test alert of the obs-gate release gate."},
        }]}]}, sort_keys=False)

    def _route(self, stack: Stack, severity: str) -> str:
        """The receiver the production route tree picks for the test alert at ``severity`` (amtool)."""
        spec = stack["alertmanager"].spec
        config = flag(spec, "config.file", DEFAULT_CONFIG)
        code, out = stack["alertmanager"].exec(["amtool", "config", "routes", "test", f"--config.file={config}",
                                                f"alertname={TEST_ALERT}", f"severity={severity}"])
        lines = [line for line in out.splitlines() if line.strip() and not line.startswith("Warning")]
        if code != 0 or not lines:
            raise AssertionError(f"amtool could not resolve the route of the test alert ({code}): {out[-300:]}")
        return lines[-1].strip()

    def _arm(self, prometheus: ServiceHandle, api: PrometheusAPI, rules: Path, alertname: str) -> float | None:
        """Write the rule, reload, and return when it turns true; None if the notifier came back too late."""
        true_at = time.time() + ARM_S
        rule = rules / self._rule_file()[1]
        rule.write_text(self._rule(alertname, true_at))
        rule.chmod(0o644)
        prometheus.container.kill(signal="SIGHUP")      # Prometheus re-reads config and rule files
        # Rules are the last thing a reload applies: once the new rule shows, the notifier was reset.
        # (Each arm has its own alert name.)
        poll(lambda: any(r.name == alertname for g in api.rules() for r in g.rules),
             timeout_s=ARM_S * ARMS, what="Prometheus to load the test rule after SIGHUP", evidence=prometheus.log_tail)
        poll(api.alertmanagers, timeout_s=ARM_S * ARMS,
             what="Prometheus' notifier to find Alertmanager again after the reload", evidence=prometheus.log_tail)
        return true_at if time.time() < true_at else None

    def drill(self, drills: Drills) -> None:
        """Bring the overlay up, time the test alert's trip, then the Alertmanager outage; the overlay is removed
        after. Each drill is settled on its own: one failing never fails the other's check."""
        trip, outage = drills.trip, drills.outage
        rules = readable_dir(self.workdir / "rules")
        own = OwnReceiver(self.run, self.workdir)
        delivery = probe_budget(self.config, TEST_ALERT, CRITICAL)
        returned = return_budget(delivery, self.run.project.services["prometheus"], self.run.project.path)
        # A config that cannot meet a target fails its check at once, with the arithmetic.
        trip_s = _settled_on_error(trip, lambda: feasible(self.policy, delivery, "alert_delivery_s"))
        return_s = _settled_on_error(outage, lambda: feasible(self.policy, returned, "alert_after_alertmanager_return_s"))
        if trip.done() and outage.done():
            return

        try:
            with overlay_stack(self.run, "alerts", self._services(rules, own), own.start) as stack:
                self.receiver = own.webhook
                prometheus, alertmanager = (self._ready(stack, name) for name in ("prometheus", "alertmanager"))
                api, am_api = PrometheusAPI.direct(prometheus), AlertmanagerAPI.direct(alertmanager)
                assert self.receiver is not None
                try:
                    if not trip.done():
                        _settle(trip, lambda: self._trip(stack, prometheus, alertmanager, api, am_api, rules,
                                                         delivery, trip_s))
                    if not outage.done():
                        drill = AlertmanagerOutage(prometheus, alertmanager, api, am_api, self.receiver, self.marker,
                                                   TEST_GROUP)
                        _settle(outage, lambda: drill.run(lambda name: self._arm(prometheus, api, rules, name), ARMS,
                                                          self.config.evaluation.seconds, returned, return_s))
                finally:
                    api.close()
                    am_api.close()
        finally:
            own.close()

    def _trip(self, stack: Stack, prometheus: ServiceHandle, alertmanager: ServiceHandle, api: PrometheusAPI,
              am_api: AlertmanagerAPI, rules: Path, budget: Budget, deadline: float) -> Trip:
        """Arm the test rule and time its Slack post by phase."""
        assert self.receiver is not None
        receiver_name, warning_receiver = self._route(stack, "critical"), self._route(stack, "warning")
        alertname, true_at, arms = TEST_ALERT, None, 0
        while true_at is None and arms < ARMS:
            arms += 1
            alertname = TEST_ALERT if arms == 1 else f"{TEST_ALERT}Rearm{arms}"
            true_at = self._arm(prometheus, api, rules, alertname)
        if true_at is None:
            raise AssertionError(f"could not arm the test alert: Prometheus' notifier took longer than "
                                 f"{ARM_S:g} s to find Alertmanager after each of {ARMS} reloads")
        trace = AlertTrace({"alertname": alertname}, api, am_api, self.receiver,
                           lambda d: announces(d, alertname, marker=self.marker))
        watch = TripWatch.start(api)
        try:
            delivery = trace.wait(true_at - time.time() + deadline, f"{alertname} at the Slack receiver",
                                  origin=true_at)
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}\n{prometheus.log_tail(10)}\n{alertmanager.log_tail(10)}") from None
        assert trace.active_at is not None, "delivered, yet Prometheus never showed the alert active"
        return Trip(delivery, true_at, trace.active_at, trace.received_at, budget, receiver_name,
                    self.alertmanager.slack_channels(receiver_name), warning_receiver, arms, watch.load())

    @staticmethod
    def _ready(stack: Stack, name: str) -> ServiceHandle:
        """A ready overlay service; one that cannot start is this check's dependency, judged by its own check."""
        try:
            return stack[name].require()
        except ServiceFailed as exc:
            raise NotEvaluated(f"{name} with the production config did not become ready (test_{name}_is_ready "
                               f"judges that): {str(exc).splitlines()[0][:300]}") from None


def run_drills(run: RunContext, workdir: Path, policy: Policy, drills: Drills) -> None:
    """The overlay's drills in this thread; what fails before a drill is settled (the config, the overlay
    itself) is the prerequisite of both, and both checks get it."""
    try:
        TestAlertPath(run, workdir, policy).drill(drills)
    except BaseException as exc:  # noqa: BLE001 - re-raised by each check still waiting
        for future in (drills.trip, drills.outage):
            if not future.done():
                future.set_exception(exc)


@contextmanager
def drills_in_background(run: RunContext, policy: Policy, trip: bool = True, outage: bool = True) -> Iterator[Drills]:
    """The overlay's drills in a thread beside the other checks; on exit they are waited for (overlay removed),
    unless the run is stopping: then the thread, a daemon, is left to end on the stop (obsgate.core.stop).

    ``trip`` / ``outage``: which drills a selected check needs; the other is not run.
    """
    # Mounted into containers whose users are unprivileged: a world-readable dir (pytest's are 0700).
    workdir = scratch_dir(run.run_id, "test-alert")
    workdir.chmod(0o755)
    drills = Drills()
    for wanted, future in ((trip, drills.trip), (outage, drills.outage)):
        if not wanted:
            future.set_exception(NotEvaluated("no selected check needs this drill"))
    try:
        done = stop.background(lambda: run_drills(run, workdir, policy, drills), "obsgate-test-alert")
        try:
            yield drills
        finally:
            stop.wait_done(done)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _settle(future: Future[T], work: Callable[[], T]) -> None:
    """Run ``work`` into ``future``: its result, or whatever it raised (the check re-raises it)."""
    try:
        future.set_result(work())
    except Exception as exc:  # noqa: BLE001 - every failure of one drill belongs to its own check
        future.set_exception(exc)


def _settled_on_error(future: Future[Any], work: Callable[[], float]) -> float:
    """``work()``; when it raises, ``future`` carries the error (its check fails at once) and 0 is returned."""
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - the check re-raises it
        if not future.done():   # a drill no check selected keeps its "not needed"
            future.set_exception(exc)
        return 0.0
