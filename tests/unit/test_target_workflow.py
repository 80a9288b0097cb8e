"""The target workflow (staging nightly, production smoke): linted like the nightly one, and it hands the
credentials to the gate in the environment, never on a command line a log could show."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.unit.test_load_nightly_workflow import actionlint

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "target.yml"


def test_target_workflow_passes_actionlint() -> None:
    proc = actionlint(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_target_workflow_passes_credentials_in_the_environment_only() -> None:
    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]
    for name in ("OBSGATE_PUSH_USER", "OBSGATE_PUSH_PASSWORD", "OBSGATE_READ_USER", "OBSGATE_READ_PASSWORD"):
        assert job["env"][name] == f"${{{{ secrets.{name} }}}}"
    scripts = [step.get("run", "") for step in job["steps"]]
    assert any("--target" in s for s in scripts)
    assert not any("secrets." in s or "PASSWORD" in s for s in scripts)
