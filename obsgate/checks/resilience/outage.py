"""One Loki outage behind nginx, on a stack of its own: the page, the gateway's answers, the way back.

One outage serves every "Loki down" check: LokiDown at the on-call receiver
(obsgate.checks.alerting.outage), nginx answering pushes fast with 502/503/504 and CORS
headers while Loki is gone, pushes succeeding again once Loki is back with nothing else
touched, and Grafana's Loki datasource health reporting the failure where Grafana runs.

It runs on an overlay of this run (Loki, Prometheus, Alertmanager, nginx and Grafana from
the production specs; Alertmanager posting to a receiver of its own), in a background
thread from the first integration check on: the minute and a half LokiDown's ``for:``
takes overlaps the other checks, and the run's shared stack never loses Loki. Each check
gets its own outcome, so one failing never makes another fail.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from obsgate.bringup.cleanup import scratch_dir
from obsgate.bringup.context import RunContext
from obsgate.bringup.overlay import overlay_stack
from obsgate.bringup.stack import ServiceFailed, ServiceHandle, Stack, State
from obsgate.checks import grafana as gc
from obsgate.checks.alerting.outage import LokiDownCheck, LokiOutage, OutagePage
from obsgate.checks.alerting.receiver import OwnReceiver
from obsgate.checks.edge.probes import PUSH, echo_problems, push_body, shown
from obsgate.checks.logs import describe, new_run_label
from obsgate.checks.resilience.lifecycle import address_taken
from obsgate.checks.static import alerting
from obsgate.clients import API, AlertmanagerAPI, Gateway, GrafanaAPI, PrometheusAPI
from obsgate.clients.webhook import WebhookReceiver
from obsgate.core import stop
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.wait import poll
from obsgate.stackfiles.nginx import NginxConf

T = TypeVar("T")
SERVICES = ("loki", "prometheus", "alertmanager", "nginx", "grafana")
PROBE_WINDOW_S = 20.0       # nginx caches Loki's address (resolver valid=10s): probe before and after it expires
PROBE_EVERY_S = 2.0


@dataclass
class Outcome(Generic[T]):
    """What one check of the drill gets: a value, or the exception that stopped its part."""

    value: T | None = None
    error: BaseException | None = None

    def get(self) -> T:
        if self.error is not None:
            raise self.error
        assert self.value is not None, "the outage drill ended before this part ran"
        return self.value


def attempt(what: Callable[[], T]) -> Outcome[T]:
    try:
        return Outcome(value=what())
    except Exception as exc:        # each check reports its own part's failure (NotEvaluated included)
        return Outcome(error=exc)


@dataclass(frozen=True)
class GatewayAnswer:
    """One push through nginx while Loki was down."""

    after_down_s: float             # since the Loki container had exited
    seconds: float
    status: int | None
    headers: dict[str, Any]
    cors_problems: tuple[str, ...] = ()     # what keeps a browser on the probing origin from reading it
    error: str | None = None

    def short(self) -> dict[str, Any]:
        return {"after_down_s": round(self.after_down_s, 3), "seconds": round(self.seconds, 3),
                "status": self.status, "error": self.error, "headers": self.headers,
                "cors_problems": list(self.cors_problems)}


@dataclass(frozen=True)
class Recovery:
    """Loki started again: how long until it was ready, then until a push through nginx answered 204."""

    loki_ready_s: float
    push_again_s: float
    addresses: str                  # Loki's address before -> after (a placeholder held the old one)
    restarted: dict[str, str]       # other services whose container (re)started during the outage: name -> StartedAt


@dataclass
class OutageDrill:
    """Everything the outage's checks judge; ``LokiOutageRun.run_on`` fills it."""

    origin: str
    page: Outcome[OutagePage] = field(default_factory=Outcome)
    answers: Outcome[list[GatewayAnswer]] = field(default_factory=Outcome)
    recovery: Outcome[Recovery] = field(default_factory=Outcome)
    grafana: Outcome[gc.Reply] = field(default_factory=Outcome)
    evidence: dict[str, Any] = field(default_factory=dict)

    def fail_all(self, exc: BaseException) -> None:
        """The drill itself could not run: every part says why."""
        for name in ("page", "answers", "recovery", "grafana"):
            part: Outcome[Any] = getattr(self, name)
            if part.value is None and part.error is None:
                part.error = exc


def _required(stack: Stack, name: str) -> ServiceHandle:
    """A ready service of the outage stack; one absent or unable to start leaves its parts not evaluated."""
    if name not in stack.services:
        raise NotEvaluated(f"{name}: not a service of this compose file")
    try:
        return stack[name].require()
    except ServiceFailed as exc:
        raise NotEvaluated(f"{name} of the outage stack did not become ready (test_{name}_is_ready judges that): "
                           f"{str(exc).splitlines()[0][:300]}") from None


@dataclass
class Pager:
    """What waits for LokiDown: the check and the outage stack's Prometheus, Alertmanager and receiver."""

    check: LokiDownCheck
    receiver: WebhookReceiver
    prometheus: PrometheusAPI
    alertmanager: AlertmanagerAPI

    def page(self, outage: LokiOutage) -> OutagePage:
        return self.check.page(outage, self.receiver, self.prometheus, self.alertmanager)

    def close(self) -> None:
        self.prometheus.close()
        self.alertmanager.close()


class LokiOutageRun:
    """The drill's steps on its overlay: healthy first, then Loki stopped, probed, paged, started again."""

    def __init__(self, run: RunContext, workdir: Path, policy: Policy, check: LokiDownCheck | None) -> None:
        self.run, self.policy, self.check = run, policy, check
        self.receiver = OwnReceiver(run, workdir)
        self.drill = OutageDrill(origin="")
        self.label = new_run_label(run.run_id)

    def services(self) -> dict[str, Any]:
        specs = self.run.project.services
        chosen = {name: specs[name] for name in SERVICES if name in specs}
        if "alertmanager" in chosen:
            chosen["alertmanager"] = self.receiver.alertmanager(chosen["alertmanager"])
        return chosen

    def push(self, pusher: API) -> httpx.Response:
        return pusher.post(PUSH, json=push_body(self.label), headers={"Origin": self.drill.origin})

    def run_on(self, stack: Stack) -> None:
        loki = _required(stack, "loki")
        pusher = attempt(lambda: self._pusher(stack))      # the gateway's parts only: the page needs no nginx
        pager = attempt(lambda: self._pager(stack)) if self.check is not None else Outcome[Pager]()
        self.drill.page.error = pager.error
        try:
            others = {h.name: started_at(h) for h in stack if h.name != "loki" and h.state is State.READY}
            outage, old_ip = LokiOutage(loki), loki.ip
            # Loki comes back on a new address, as on a busy host: nginx must re-resolve it.
            holder = stack["nginx"].image.ref if pusher.value is not None else None
            with (address_taken(loki, holder, stop=outage.begin) if holder else _stopped(outage)):
                with ThreadPoolExecutor(max_workers=1, thread_name_prefix="obsgate-outage-probe") as probes:
                    answers = probes.submit(lambda: self._probe_while_down(pusher.get(), outage))
                    if pager.value is not None:
                        self.drill.page = attempt(lambda: pager.get().page(outage))
                    self.drill.answers = attempt(answers.result)
                self.drill.grafana = attempt(lambda: self._grafana_health(stack))
                self.drill.recovery = attempt(lambda: self._recover(loki, pusher.get(), stack, others, old_ip))
        finally:
            for part in (pusher.value, pager.value):
                if part is not None:
                    part.close()

    def _pager(self, stack: Stack) -> Pager:
        """LokiDown's check on the outage stack's Prometheus, once it sees a healthy Loki."""
        prometheus, alertmanager = _required(stack, "prometheus"), _required(stack, "alertmanager")
        assert self.receiver.webhook is not None and self.check is not None
        pager = Pager(self.check, self.receiver.webhook,
                      PrometheusAPI.direct(prometheus), AlertmanagerAPI.direct(alertmanager))
        try:
            pager.check.wait_until_quiet(pager.prometheus)
        except BaseException:
            pager.close()
            raise
        return pager

    def _pusher(self, stack: Stack) -> API:
        """The push credential at the outage stack's nginx, once a push through it works with Loki up."""
        nginx = _required(stack, "nginx")
        allow = NginxConf.of_service(nginx.spec).cors_allow_list()
        if not allow.exact:
            raise NotEvaluated("nginx.conf's CORS allow-list lists no origin (test_cors_preflight_from_allowed_"
                               "origin_is_answered judges that): no browser origin to probe with")
        self.drill.origin = allow.exact[0]
        pusher = Gateway(nginx, self.run.secrets).api(self.run.secrets.push)
        # Long enough that a hang shows as a measured hang, not as this client's timeout.
        pusher.timeout_s = 3 * self.policy.target("gateway_error_s").value
        first = self.push(pusher)
        if first.status_code != 204:
            pusher.close()
            raise NotEvaluated(f"a push through the outage stack's nginx failed before Loki was stopped: "
                               f"{describe(first)} (test_cors_headers_on_accepted_push judges that)")
        return pusher

    def _probe_while_down(self, pusher: API, outage: LokiOutage) -> list[GatewayAnswer]:
        """Pushes through nginx from the moment Loki has exited, over the resolver's cache time and past it."""
        poll(lambda: outage.down_at is not None, timeout_s=60, what="Loki of the outage stack to stop",
             evidence=outage.loki.log_tail)
        assert outage.down_at is not None
        down_at = outage.down_at
        answers: list[GatewayAnswer] = []

        def probe() -> bool:
            """One push; True once the window is over."""
            sent = time.time()
            try:
                response = self.push(pusher)
                answers.append(GatewayAnswer(sent - down_at, time.time() - sent, response.status_code, shown(response),
                                             tuple(echo_problems(response, self.drill.origin))))
            except httpx.HTTPError as exc:
                answers.append(GatewayAnswer(sent - down_at, time.time() - sent, None, {},
                                             error=f"{type(exc).__name__}: {exc}"))
            return time.time() - down_at >= PROBE_WINDOW_S

        poll(probe, timeout_s=PROBE_WINDOW_S + pusher.timeout_s + PROBE_EVERY_S, interval_s=PROBE_EVERY_S,
             what=f"pushes through nginx over {PROBE_WINDOW_S:g} s of the outage")
        return answers

    def _grafana_health(self, stack: Stack) -> gc.Reply:
        """Grafana's Loki datasource health while Loki is down (``grafana`` absent or unable to run: not evaluated)."""
        grafana = _required(stack, "grafana")
        loki_sources = [d for d in gc.provisioned_datasources(grafana.spec) if d.type == "loki"]
        if not loki_sources:
            raise NotEvaluated("no Loki datasource is provisioned (test_grafana_datasources_provisioned judges that)")
        self.drill.evidence["grafana datasource"] = loki_sources[0].uid
        api = GrafanaAPI.as_admin(grafana, self.run.secrets)
        try:
            return gc.Reply.of(api.datasource_health(loki_sources[0].uid))
        finally:
            api.close()

    def _recover(self, loki: ServiceHandle, pusher: API, stack: Stack, others: dict[str, str],
                 old_ip: str) -> Recovery:
        ready_s = loki.start()
        back_at = time.time()
        target = self.policy.target("upstream_recovery_s")
        last: list[str] = []

        def accepted() -> bool:
            try:
                response = self.push(pusher)
            except httpx.HTTPError as exc:
                last[:] = [f"{type(exc).__name__}: {exc}"]
                return False
            last[:] = [describe(response)]
            return response.status_code == 204

        poll(accepted, timeout_s=target.warn if target.warn is not None else target.value, interval_s=0.5,
             what="a push through nginx answering 204 after Loki was ready again",
             evidence=lambda: f"last answer: {last}\n{stack['nginx'].log_tail(10)}")
        push_again_s = time.time() - back_at
        now = {name: started_at(stack[name]) for name in others}
        return Recovery(ready_s, push_again_s, f"{old_ip} -> {loki.ip}", {n: s for n, s in now.items() if s != others[n]})


@contextmanager
def _stopped(outage: LokiOutage) -> Iterator[None]:
    outage.begin()
    yield


def started_at(handle: ServiceHandle) -> str:
    """When the service's container last started (Docker's StartedAt): changes on any restart."""
    container = handle.container
    container.reload()
    return str(container.attrs["State"]["StartedAt"])


def run_drill(run: RunContext, policy: Policy, check: LokiDownCheck | None) -> OutageDrill:
    """Bring the outage stack up, run the drill, remove the stack; never raises (each part carries its outcome).

    ``check``: also wait for LokiDown at the receiver (minutes); without it the outage ends with the probes.
    """
    workdir = scratch_dir(run.run_id, "outage")
    workdir.chmod(0o755)     # mounted into containers whose users are unprivileged
    try:
        try:
            steps = LokiOutageRun(run, workdir, policy, check)
        except Exception as exc:
            unready = OutageDrill(origin="")
            unready.fail_all(exc)
            return unready
        try:
            with overlay_stack(run, "outage", steps.services(), steps.receiver.start) as stack:
                steps.run_on(stack)
        except Exception as exc:
            steps.drill.fail_all(exc)
        finally:
            steps.receiver.close()
        steps.drill.fail_all(NotEvaluated("the outage drill stopped before this part"))
        return steps.drill
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class BackgroundOutage:
    """The drill running beside the other checks, and LokiDown's check, judged feasible before it started."""

    check: Outcome[LokiDownCheck]
    drill: Future[OutageDrill]


@contextmanager
def outage_in_background(run: RunContext, policy: Policy, page: bool) -> Iterator[BackgroundOutage]:
    """The drill in a thread beside the other checks; on exit it is waited for (its stack removed), unless
    the run is stopping: then the thread, a daemon, is left to end on the stop (obsgate.core.stop).

    ``page``: LokiDown's check is built first (a config that cannot page in time fails at once,
    with the arithmetic) and the drill waits for the page.
    """
    check = attempt(lambda: LokiDownCheck(alerting.load(run.project, policy), policy)) if page \
        else Outcome[LokiDownCheck](error=NotEvaluated("no check waits for LokiDown's page"))
    drill = stop.background(lambda: run_drill(run, policy, check.value), "obsgate-outage")
    try:
        yield BackgroundOutage(check, drill)
    finally:
        stop.wait_done(drill)
