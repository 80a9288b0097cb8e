"""A gate load run, from the pytest process: plan from the policy, driver process, Docker stats,
and afterwards the completeness count in Loki.

The profile comes from gate.yml: the target rate (``ingest_lines_per_s``) at the policy's line
size (``avg_line_bytes``) in pushes of ``load.lines_per_push`` lines, ramped for ``load.ramp_s``,
then held for the measured ``load.steady_s`` while a simple LogQL query runs every
``load.query_interval_s``; then ``load.margin_s`` at the target plus ``load.offer_margin`` (the
target is proven with margin, not left to pacing noise). It pushes through nginx (TLS against the run's CA, the push
credential), as the POS clients do.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle, Stack, State
from obsgate.checks.logs import new_run_label
from obsgate.clients import Endpoint, LokiAPI
from obsgate.core import progress
from obsgate.core.causes import EXTERNAL
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy, TargetLoadCap
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import WaitTimeout
from obsgate.load import shapes, stored, verdict
from obsgate.load.payloads import LOADGEN_LABEL, LineSizes, PayloadOptions
from obsgate.load.plan import STOP_GRACE_S, DriverPlan
from obsgate.load.resources import ResourceFigures, StatsSampler

STEADY = "steady"                # the gate profile's window at the target rate (shapes.gate_profile)
MARGIN = "margin"                # its window at the target plus load.offer_margin
LOKI_PORT = 3100
USER_RPS = 1.0                   # each push user: one push a second, like an agent's batch interval
COUNT_TIMEOUT_S = 60.0           # acknowledged lines not queryable by then are lost
COUNT_QUERY_TIMEOUT_S = 60.0     # one count over a whole run scans every line of it
DRIVER_OVERHEAD_S = 120.0        # driver process start, payload layout, report writing
PROGRESS_KEY = "load"            # the console's name for the load run's progress


@dataclass(frozen=True)
class GateProfile:
    """The policy's load profile, in the generator's terms."""

    target_lines_per_s: float
    offer_margin: float
    lines_per_push: int
    line_bytes: int
    ramp_s: float
    steady_s: float
    margin_s: float
    query_interval_s: float
    max_generator_cpu: float
    processes: int = 1
    expect_workers: int = 0
    workers_deadline_s: float = 60.0

    @classmethod
    def from_policy(cls, policy: Policy) -> GateProfile:
        load = policy.load()
        return cls(policy.target("ingest_lines_per_s").value, load.offer_margin, load.lines_per_push,
                   int(policy.target("avg_line_bytes").value), load.ramp_s, load.steady_s, load.margin_s,
                   load.query_interval_s,
                   policy.target("generator_cpu_share").value, load.processes, load.expect_workers,
                   load.workers_deadline_s)

    @property
    def offered_lines_per_s(self) -> float:
        """What the margin window offers: the target plus the margin."""
        return self.target_lines_per_s * (1 + self.offer_margin)

    @property
    def pushes_per_s(self) -> float:
        """The steady window's push rate: the target's."""
        return self.target_lines_per_s / self.lines_per_push

    def payload(self) -> PayloadOptions:
        """Pushes of ``lines_per_push`` lines in 10 streams, line sizes 200 B-2 KiB around the policy's mean."""
        sizes = LineSizes(low=min(200, self.line_bytes), high=max(2048, self.line_bytes), mean=self.line_bytes)
        streams = max(10, math.ceil(self.lines_per_push / 1000))
        return replace(PayloadOptions(), lines_per_request=self.lines_per_push, streams_per_request=streams, sizes=sizes)

    def plan(self) -> shapes.Plan:
        return shapes.gate_profile(self.pushes_per_s, self.ramp_s, self.steady_s,
                                   self.offered_lines_per_s / self.lines_per_push, self.margin_s)


@dataclass
class LoadRun:
    """Everything a gate load run produced, for the checks to judge."""

    plan: DriverPlan
    result: dict[str, Any]
    samples: StatsSampler
    stored_lines: int | None = None
    count_error: str | None = None
    per_process: dict[str, dict[str, int | None]] | None = None   # generator process tag: acknowledged, stored
    report_dir: Path | None = None
    external: bool = False      # against a --target: no container of it was watched

    def window(self, policy: Policy, gate: GateRecorder, phase: str = STEADY) -> verdict.Window:
        """The window of ``phase`` (the steady one unless told), conclusive (see ``verdict.conclusive``), with the
        run's evidence recorded."""
        gate.evidence["run_tag"] = self.plan.run_tag
        if self.report_dir is not None:
            gate.evidence["locust_reports"] = str(self.report_dir)
        w = verdict.conclusive(self.result, phase, policy.target("generator_cpu_share").value)
        gate.evidence[phase] = w.evidence()
        return w

    def machine_excuse(self, w: verdict.Window, policy: Policy, gate: GateRecorder) -> str | None:
        """Whether other work on the machine, not the stack, can explain a miss of window ``w`` (see
        ``verdict.machine_excuse``): the stack's CPU by its Docker stats, the machine's by /proc/stat."""
        figures = self.resources(w.phase)
        load = verdict.busy(w, figures.cpu_cores if figures.services else None)
        if load is not None:
            gate.evidence["machine"] = load.evidence()
        return verdict.machine_excuse(w, load, policy.target("foreign_cpu_share").value)

    def foreign_shares(self) -> dict[str, float | None]:
        """Each measured window's foreign work (see ``verdict.Busy``), as a share of the machine's CPUs: what a
        saturation step's latency owes to other work on the machine (None: no figure)."""
        out: dict[str, float | None] = {}
        for w in verdict.windows(self.result):
            figures = self.resources(w.phase)
            load = verdict.busy(w, figures.cpu_cores if figures.services else None)
            out[w.phase] = None if load is None else round(load.foreign_share, 3)
        return out

    def resources(self, phase: str, judged: bool = False) -> ResourceFigures:
        """The stack's Docker stats over ``phase``'s window; ``judged``: not evaluated where no container was
        watched (a --target's are not the gate's)."""
        if judged and self.external:
            raise NotEvaluated(f"{EXTERNAL.text} (its containers' stats)", EXTERNAL)
        for w in self.result["windows"]:
            if w["phase"] == phase:
                return self.samples.summary(w["start"]["wall"], w["end"]["wall"])
        raise AssertionError(f"no {phase} window was measured")


def _credentials_env(secrets: RunSecrets) -> dict[str, str]:
    return {"OBSGATE_PUSH_USER": secrets.push.user, "OBSGATE_PUSH_PASSWORD": secrets.push.password,
            "OBSGATE_READ_USER": secrets.read.user, "OBSGATE_READ_PASSWORD": secrets.read.password}


def describe_plan(plan: DriverPlan) -> str:
    """The load run in one line: its phases, rates in lines/s, and length."""
    per_push, phases = plan.payload.lines_per_request, plan.plan.phases
    if len(phases) <= 3:
        parts = ", ".join(f"{p.name} {p.duration_s:g} s {'to' if p.ramp_s >= p.duration_s else 'at'} "
                          f"{p.rps * per_push:,.0f} lines/s" for p in phases)
    else:
        rates = [p.rps * per_push for p in phases]
        parts = f"{len(phases)} phases ({phases[0].name} to {phases[-1].name}) at {min(rates):,.0f}-{max(rates):,.0f} lines/s"
    return f"{parts} ({plan.plan.length_s:.0f} s)"


@dataclass
class LoadProgress:
    """The driver's progress lines (``obsgate.core.progress.relay_line``) as console text, with the
    rates between one line and the next: Loki's accepted lines/s (its own counters), the client's
    acknowledged lines/s, failed pushes so far and why."""

    last: dict[str, Any] | None = None

    def feed(self, line: str) -> str | None:
        """Text for the console, or None (not a progress line, or the first one: the rates' baseline)."""
        now = progress.parse_relay(line)
        if now is None:
            return None
        before, self.last = self.last, now
        try:
            return None if before is None else self._describe(before, now)
        except (KeyError, TypeError, ValueError):
            return None

    @staticmethod
    def _describe(before: Mapping[str, Any], now: Mapping[str, Any]) -> str | None:
        span = float(now["t"]) - float(before["t"])
        if span <= 0:
            return None
        rates = [f"{(now['lines'] - before['lines']) / span:,.0f} lines/s acknowledged"]
        if "loki_accepted" in now and "loki_accepted" in before:
            rates.insert(0, f"{(now['loki_accepted'] - before['loki_accepted']) / span:,.0f} lines/s accepted by Loki")
        elif "loki_error" in now:
            rates.append(f"Loki's counters unreadable ({str(now['loki_error'])[:80]})")
        failures = now.get("failures") or {}
        why = f" ({', '.join(f'{k} {v}' for k, v in sorted(failures.items()))})" if failures else ""
        where = (f"{now['phase']} phase, {float(now['t']):.0f} s in (offering {now['offered_lines_per_s']:,.0f} lines/s)"
                 if now.get("phase") else f"stopping, {float(now['t']):.0f} s in")
        return f"{where}: {', '.join(rates)}, {now['failed_pushes']} failed pushes{why}"


def _stdout_lines(proc: subprocess.Popen[bytes], deadline: float, timeout_s: float) -> Iterator[str]:
    """The child's stdout, line by line as it comes, until it closes it; TimeoutExpired at ``deadline``."""
    assert proc.stdout is not None
    fd, pending = proc.stdout.fileno(), b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout_s)
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                if pending:
                    yield pending.decode("utf-8", "replace")
                return
            *complete, pending = (pending + chunk).split(b"\n")
            yield from (line.decode("utf-8", "replace") for line in complete)


def drive(plan: DriverPlan, env: Mapping[str, str], workdir: Path) -> dict[str, Any]:
    """Run the driver process to completion (bounded by the plan's hard cap) and read its result;
    meanwhile its progress lines go to the console. A timeout or Ctrl-C kills it at once."""
    plan_file, result_file, log_file = workdir / "plan.json", workdir / "result.json", workdir / "driver.log"
    plan.dump(plan_file)
    timeout = plan.plan.hard_cap_s + STOP_GRACE_S + DRIVER_OVERHEAD_S
    deadline = time.monotonic() + timeout
    shown = LoadProgress()
    progress.phase(PROGRESS_KEY, describe_plan(plan))
    command = [sys.executable, "-m", "obsgate.load.driver", str(plan_file), str(result_file)]
    with (log_file.open("wb") as log,
          subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=log) as proc):
        try:
            for line in _stdout_lines(proc, deadline, timeout):
                text = shown.feed(line)
                if text is not None:
                    progress.update(PROGRESS_KEY, text)
            returncode = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except BaseException:
            proc.kill()
            raise
    stderr = log_file.read_text(encoding="utf-8", errors="replace")
    if returncode != 0 or not result_file.exists():
        raise AssertionError(f"the load driver failed (exit {returncode}):\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    result["log_tail"] = stderr[-3000:]
    return result


def count_stored(api: LokiAPI, run_tag: str, since_s: float, expected: int, timeout_s: float = COUNT_TIMEOUT_S) -> int:
    """Lines Loki returns for the run's tag, polled until they equal ``expected`` (or the timeout: last count)."""
    return stored.count_stored(lambda logql, at_ns: api.query(logql, time_ns=at_ns), run_tag, since_s, expected,
                               timeout_s)


def acknowledged_per_process(result: Mapping[str, Any]) -> dict[str, int]:
    """Lines acknowledged by each generator process, by its tag (the ``loadgen`` label's prefix on its streams)."""
    if result.get("workers"):
        return {w["tag"]: w["client"]["lines"] for w in result["workers"].values()}
    return {result["process_tag"]: result["totals"]["lines"]}


def count_per_process(api: LokiAPI, run_tag: str, since_s: float) -> dict[str, int]:
    """Lines Loki holds for the run's tag, per generator process (``loadgen`` is ``<process tag>.<n>``)."""
    window, at_ns = stored.run_window(run_tag, since_s)
    counted: dict[str, int] = {}
    for series in api.query(f"sum by ({LOADGEN_LABEL}) (count_over_time({window}))", time_ns=at_ns):
        tag = series.labels.get(LOADGEN_LABEL, "").split(".", 1)[0]
        counted[tag] = counted.get(tag, 0) + int(series.value)
    return counted


def saturation_plan(policy: Policy) -> tuple[shapes.Plan, dict[str, float]]:
    """The step-up of gate.yml's load.saturation settings in pushes/s, and where its knee is (stop_when)."""
    steps, per_push = policy.load().saturation, policy.load().lines_per_push
    plan = shapes.step_up(steps.start_lines_per_s / per_push, steps.step_lines_per_s / per_push,
                          steps.step_s, steps.max_lines_per_s / per_push, warm_up=True)
    return plan, {"error_rate": policy.target("error_rate").value, "p99_s": policy.target("push_p99_s").value}


def over_cap(policy: Policy, cap: TargetLoadCap) -> str | None:
    """Why the gate's load profile may not run against a --target under gate.yml's ``target`` cap, or None."""
    plan, per_push = GateProfile.from_policy(policy).plan(), policy.load().lines_per_push
    peak = max(p.rps for p in plan.phases) * per_push
    if peak > cap.max_lines_per_s:
        return f"the profile offers {peak:,.0f} lines/s, gate.yml target.max_lines_per_s allows {cap.max_lines_per_s:,.0f}"
    if plan.hard_cap_s > cap.max_load_s:
        return f"the profile may run {plan.hard_cap_s:.0f} s, gate.yml target.max_load_s allows {cap.max_load_s:.0f} s"
    return None


def run_gate_profile(policy: Policy, stack: Stack | None, loki: ServiceHandle | None, gateway_url: str,
                     secrets: RunSecrets | None, run_id: str, report_dir: Path | None, saturation: bool = False,
                     shape: shapes.Plan | None = None, processes: int | None = None,
                     count_api: LokiAPI | None = None) -> LoadRun:
    """The gate's load run against its own stack through nginx, with resources sampled throughout.

    ``saturation``: the step-up of the saturation settings instead, stopped after the first step
    past the knee (error rate over ``error_rate`` or push p99 over ``push_p99_s``). ``shape``: another
    plan (the soak). ``secrets`` None: ``gateway_url`` is Loki's own port (no TLS, no credential: the
    capacity overlay). ``processes``: other than gate.yml's load.processes. ``stack`` and ``loki`` None: a
    --target's (no container stats, no Loki counters; the lines are counted through ``count_api``).
    """
    profile = GateProfile.from_policy(policy)
    plan_shape, stop_when = saturation_plan(policy) if saturation else (shape or profile.plan(), None)
    plan = DriverPlan(host=gateway_url, plan=plan_shape, payload=profile.payload(), run_tag=new_run_label(run_id),
                      ca_file=secrets.ca_cert if secrets else None, user_rps=USER_RPS,
                      query_interval_s=profile.query_interval_s,
                      loki_metrics_url=loki.url(LOKI_PORT) + "/metrics" if loki is not None else None,
                      report_dir=report_dir, stop_when=stop_when,
                      processes=profile.processes if processes is None else processes,
                      expect_workers=profile.expect_workers, workers_deadline_s=profile.workers_deadline_s)
    containers = {h.name: h.container for h in stack or () if h.state is State.READY}
    sampler = StatsSampler(containers).start()
    started = time.time()
    try:
        with tempfile.TemporaryDirectory(prefix="obsgate-load-") as tmp:
            result = drive(plan, _credentials_env(secrets) if secrets else {}, Path(tmp))
    finally:
        sampler.stop()
    run = LoadRun(plan, result, sampler, report_dir=report_dir, external=stack is None)
    if count_api is not None:
        api = count_api
    elif loki is not None:
        api = LokiAPI(Endpoint.direct(loki, LOKI_PORT), timeout_s=COUNT_QUERY_TIMEOUT_S)
    else:
        raise ValueError("run_gate_profile: without Loki's own port, count_api must say where to count")
    try:
        run.stored_lines = count_stored(api, plan.run_tag, started, result["totals"]["lines"])
        stored = count_per_process(api, plan.run_tag, started)
        run.per_process = {tag: {"acknowledged": n, "stored": stored.get(tag)}
                           for tag, n in acknowledged_per_process(result).items()}
    except (WaitTimeout, OSError, KeyError, ValueError) as exc:
        run.count_error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        api.close()
    return run
