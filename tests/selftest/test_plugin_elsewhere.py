"""`pytest -m gate --compose <a compose file outside the repository>` runs the gate on that stack.

pytest picks its rootdir before plugins declare options, so it used to take the
option's value for a test path ("unrecognized arguments: --compose", or a rootdir in
the other directory). The child run here names no test path, only the option and a -k
selection of static checks, so it goes down exactly that road.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.selftest.conftest import STACK, ChildRun

PINNED = "test_compose_images_are_pinned_to_exact_versions"
HEALTHCHECKS = "test_compose_services_have_healthchecks"


def test_gate_runs_on_a_compose_file_elsewhere(child_gate: Callable[..., ChildRun], tmp_path: Path,
                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "stack"
    shutil.copytree(STACK, elsewhere)   # relative bind mounts now resolve in the copy
    compose = elsewhere / "docker-compose.yml"
    doc = yaml.safe_load(compose.read_text())
    doc["services"]["loki"]["image"] = "grafana/loki:latest"   # only the copy floats: proves which file was judged
    compose.write_text(yaml.safe_dump(doc, sort_keys=False))

    run = child_gate(compose=compose, extra=("-m", "gate", "-k", f"{PINNED} or {HEALTHCHECKS}"))

    assert "unrecognized arguments" not in run.output and run.returncode == 1, run.output[-3000:]  # 1: FAIL verdict
    assert set(run.checks) == {PINNED, HEALTHCHECKS}, run.output[-3000:]
    assert run.outcome(HEALTHCHECKS) == "passed"
    assert run.outcome(PINNED) == "failed" and "grafana/loki:latest floats on latest" in run.reason(PINNED)
    assert run.checks[PINNED]["nodeid"].startswith("tests/config/")   # node ids relative to the repository
    assert "obs-gate verdict: FAIL" in run.output
    document = json.loads((tmp_path / "reports" / "latest" / "gate.json").read_text())   # child_gate's --reports-dir
    assert document["metadata"]["compose_file"] == str(compose)
