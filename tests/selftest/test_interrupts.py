"""Interrupted gate runs stop fast and leave nothing: real runs, signalled at several moments.

Each case starts ``pytest -m gate`` (this run's image overrides) as a CI runner would, in a session
of its own, waits for a moment of the run (its stack coming up, a background drill's overlay up)
and signals the whole process group, as Ctrl-C or a cancelled CI job does. A CI runner sends
SIGKILL about 10 s after its SIGINT: the run must be gone by then, with every container,
network and volume it made (its overlays' and one-offs' too) and its scratch directories
removed. Each case prints its figures; whatever happens, the run id is swept afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from obsgate.bringup.cleanup import LABEL_RUN, sweep, sweep_scratch
from obsgate.core.wait import poll
from tests.selftest.conftest import ROOT, STACK

EXIT_BUDGET_S = 10.0        # SIGINT to SIGKILL of a cancelled CI job
KILL_AFTER_S = 30.0         # a run still alive then is killed (and the case fails on its exit time)
SECOND_SIGNAL_AFTER_S = 0.7  # the impatient second Ctrl-C, while the first one's cleanup runs
TRIGGER_TIMEOUT_S = 180.0


def owned(labels: dict[str, str] | None, run_id: str) -> bool:
    """Made by run ``run_id``: its own objects and its overlays' (run id ``<id>-<suffix>``)."""
    run = (labels or {}).get(LABEL_RUN, "")
    return run == run_id or run.startswith(f"{run_id}-")


def leftovers(client: docker.DockerClient, run_id: str) -> dict[str, list[Any]]:
    """What is left of the run, by the run label (not the parent label the harness sweeps by: that is under test)."""
    label: dict[str, str | list[str] | bool] = {"label": LABEL_RUN}
    return {"containers": [c for c in client.containers.list(all=True, filters=label) if owned(c.labels, run_id)],
            "networks": [n for n in client.networks.list(filters=label) if owned(n.attrs.get("Labels"), run_id)],
            "volumes": [v for v in client.volumes.list(filters=label) if owned(v.attrs.get("Labels"), run_id)],
            "dirs": list(Path(tempfile.gettempdir()).glob(f"obsgate-{run_id}-*"))}


def clean_up(client: docker.DockerClient, run_id: str) -> None:
    """Remove whatever the case left (a failing case must not leak): by the sweep, then anything it missed."""
    sweep(client, run_id)
    left = leftovers(client, run_id)
    for container in left["containers"]:
        container.remove(force=True, v=True)
    for obj in (*left["networks"], *left["volumes"]):
        obj.remove()
    sweep_scratch(run_id)


def running(client: docker.DockerClient, run: str) -> bool:
    """A container of ``run`` (a run id, or an overlay's ``<id>-<suffix>``) exists."""
    return bool(client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run}"}))


def healthy(client: docker.DockerClient, run: str) -> bool:
    """Every container of ``run`` is up and healthy: its drill is past bring-up, in its long waits."""
    containers = client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run}"})
    return bool(containers) and all(c.attrs["State"].get("Health", {}).get("Status") == "healthy" for c in containers)


def stack_network(client: docker.DockerClient, run_id: str) -> bool:
    """The run's own stack is coming up: its first network exists (one-offs' networks are named otherwise)."""
    first = next(iter(yaml.safe_load((STACK / "docker-compose.yml").read_text())["networks"]))
    return bool(client.networks.list(names=[f"obsgate-{run_id}-{first}"]))


@dataclass(frozen=True)
class Case:
    name: str
    signals: tuple[signal.Signals, ...]
    moment: str
    reached: Callable[[docker.DockerClient, str], bool]


CASES = [
    Case("sigterm-oneoff", (signal.SIGTERM,), "a config check's one-off container", running),
    Case("sigint-early", (signal.SIGINT,), "the stack coming up", stack_network),
    Case("sigint-drills", (signal.SIGINT,), "the test alert's drills waiting on their healthy overlay",
         lambda client, run_id: healthy(client, f"{run_id}-alerts")),
    Case("sigterm-outage", (signal.SIGTERM,), "the outage drill's overlay coming up",
         lambda client, run_id: running(client, f"{run_id}-outage")),
    Case("sigint-twice", (signal.SIGINT, signal.SIGINT), "the test alert's drills running, again during cleanup",
         lambda client, run_id: running(client, f"{run_id}-alerts")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_interrupted_run_exits_fast_and_leaves_nothing(case: Case, client: docker.DockerClient, pytestconfig: pytest.Config,
                                                       tmp_path: Path) -> None:
    run_id = "int" + uuid.uuid4().hex[:10]
    args = [sys.executable, "-m", "pytest", "-m", "gate", "--pull", pytestconfig.getoption("pull"), "-p", "no:cacheprovider",
            "--reports-dir", str(tmp_path / "reports")]
    for image in pytestconfig.getoption("image"):
        args += ["--image", image]
    output = tmp_path / "output.txt"
    with output.open("w") as out:
        child = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "OBSGATE_RUN_ID": run_id}, start_new_session=True,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    started = time.monotonic()
    try:
        def moment() -> bool:
            if child.poll() is not None:
                raise AssertionError(f"the run ended ({child.returncode}) before {case.moment}:\n{output.read_text()[-3000:]}")
            return case.reached(client, run_id)

        poll(moment, timeout_s=TRIGGER_TIMEOUT_S, what=case.moment, interval_s=0.1, fatal=(AssertionError,))
        sent = time.monotonic()
        os.killpg(child.pid, case.signals[0])
        for again in case.signals[1:]:
            poll(lambda: time.monotonic() - sent >= SECOND_SIGNAL_AFTER_S and "obs-gate: interrupted" in output.read_text(),
                 timeout_s=EXIT_BUDGET_S, what="the run to announce it is stopping", interval_s=0.05)
            os.killpg(child.pid, again)
        try:
            code = child.wait(timeout=KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            code = child.wait()
        exit_s = time.monotonic() - sent
        left = {kind: len(found) for kind, found in leftovers(client, run_id).items()}
        figures = (f"{case.name}: {case.signals[0].name} {sent - started:.1f} s into the run ({case.moment}); exited {code} "
                   f"after {exit_s:.1f} s; left {left['containers']} containers, {left['networks']} networks, "
                   f"{left['volumes']} volumes, {left['dirs']} scratch dirs")
        print(figures)
        text = output.read_text()
        assert f"obs-gate: interrupted ({case.signals[0].name}): stopping, removing run {run_id}" in text, text[-3000:]
        for again in case.signals[1:]:
            assert f"obs-gate: {again.name} again: still removing" in text, text[-3000:]
        assert exit_s <= EXIT_BUDGET_S, f"{figures}\n{text[-3000:]}"
        assert code == pytest.ExitCode.INTERRUPTED, f"{figures}\n{text[-3000:]}"
        assert left == {"containers": 0, "networks": 0, "volumes": 0, "dirs": 0}, f"{figures}\n{text[-3000:]}"
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        clean_up(client, run_id)
