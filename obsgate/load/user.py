"""The Locust side: the push user, the query user, the run's tally, and stopping a run on bad input.

Importing this module imports Locust (which monkey-patches the process with gevent) and
registers its event listeners on ``locust.events``: the custom arguments (``options``), their
validation before any user spawns, a preflight push when the test starts, the tally's
aggregation from workers (``--processes`` or ``--master``/``--worker``) and a summary at exit.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
import gevent.ssl
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from obsgate.clients.tls import client_context
from obsgate.load import options as load_options
from obsgate.load.limits import Refusal, classify, classify_error
from obsgate.load.options import EXIT_BAD_INPUT, PUSH_PATH, QUERY_PATH, LoadOptions, OptionError
from obsgate.load.payloads import CONTENT_TYPES, FormatMix, Template, TickClock, build_user_payloads

log = logging.getLogger("obsgate.load")
PROCESS_TAG = f"{os.getpid():x}{uuid.uuid4().hex[:4]}"


def _new_process_tag() -> None:
    """Each process its own streams: ``--processes`` forks its workers after this module's import, and
    two workers sharing a tag would push the same streams, where Loki drops lines equal in time and text."""
    global PROCESS_TAG
    PROCESS_TAG = f"{os.getpid():x}{uuid.uuid4().hex[:4]}"


os.register_at_fork(after_in_child=_new_process_tag)
ABORT_MESSAGE = "obsgate_abort"
PREFLIGHT_TIMEOUT_S = 5.0
PREFLIGHT_BODY = {"streams": [{"stream": {"job": "obsgate-preflight"}, "values": []}]}
PREFLIGHT_DONE = gevent.event.Event()   # users wait for the preflight push before their first own push
MAX_RECORDED = 2_000_000          # latencies kept per run for the gate's percentiles (bounded memory)
_owners = itertools.count()


@dataclass
class Tally:
    """What this process's users pushed and Loki acknowledged (204), and why the rest failed."""

    pushes: int = 0
    lines: int = 0
    line_bytes: int = 0
    body_bytes: int = 0
    by_format: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    failed_lines: int = 0
    failed_line_bytes: int = 0       # with line_bytes: what was offered, answered or not (the web UI's MiB/s)
    record: bool = False             # keep (end time, seconds, ok, lines) per push and query: programmatic runs
    push_latencies: list[tuple[float, float, bool, int]] = field(default_factory=list)
    query_latencies: list[tuple[float, float, bool, int]] = field(default_factory=list)
    aborted: str | None = None

    def ok(self, template: Template, body_bytes: int, seconds: float) -> None:
        self.pushes += 1
        self.lines += template.lines
        self.line_bytes += template.line_bytes
        self.body_bytes += body_bytes
        self.by_format[template.fmt] += template.lines
        self._keep(self.push_latencies, seconds, True, template.lines)

    def failed(self, refusal: Refusal, template: Template, seconds: float) -> None:
        self.failures[refusal.name] += 1
        self.failed_lines += template.lines
        self.failed_line_bytes += template.line_bytes
        self._keep(self.push_latencies, seconds, False, template.lines)

    def query(self, seconds: float, ok: bool) -> None:
        self._keep(self.query_latencies, seconds, ok, 0)

    def _keep(self, into: list[tuple[float, float, bool, int]], seconds: float, ok: bool, lines: int) -> None:
        if self.record and len(into) < MAX_RECORDED:
            into.append((time.time(), seconds, ok, lines))

    def counts(self) -> dict[str, Any]:
        return {"pushes": self.pushes, "lines": self.lines, "line_bytes": self.line_bytes,
                "body_bytes": self.body_bytes, "by_format": dict(self.by_format),
                "failures": dict(self.failures), "failed_lines": self.failed_lines,
                "failed_line_bytes": self.failed_line_bytes}

    def merge(self, counts: dict[str, Any]) -> None:
        """Add a worker's counts (sent as deltas with each report to the master)."""
        for name in ("pushes", "lines", "line_bytes", "body_bytes", "failed_lines", "failed_line_bytes"):
            setattr(self, name, getattr(self, name) + counts[name])
        self.by_format.update(counts["by_format"])
        self.failures.update(counts["failures"])


TALLY = Tally()
_reported: dict[str, Any] = Tally().counts()


def current_options(environment: Environment) -> LoadOptions:
    """The run's validated options, cached on the environment until the next test start.

    A programmatic run sets ``environment.obsgate_options`` itself (with its own plan) and
    ``environment.obsgate_fixed = True``.
    """
    cached = getattr(environment, "obsgate_options", None)
    if cached is None:
        cached = load_options.from_namespace(_namespace(environment))
        environment.obsgate_options = cached  # type: ignore[attr-defined]
    return cached


def _namespace(environment: Environment) -> Any:
    ns = environment.parsed_options or load_options.defaults()
    ns.host = environment.host or getattr(ns, "host", None)
    return ns


def _headless(environment: Environment) -> bool:
    return bool(environment.parsed_options is None or getattr(environment.parsed_options, "headless", False))


def abort(environment: Environment, reason: str) -> None:
    """Stop the whole run now with one message (bad input: wrong credential, CA, target, shape)."""
    if TALLY.aborted is not None:
        return
    TALLY.aborted = reason
    log.error("obs-gate load: stopping the run: %s", reason)
    environment.process_exit_code = EXIT_BAD_INPUT
    runner = environment.runner
    if runner is None:
        return
    if isinstance(runner, WorkerRunner):
        runner.send_message(ABORT_MESSAGE, {"reason": reason})
    elif _headless(environment):
        gevent.spawn(runner.quit)
    else:
        gevent.spawn(runner.stop)      # the web UI stays up, showing the run stopped


def _ssl_factory(options: LoadOptions) -> Any:
    """gevent's context (cooperative sockets for FastHttpUser), verifying as strictly as the rest of the gate."""
    return lambda: client_context(options.ca_file, gevent.ssl.create_default_context)


def _auth_header(auth: tuple[str, str] | None) -> dict[str, str]:
    if auth is None:
        return {}
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class _LokiUser(FastHttpUser):
    """A FastHttpUser verifying TLS against the run's CA file (never insecure)."""

    abstract = True
    insecure = False
    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, environment: Environment) -> None:
        self.options = current_options(environment)
        self.ssl_context_factory = _ssl_factory(self.options)
        self.host = self.options.host
        super().__init__(environment)


class LokiPushUser(_LokiUser):
    """One log shipper (a store's Promtail/agent): owns its streams, pushes ``--user-rps`` times a second."""

    def on_start(self) -> None:
        PREFLIGHT_DONE.wait(timeout=PREFLIGHT_TIMEOUT_S + 5)
        if TALLY.aborted is not None:
            return                    # its first task stops it
        owner = next(_owners)
        self.payloads = build_user_payloads(self.options.payload, owner, PROCESS_TAG, self.options.run_tag,
                                            pause=lambda: gevent.sleep(0))
        self.clock, self.mix = TickClock(), FormatMix(self.options.payload.protobuf_ratio)
        self.turn = 0
        self.headers = {fmt: {"Content-Type": CONTENT_TYPES[fmt], **_auth_header(self.options.push_auth)}
                        for fmt in CONTENT_TYPES}
        # Spread users over the pacing interval so a ramp does not push in lockstep.
        self.next_at = time.monotonic() + (owner * 0.618034 % 1.0) / self.options.user_rps

    def wait_time(self) -> float:
        """Pace at user_rps: never catch up on a missed slot with a burst."""
        now = time.monotonic()
        self.next_at = max(self.next_at, now)
        wait = self.next_at - now
        self.next_at += 1.0 / self.options.user_rps
        return wait

    @task
    def push(self) -> None:
        if TALLY.aborted is not None:
            raise StopUser()          # (from a task: Locust stops the user quietly)
        fmt = self.mix.next()
        templates = self.payloads.templates[fmt]
        template = templates[self.turn % len(templates)]
        self.turn += 1
        body = template.body(self.clock.tick(time.time_ns()))
        started = time.perf_counter()
        with self.client.post(PUSH_PATH, data=body,  # type: ignore[arg-type]  # bytes: sent as is
                              headers=self.headers[fmt], name=f"push {fmt}",
                              catch_response=True) as response:
            seconds = time.perf_counter() - started
            if response.status_code == 204:
                response.success()
                TALLY.ok(template, len(body), seconds)
                return
            if response.status_code == 0 or response.status_code is None:
                refusal = classify_error(response.error or RuntimeError("no response"))
            else:
                refusal = classify(response.status_code, response.text or "", response.headers.get("server", ""))
            response.failure(refusal.name)
            TALLY.failed(refusal, template, seconds)
        if refusal.fatal:
            abort(self.environment, f"the first push failed: {refusal.name}")
            raise StopUser()


class LokiQueryUser(_LokiUser):
    """An operator's simple LogQL search over this run's errors, every ``--query-interval-s``."""

    fixed_count = 1

    def on_start(self) -> None:
        PREFLIGHT_DONE.wait(timeout=PREFLIGHT_TIMEOUT_S + 5)
        self.query = f'{{gate_run="{self.options.run_tag}", level="error"}} |= "Error"'
        self.headers = _auth_header(self.options.read_auth)

    def wait_time(self) -> float:
        return max(self.options.query_interval_s, 0.0)

    @task
    def search(self) -> None:
        if self.options.query_interval_s <= 0 or TALLY.aborted is not None:
            raise StopUser()
        now = time.time_ns()
        params = {"query": self.query, "start": str(now - 300 * 10**9), "end": str(now + 60 * 10**9), "limit": "100"}
        started = time.perf_counter()
        with self.client.get(QUERY_PATH, params=params, headers=self.headers, name="query",
                             catch_response=True) as response:
            seconds = time.perf_counter() - started
            ok = response.status_code == 200
            if ok:
                response.success()
            elif response.status_code:
                first = (response.text or "").strip().splitlines()[:1] or ["(empty body)"]
                response.failure(f"query {response.status_code}: {first[0][:100]}")
            else:
                response.failure(f"query: {classify_error(response.error or RuntimeError('no response')).name}")
            TALLY.query(seconds, ok)


def preflight(options: LoadOptions, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> str | None:
    """One empty push before any user spawns: None if accepted, else what is wrong (target, TLS, credential).

    Empty as in a stream without entries (204, nothing counted, in 2.9 and 3.x alike), not
    a push without streams: Loki 3.x answers that 422 "at least one valid stream is required".
    """
    context = client_context(options.ca_file)
    request = urllib.request.Request(options.host + PUSH_PATH, data=json.dumps(PREFLIGHT_BODY).encode(),
                                     headers={"Content-Type": "application/json", **_auth_header(options.push_auth)},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s, context=context if options.tls else None):
            return None
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        return classify(exc.code, body, exc.headers.get("server", "")).name
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException) else exc
        refusal = classify_error(reason)
        if refusal.source == "network":
            return f"no answer within {timeout_s:g}s ({refusal.name}): is --host the right port and scheme?"
        return refusal.name


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    load_options.add_arguments(parser)


@events.init.add_listener
def _on_init(environment: Environment, **_: Any) -> None:
    """Refuse bad options before the UI or any user starts; wire the tally's aggregation."""
    runner = environment.runner
    ns = environment.parsed_options
    if ns is not None and not isinstance(runner, WorkerRunner) and not getattr(ns, "run_tag", ""):
        ns.run_tag = f"locust-{uuid.uuid4().hex[:10]}"   # one tag for the run: workers get it with each spawn
    if isinstance(runner, MasterRunner):
        runner.register_message(ABORT_MESSAGE, lambda msg, **_: abort(environment, msg.data["reason"]))
    if not environment.stop_timeout:
        # Let a push in flight finish when the run stops: Loki may already have stored it, and a
        # push cut off unanswered would count as stored but not acknowledged.
        environment.stop_timeout = _LokiUser.network_timeout
    if isinstance(runner, WorkerRunner) or getattr(environment, "obsgate_options", None) is not None:
        return
    try:
        options = current_options(environment)
    except OptionError as exc:
        if _headless(environment):
            log.error("obs-gate load: %s", exc)
            sys.exit(EXIT_BAD_INPUT)
        log.error("obs-gate load: fix this in the start form: %s", exc)
        return
    log.info("obs-gate load: pushing to %s%s, streams tagged gate_run=%s", options.host, PUSH_PATH, options.run_tag)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_: Any) -> None:
    """Options again (the UI's form may have changed them), then one push that must be accepted."""
    if not getattr(environment, "obsgate_fixed", False):
        environment.obsgate_options = None  # type: ignore[attr-defined]
    if isinstance(environment.runner, WorkerRunner):
        PREFLIGHT_DONE.set()                         # the master checks the target
        return
    try:
        options = current_options(environment)
    except OptionError as exc:
        abort(environment, str(exc))
        return
    TALLY.aborted = None
    PREFLIGHT_DONE.clear()
    # Its own greenlet: Locust kills the spawning greenlet this event runs in when a shape moves on.
    gevent.spawn(_preflight, environment, options)


def _preflight(environment: Environment, options: LoadOptions) -> None:
    try:
        problem = preflight(options)
        if problem is not None:
            abort(environment, f"preflight push to {options.host}{PUSH_PATH} failed: {problem}")
        elif environment.shape_class is not None:
            environment.shape_class.reset_time()     # the plan's clock starts once the target answered
    finally:
        PREFLIGHT_DONE.set()


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    counts = TALLY.counts()
    delta = {k: (v - _reported[k]) if isinstance(v, int) else
             {n: c - _reported[k].get(n, 0) for n, c in v.items()} for k, v in counts.items()}
    _reported.update(counts)
    data["obsgate"] = delta


@events.worker_report.add_listener
def _worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if "obsgate" in data:
        TALLY.merge(data["obsgate"])


@events.quitting.add_listener
def _summary(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or TALLY.pushes + sum(TALLY.failures.values()) == 0:
        return
    stats = environment.stats.total
    seconds = max(1e-9, (stats.last_request_timestamp or time.time()) - (stats.start_time or time.time()))
    options = getattr(environment, "obsgate_options", None)
    tag = options.run_tag if options else "?"
    log.info("obs-gate load: %d lines acknowledged (204) in %d pushes, %.0f lines/s, %.2f MiB/s; "
             "%d pushes failed: %s; count them: sum(count_over_time({gate_run=\"%s\"}[1h]))",
             TALLY.lines, TALLY.pushes, TALLY.lines / seconds, TALLY.line_bytes / seconds / 2**20,
             sum(TALLY.failures.values()), dict(TALLY.failures) or "none", tag)
