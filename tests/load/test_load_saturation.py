"""Saturation (opt-in: ``OBSGATE_LOAD_SATURATION=1``, nightly or on demand; deselected otherwise).

Steps the push rate up (gate.yml ``load.saturation``) until the error rate passes ``error_rate``
or the push p99 passes ``push_p99_s``; reports the knee -- the highest step sustained inside
both, in lines/s and MiB/s by Loki's own counters -- and which limit tripped first. Advisory
(category Capacity): reported and compared run to run, never scored.
"""

from __future__ import annotations

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.clients import Gateway
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.gate.hooks import RUN_DIR_KEY
from obsgate.load import verdict
from obsgate.load.session import LoadRun, run_gate_profile
from obsgate.run import GateRun


@pytest.fixture(scope="module")
def saturation_run(pytestconfig: pytest.Config, policy: Policy, stack: Stack, loki: ServiceHandle,
                   nginx: ServiceHandle, gateway: Gateway, run_secrets: RunSecrets, gate_run: GateRun) -> LoadRun:
    run_dir = pytestconfig.stash.get(RUN_DIR_KEY, None)
    return run_gate_profile(policy, stack, loki, gateway.https_url(), run_secrets, gate_run.run_id,
                            run_dir / "saturation" if run_dir is not None else None, saturation=True)


@pytest.mark.gate(category="Capacity", weight=1)
def test_load_saturation_knee_above_target(saturation_run: LoadRun, policy: Policy, gate: GateRecorder) -> None:
    """The highest step Loki sustains inside the error-rate and p99 budgets, and what tripped first above it."""
    knee = verdict.knee(saturation_run.result, policy.target("generator_cpu_share").value)
    gate.evidence["run_tag"] = saturation_run.plan.run_tag
    gate.evidence["knee"] = knee.evidence()
    gate.evidence["series"] = verdict.series(saturation_run.result)
    assert knee.sustained is not None, f"already the first step broke the budgets: {knee.evidence()['limits']}"
    if knee.broke is None:
        gate.evidence["note"] = "never saturated: the last step (load.saturation.max_lines_per_s) was still inside budgets"
    gate.measure("saturation_knee_lines_per_s", knee.sustained.server_lines_per_s, name="knee_lines_per_s")
