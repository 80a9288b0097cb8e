"""Fixtures of the resilience checks.

``resilience_stack`` is a second stack of this run (Loki, Prometheus, Alertmanager, Grafana
and nginx from the production compose specs, their own network and volumes): these checks
SIGKILL, restart and re-create its services, which on the run's shared stack would make
the checks running beside them fail. The ``own_*`` fixtures are its services and clients, declared as
the run's are (obsgate.gate.fixtures.stack_fixtures): ``own_loki``, ``own_loki_api`` ... ``own_gateway``.
``retention_drill`` is a third, Loki alone with its timing accelerated
(obsgate.checks.resilience.retention), pushed to and shipped once for the compactor and
retention checks; its setup runs in the background from the first resilience check on.
``candidate_retention_drill`` is the same drill on each Loki upgrade candidate (--candidate
loki=IMAGE), beside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import ExitStack
from functools import partial

import pytest

from obsgate.bringup.overlay import overlay_stack
from obsgate.bringup.stack import Stack
from obsgate.checks.logs import LogsClient, new_run_label
from obsgate.checks.resilience.retention import RetentionDrill, drill_in_background
from obsgate.clients import LokiAPI
from obsgate.core import progress
from obsgate.core.errors import NotEvaluated
from obsgate.core.recorder import GateRecorder
from obsgate.gate.candidates import CANDIDATES_KEY, NO_CANDIDATE, Candidate
from obsgate.gate.fixtures import SERVICES, needs, stack_fixtures
from obsgate.run import GateRun


@pytest.fixture(scope="session")
def resilience_stack(gate_run: GateRun, retention_background: Future[RetentionDrill] | None,
                     candidate_retention_background: dict[str, Future[RetentionDrill]]) -> Iterator[Stack]:
    """Comes up while the retention drills' own Lokis do (``retention_background`` and any candidate's)."""
    services = {name: spec for name in SERVICES if (spec := gate_run.project.services.get(name)) is not None}
    with overlay_stack(gate_run, "resilience", services) as stack:
        yield stack


globals().update(stack_fixtures("resilience_stack", prefix="own_", scope="function"))


@pytest.fixture
def own_logs(own_loki_api: LokiAPI, gate_run: GateRun, gate: GateRecorder) -> LogsClient:
    """Push to and read from the resilience stack's Loki directly, inside a label of this check."""
    client = LogsClient(own_loki_api, own_loki_api, new_run_label(gate_run.run_id))
    gate.evidence["run_label"] = client.selector()
    return client


@pytest.fixture(scope="session")
def retention_background(gate_run: GateRun, request: pytest.FixtureRequest) -> Iterator[Future[RetentionDrill] | None]:
    """The retention drill's setup, started in the background when a selected check needs it."""
    if not needs(request.session, "retention_drill"):
        yield None
        return
    with drill_in_background(gate_run) as future:
        yield future


@pytest.fixture(scope="session")
def retention_drill(retention_background: Future[RetentionDrill] | None) -> RetentionDrill:
    """An accelerated Loki with expired and recent lines pushed, flushed and its index shipped."""
    assert retention_background is not None, "retention_drill requested but not started"
    return progress.await_result(retention_background, "retention drill", "obsgate-retention_")


@pytest.fixture(scope="session")
def candidate_retention_background(gate_run: GateRun, request: pytest.FixtureRequest
                                   ) -> Iterator[dict[str, Future[RetentionDrill]]]:
    """The retention drill on each Loki upgrade candidate (--candidate loki=IMAGE), in the background."""
    wanted = needs(request.session, "candidate_retention_drill")
    candidates = [c for c in request.config.stash.get(CANDIDATES_KEY, ()) if c.service == "loki" and wanted]
    with ExitStack() as running:
        yield {c.id: running.enter_context(drill_in_background(gate_run, partial(c.image, gate_run),
                                                               f"retention-candidate-{i}"))
               for i, c in enumerate(candidates)}


@pytest.fixture
def candidate_retention_drill(candidate: Candidate | None,
                              candidate_retention_background: dict[str, Future[RetentionDrill]]) -> RetentionDrill:
    """The candidate Loki's drill; not evaluated without a Loki candidate."""
    if candidate is None:
        raise NotEvaluated(NO_CANDIDATE)
    if candidate.service != "loki":
        raise NotEvaluated(f"retention is Loki's: candidate {candidate.id} is not a Loki image")
    return progress.await_result(candidate_retention_background[candidate.id], f"retention drill on {candidate.id}",
                                 "obsgate-retention-candidate")
