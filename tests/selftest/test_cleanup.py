"""Nothing leaks: a run interrupted during start-up, or a crashed run swept afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import pytest

from obsgate.bringup.cleanup import LABEL_RUN, run_labels
from obsgate.core.wait import poll
from tests.selftest.conftest import ROOT


def leftovers(client: docker.DockerClient, run_id: str) -> list[str]:
    label = {"label": f"{LABEL_RUN}={run_id}"}
    return ([f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
            + [f"network {n.name}" for n in client.networks.list(filters=label)]
            + [f"volume {v.name}" for v in client.volumes.list(filters=label)])


def test_sigint_during_startup_removes_everything(client, pytestconfig, tmp_path: Path) -> None:
    run_id = "sigint" + uuid.uuid4().hex[:8]
    args = [sys.executable, "-m", "pytest", "-q", "tests/integration/test_services_ready.py",
            "--reports-dir", str(tmp_path), "--pull", pytestconfig.getoption("pull")]
    for image in pytestconfig.getoption("image"):
        args += ["--image", image]
    child = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**os.environ, "OBSGATE_RUN_ID": run_id})
    try:
        poll(lambda: client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"}),
             timeout_s=120, what="the child run's first container")
    finally:
        child.send_signal(signal.SIGINT)
        output, _ = child.communicate(timeout=180)
    assert "KeyboardInterrupt" in output or child.returncode == pytest.ExitCode.INTERRUPTED, output[-2000:]
    assert leftovers(client, run_id) == [], output[-2000:]


def test_sweep_removes_a_crashed_runs_objects(client) -> None:
    run_id = "sweep" + uuid.uuid4().hex[:8]
    labels = run_labels(run_id, "selftest")
    client.networks.create(f"obsgate-{run_id}-net", labels=labels)
    client.volumes.create(f"obsgate-{run_id}-vol", labels=labels)
    done = subprocess.run([sys.executable, "-m", "obsgate", "sweep", "--run", run_id],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "removed 0 containers, 1 networks, 1 volumes" in done.stdout
    assert leftovers(client, run_id) == []
