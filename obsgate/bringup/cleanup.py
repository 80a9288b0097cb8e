"""Labels every object a run creates carries, and removal by those labels.

Ryuk (testcontainers' reaper) cannot run here, so the suite removes what it made:
on teardown by its own run id, and via ``python -m obsgate sweep`` after a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker
from docker.errors import APIError, NotFound

LABEL_RUN = "org.obsgate.run"
LABEL_SERVICE = "org.obsgate.service"
LABEL_PROJECT = "org.obsgate.project"


def run_labels(run_id: str, project: str) -> dict[str, str]:
    return {LABEL_RUN: run_id, LABEL_PROJECT: project}


@dataclass
class Swept:
    containers: int = 0
    networks: int = 0
    volumes: int = 0
    errors: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"removed {self.containers} containers, {self.networks} networks, {self.volumes} volumes"
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
