"""Saturation (opt-in: ``OBSGATE_LOAD_SATURATION=1``, nightly or on demand; deselected otherwise).

Steps the push rate up (gate.yml ``load.saturation``) until the error rate passes ``error_rate``
or the push p99 passes ``push_p99_s``, twice in one run: on the stack as configured (through
nginx) and on an overlay Loki whose limits are lifted by appended flags (``obsgate.load.capacity``,
pushed on its own port). Reports both knees -- the highest step sustained inside both budgets, in
lines/s and MiB/s by Loki's own counters -- and what tripped each: the configured limit, then what
this machine's Loki can actually take. Advisory (category Capacity): reported and compared run to
run, never scored; the configured knee is the judged figure.
"""

from __future__ import annotations

from typing import Any

import pytest

from obsgate.bringup.overlay import overlay_stack
from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.clients import Gateway
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.gate.hooks import RUN_DIR_KEY
from obsgate.load import capacity, verdict
from obsgate.load.session import LOKI_PORT, LoadRun, run_gate_profile
from obsgate.run import GateRun


@pytest.fixture(scope="module")
def saturation_run(pytestconfig: pytest.Config, policy: Policy, stack: Stack, loki: ServiceHandle,
                   nginx: ServiceHandle, gateway: Gateway, run_secrets: RunSecrets, gate_run: GateRun) -> LoadRun:
    run_dir = pytestconfig.stash.get(RUN_DIR_KEY, None)
    return run_gate_profile(policy, stack, loki, gateway.https_url(), run_secrets, gate_run.run_id,
                            run_dir / "saturation" if run_dir is not None else None, saturation=True)


@pytest.fixture(scope="module")
def capacity_run(pytestconfig: pytest.Config, policy: Policy, saturation_run: LoadRun,
                 gate_run: GateRun) -> LoadRun | str:
    """The same step-up against the lifted overlay Loki, after the configured one; what stopped it otherwise."""
    run_dir = pytestconfig.stash.get(RUN_DIR_KEY, None)
    try:
        with overlay_stack(gate_run, capacity.SUFFIX, {"loki": capacity.lifted(gate_run.project.services["loki"])},
                           confirm_healthchecks=False) as overlay:
            loki = overlay["loki"].require()
            return run_gate_profile(policy, overlay, loki, loki.url(LOKI_PORT), None, gate_run.run_id,
                                    run_dir / "capacity" if run_dir is not None else None, saturation=True)
    except (AssertionError, NotEvaluated, OSError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:500]}"


def _knee(run: LoadRun, policy: Policy) -> dict[str, Any]:
    knee = verdict.knee(run.result, policy.target("generator_cpu_share").value)
    return {"run_tag": run.plan.run_tag, "pushed_to": run.plan.host, **knee.evidence(),
            "foreign_share_by_step": run.foreign_shares(), "series": verdict.series(run.result)}


@pytest.mark.gate(category="Capacity", weight=1)
def test_load_saturation_knee_above_target(saturation_run: LoadRun, capacity_run: LoadRun | str, policy: Policy,
                                           gate: GateRecorder) -> None:
    """The highest step Loki sustains inside the error-rate and p99 budgets, and what tripped first above it: as
    configured (judged), and with Loki's limits lifted (this machine's capacity, reported beside it)."""
    knee = verdict.knee(saturation_run.result, policy.target("generator_cpu_share").value)
    gate.evidence["run_tag"] = saturation_run.plan.run_tag
    gate.evidence["knee"] = knee.evidence()
    gate.evidence["foreign_share_by_step"] = saturation_run.foreign_shares()
    gate.evidence["series"] = verdict.series(saturation_run.result)
    try:
        gate.evidence["capacity"] = (_knee(capacity_run, policy) if isinstance(capacity_run, LoadRun)
                                     else {"error": capacity_run})
        gate.evidence["capacity"]["lifted_flags"] = list(capacity.LIFTED_FLAGS)
    except (AssertionError, NotEvaluated) as exc:
        gate.evidence["capacity"] = {"error": str(exc), "lifted_flags": list(capacity.LIFTED_FLAGS)}
    assert knee.sustained is not None, f"already the first step broke the budgets: {knee.evidence()['limits']}"
    if knee.broke is None:
        gate.evidence["note"] = "never saturated: the last step (load.saturation.max_lines_per_s) was still inside budgets"
    lifted = gate.evidence["capacity"].get("sustained")
    if lifted and lifted.get("accepted_lines_per_s"):
        gate.evidence["headroom_lines_per_s"] = round(lifted["accepted_lines_per_s"] - knee.sustained.server_lines_per_s, 1)
    gate.measure("saturation_knee_lines_per_s", knee.sustained.server_lines_per_s, name="knee_lines_per_s")
