"""The soak (opt-in: ``OBSGATE_LOAD_SOAK=1``; nightly runs a long one, deselected otherwise).

The policy's target rate held for ``load.soak_s`` through nginx, then judged for what only time
shows: each service's memory growth per minute, Loki's flush failures, and the push p99's drift
from the first minute to the last; Loki's in-memory streams and chunks are reported beside them.
Advisory (category Soak): reported, never scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle, Stack, State
from obsgate.clients import Gateway
from obsgate.core.errors import InputError
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.gate.hooks import RUN_DIR_KEY
from obsgate.load import soak, verdict
from obsgate.load.session import LOKI_PORT, GateProfile, LoadRun, run_gate_profile
from obsgate.run import GateRun


@dataclass
class SoakRun:
    load: LoadRun
    gauges: soak.GaugeSampler
    restarts: dict[str, soak.Restarts]

    @property
    def edges(self) -> tuple[float, float]:
        """The soak window (after the ramp), by the driver's own snapshots."""
        for w in self.load.result["windows"]:
            if w["phase"] == soak.SOAK:
                return w["start"]["wall"], w["end"]["wall"]
        raise AssertionError(f"the soak window was never measured: {self.load.result.get('aborted') or 'run cut'}")

    def loki(self) -> soak.LokiSeries:
        return soak.LokiSeries.of(self.gauges.samples, *self.edges)


@pytest.fixture(scope="module")
def soak_run(pytestconfig: pytest.Config, policy: Policy, stack: Stack, loki: ServiceHandle, nginx: ServiceHandle,
             gateway: Gateway, run_secrets: RunSecrets, gate_run: GateRun) -> SoakRun:
    soak_s = policy.load().soak_s
    if soak_s is None:
        raise InputError(policy.path, "load.soak_s", "not set: the soak checks need its length", "add soak_s: 600 to load")
    profile = GateProfile.from_policy(policy)
    run_dir = pytestconfig.stash.get(RUN_DIR_KEY, None)
    gauges = soak.GaugeSampler(loki.url(LOKI_PORT) + "/metrics").start()
    try:
        run = run_gate_profile(policy, stack, loki, gateway.https_url(), run_secrets, gate_run.run_id,
                               run_dir / "soak" if run_dir is not None else None,
                               shape=soak.soak_plan(profile.pushes_per_s, soak_s, profile.ramp_s))
    finally:
        gauges.stop()
    return SoakRun(run, gauges, soak.restarts({h.name: h.container for h in stack if h.state is State.READY}))


@pytest.mark.gate(category="Soak", weight=1)
def test_soak_memory_growth_per_service_within_budget(soak_run: SoakRun, policy: Policy, gate: GateRecorder) -> None:
    """Over the soak at the target rate no service restarts (an OOM kill resets its memory) and none's memory grows
    faster than soak_memory_growth_mib_per_min; Loki's in-memory streams and chunks are reported beside it."""
    w = soak_run.load.window(policy, gate, soak.SOAK)
    gate.evidence["containers"] = {name: r.evidence() for name, r in soak_run.restarts.items()}
    growth = soak.memory_growth_mib_per_min(soak_run.load.samples.samples, *soak_run.edges)
    assert growth, f"no Docker stats samples in the soak window: {soak_run.load.samples.errors}"
    loki = soak_run.loki()
    gate.evidence["memory_growth_MiB_per_min"] = {k: round(v, 2) for k, v in growth.items()}
    gate.evidence["loki_in_memory"] = loki.figures
    gate.evidence["soak"] = {"seconds": round(w.seconds, 1), "accepted_lines_per_s": round(w.server_lines_per_s, 1),
                             "push_error_rate": round(w.error_rate, 4), "failures": w.failures,
                             "loki_restarts": loki.restarts, "gauge_samples": loki.samples,
                             "gauge_errors": soak_run.gauges.errors[:5]}
    problems = soak.restart_problems(soak_run.restarts)
    assert not problems, (f"{'; '.join(problems)} during the soak (memory growth per minute means nothing across a "
                          f"restart); fix the cause or the service's memory limit in the compose file; failed pushes: "
                          f"{w.failures or 'none'}")
    worst = max(growth, key=lambda k: growth[k])
    gate.measure("soak_memory_growth_mib_per_min", growth[worst], name="memory_growth_mib_per_min",
                 context=lambda: f"{worst} grew fastest; each service: "
                                 f"{', '.join(f'{k} {v:.1f}' for k, v in sorted(growth.items()))} MiB/min; "
                                 f"Loki in memory: {loki.figures.get('memory_streams')} streams, "
                                 f"{loki.figures.get('memory_chunks')} chunks")


@pytest.mark.gate(category="Soak", weight=1)
def test_soak_loki_flushes_without_errors(soak_run: SoakRun, policy: Policy, gate: GateRecorder) -> None:
    """Loki's ingester flushes its chunks throughout the soak without a failure: its flush-failure counter (3.x), or
    where it has none (2.9) the error lines it logged."""
    soak_run.load.window(policy, gate, soak.SOAK)
    loki = soak_run.loki()
    failures, errors, flushed = (loki.increase("flush_failures"), loki.increase("errors_logged"),
                                 loki.increase("chunks_flushed"))
    gate.evidence["flush"] = {"failures": failures, "errors_logged": errors, "chunks_flushed": flushed,
                              "loki_restarts": loki.restarts}
    assert loki.samples, f"Loki's metrics were never read during the soak: {soak_run.gauges.errors[:3]}"
    counted = "flush_failures" if failures is not None else "errors_logged"
    figure = failures if failures is not None else errors
    assert figure is not None, f"Loki exports neither {soak.GAUGES['flush_failures']} nor {soak.GAUGES['errors_logged']}"
    gate.measure("soak_flush_errors", figure, name=counted,
                 context=lambda: f"{soak.GAUGES[counted]} rose by {figure:g}; chunks flushed: {flushed} "
                                 f"(Loki's log says why: storage full or unwritable)")


@pytest.mark.gate(category="Soak", weight=1)
def test_soak_push_p99_does_not_drift(soak_run: SoakRun, policy: Policy, gate: GateRecorder) -> None:
    """The push p99 of the soak's last minute exceeds that of its first by at most soak_push_p99_drift_s."""
    w = soak_run.load.window(policy, gate, soak.SOAK)
    first, last, drift = soak.push_p99_drift_s(soak_run.load.result["push_latencies"], *soak_run.edges)
    gate.evidence["push_p99_s"] = {"first_minute": round(first, 4), "last_minute": round(last, 4),
                                   "drift": round(drift, 4), "whole_window": round(w.push_p(99), 4)}
    verdict.measure_all(gate, [("soak_push_p99_drift_s", drift, "push_p99_drift_s")],
                        context=f"p99 {first:.3f} s in the first minute, {last:.3f} s in the last",
                        excuse=soak_run.load.machine_excuse(w, policy, gate))
