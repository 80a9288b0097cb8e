"""``--candidate SERVICE=IMAGE``: check today's configs against an upgrade candidate image.

A pytest plugin (in obsgate.gate.hooks' ``pytest_plugins``; the option is obsgate.gate.plugin's). Each candidate
parametrizes every test that takes a ``candidate`` argument, so the upgrade-readiness
checks run once per candidate, in their own advisory category; without any candidate
they are reported as not evaluated, saying how to ask for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from obsgate.bringup.images import ImageChoice, parse_service_refs, resolve
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.gate.hooks import RUN_KEY
from obsgate.run import GateRun

CANDIDATES_KEY = pytest.StashKey[tuple["Candidate", ...]]()
NO_CANDIDATE = "no --candidate given: pass --candidate SERVICE=IMAGE to check an upgrade before it ships"


@dataclass(frozen=True)
class Candidate:
    service: str
    ref: str

    @property
    def id(self) -> str:
        return f"{self.service}={self.ref}"

    def image(self, run: GateRun) -> ImageChoice:
        """The candidate image, present (pulled if the run may pull); NotEvaluated when it cannot be had."""
        pinned = run.project.services[self.service].image
        choice = resolve(run.docker(), {self.service: pinned}, {self.service: self.ref}, run.options.pull,
                         kind="candidate")[self.service]
        if not choice.available:
            raise NotEvaluated(f"candidate {self.id}: {choice.reason}", choice.cause)
        return choice


def parse_candidates(values: Sequence[str], services: Sequence[str]) -> tuple[Candidate, ...]:
    """``SERVICE=IMAGE`` items; the service must exist in the compose file."""
    pairs = parse_service_refs(values, services, "--candidate")
    return tuple(dict.fromkeys(Candidate(service, ref) for service, ref in pairs))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    try:
        config.stash[CANDIDATES_KEY] = parse_candidates(config.getoption("candidate"), list(run.project.services))
    except InputError as exc:
        raise pytest.UsageError(f"obs-gate: {exc}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "candidate" not in metafunc.fixturenames or CANDIDATES_KEY not in metafunc.config.stash:
        return   # not a gate run: another project's "candidate" argument is none of ours
    candidates = metafunc.config.stash[CANDIDATES_KEY]
    if candidates:
        metafunc.parametrize("candidate", candidates, ids=[c.id for c in candidates])
    else:
        metafunc.parametrize("candidate", [None], ids=["none"])


@pytest.fixture
def candidate_image(candidate: Candidate | None, gate_run: GateRun) -> ImageChoice:
    """The candidate's image; NotEvaluated when no candidate was given or it cannot be had."""
    if candidate is None:
        raise NotEvaluated(NO_CANDIDATE)
    return candidate.image(gate_run)
