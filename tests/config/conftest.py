"""Fixtures of the config checks: the stack's files as mounted, and one real Loki start per run."""

from __future__ import annotations

import pytest

from obsgate.oneoff import image_for
from obsgate.policy import Policy
from obsgate.session import GateRun
from tests.config.acceptance import LokiStart, loki_start
from tests.config.support import StackFiles


@pytest.fixture(scope="session")
def stack_files(gate_run: GateRun) -> StackFiles:
    return StackFiles(gate_run)


@pytest.fixture(scope="session")
def loki_started(gate_run: GateRun, stack_files: StackFiles, policy: Policy) -> LokiStart:
    """Loki started once from its pinned (or --image) image with the mounted config."""
    return loki_start(gate_run, image_for(gate_run, "loki"), stack_files, policy)
