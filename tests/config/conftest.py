"""Fixtures of the config checks: the stack's files as mounted, and one real Loki start per run."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsgate.bringup.oneoff import image_for
from obsgate.checks.acceptance import LokiStart, loki_start
from obsgate.checks.static.files import StackFiles
from obsgate.core.policy import Policy
from obsgate.run import GateRun

PROMTOOL_TESTS = Path(__file__).resolve().parent / "promtool"


@pytest.fixture(scope="session")
def stack_files(gate_run: GateRun) -> StackFiles:
    """The stack's files as mounted, with the rule files' promtool unit tests kept beside these checks."""
    return StackFiles(gate_run, PROMTOOL_TESTS)


@pytest.fixture(scope="session")
def loki_started(gate_run: GateRun, stack_files: StackFiles, policy: Policy) -> LokiStart:
    """Loki started once from its pinned (or --image) image with the mounted config."""
    return loki_start(gate_run, image_for(gate_run, "loki"), stack_files, policy)
