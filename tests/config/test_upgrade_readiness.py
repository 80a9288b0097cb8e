"""Upgrade readiness: today's configs against a candidate image (--candidate SERVICE=IMAGE).

Advisory (gate.yml "Upgrade readiness", weight 0): an SRE sees before the monthly image
update what the new version rejects or warns about — and whether the compose healthcheck
still runs in it (distroless images have no shell or wget) — without blocking today's release.
"""

import pytest

from obsgate.bringup.images import ImageChoice
from obsgate.checks.acceptance import STEPS, healthcheck_runs
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.gate.candidates import Candidate
from obsgate.run import GateRun


@pytest.mark.gate(category="Upgrade readiness", weight=1)
def test_candidate_image_accepts_todays_config(
    candidate: Candidate,
    candidate_image: ImageChoice,
    gate_run: GateRun,
    stack_files: StackFiles,
    policy: Policy,
    gate: GateRecorder,
) -> None:
    """Every acceptance step of the candidate's service, run in the candidate image."""
    if candidate.service not in STEPS:
        raise NotEvaluated(f"no acceptance steps for {candidate.service} (have: {', '.join(STEPS)})")
    results = STEPS[candidate.service](gate_run, candidate_image, stack_files, policy)
    gate.evidence["candidate"] = candidate_image.ref
    gate.evidence["steps"] = {r.step: {"findings": [str(f) for f in r.findings], **r.evidence} for r in results}
    require_none([f for r in results for f in r.findings], gate)


@pytest.mark.gate(category="Upgrade readiness", weight=1)
def test_candidate_image_runs_the_compose_healthcheck(
    candidate: Candidate,
    candidate_image: ImageChoice,
    gate_run: GateRun,
    stack_files: StackFiles,
    policy: Policy,
    gate: GateRecorder,
) -> None:
    """The compose healthcheck runs in the candidate image: without its shell or wget the service never
    becomes healthy, and what depends on it (service_healthy) never starts."""
    result = healthcheck_runs(gate_run, candidate.service, candidate_image, stack_files, policy)
    gate.evidence.update(result.evidence)
    require_none(result.findings, gate)
