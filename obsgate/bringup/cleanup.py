"""Labels every object a run creates carries, and removal by those labels.

Ryuk (testcontainers' reaper) cannot run here, so the suite removes what it made:
on teardown by its own run id, and via ``python -m obsgate sweep`` after a crash. The
same goes for the run's scratch directories (secrets, archives, drill files): each is
named ``obsgate-<run id>-<kind>-…`` in the temp dir and removed by its owner, or by the
sweep command when a killed run could not.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, NotFound

LABEL_RUN = "org.obsgate.run"
LABEL_SERVICE = "org.obsgate.service"
LABEL_PROJECT = "org.obsgate.project"


def run_labels(run_id: str, project: str) -> dict[str, str]:
    return {LABEL_RUN: run_id, LABEL_PROJECT: project}


def scratch_prefix(run_id: str, kind: str) -> str:
    """The name prefix of a run's scratch directory of ``kind`` (see ``sweep_scratch``)."""
    return f"obsgate-{run_id}-{kind}-"


def scratch_dir(run_id: str, kind: str) -> Path:
    """A new scratch directory of the run; its owner removes it."""
    return Path(tempfile.mkdtemp(prefix=scratch_prefix(run_id, kind)))


def sweep_scratch(run_id: str | None = None) -> int:
    """Remove the scratch directories ``run_id`` (any run if None) left behind; how many."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(scratch_prefix(run_id or "*", "*") + "*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


@dataclass
class Swept:
    containers: int = 0
    networks: int = 0
    volumes: int = 0
    errors: tuple[str, ...] = ()
    directories: int = 0

    def __str__(self) -> str:
        text = f"removed {self.containers} containers, {self.networks} networks, {self.volumes} volumes"
        text += f", {self.directories} scratch directories" if self.directories else ""
        return text + (f"; errors: {'; '.join(self.errors)}" if self.errors else "")


def sweep(client: docker.DockerClient, run_id: str | None = None) -> Swept:
    """Remove containers, then networks, then volumes labelled with ``run_id`` (any run if None)."""
    label = LABEL_RUN if run_id is None else f"{LABEL_RUN}={run_id}"
    swept, errors = Swept(), []
    for container in client.containers.list(all=True, filters={"label": label}):
        try:
            container.remove(force=True, v=True)
            swept.containers += 1
        except NotFound:
            pass
        except APIError as exc:
            errors.append(f"container {container.name}: {exc.explanation or exc}")
    for network in client.networks.list(filters={"label": label}):
        try:
            network.remove()
            swept.networks += 1
        except NotFound:
            pass
        except APIError as exc:
            errors.append(f"network {network.name}: {exc.explanation or exc}")
    for volume in client.volumes.list(filters={"label": label}):
        try:
            volume.remove(force=True)
            swept.volumes += 1
        except NotFound:
            pass
        except APIError as exc:
            errors.append(f"volume {volume.name}: {exc.explanation or exc}")
    swept.errors = tuple(errors)
    return swept
