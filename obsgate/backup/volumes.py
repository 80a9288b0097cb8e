"""Which docker volumes hold a service's data, from the compose project: the gate's own or a deployment's.

The gate names a run's volumes ``obsgate-<run>-<volume>`` (``Stack.volume_name``); ``docker
compose`` names them ``<project>_<volume>`` and labels them with the project and volume. Both
resolve to the same ``Target``, so the drill and the command run the same backup and restore.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import docker
from docker.errors import NotFound

from obsgate.core.errors import InputError
from obsgate.stackfiles.compose import ComposeProject

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_VOLUME = "com.docker.compose.volume"
COMPOSE_SERVICE = "com.docker.compose.service"


@dataclass(frozen=True)
class Target:
    """One named volume of one service, and the image the service runs (the archive records its version)."""

    service: str
    compose_volume: str
    docker_volume: str
    image: str

    @property
    def key(self) -> str:
        """The archive's base name: one archive per service and volume."""
        return f"{self.service}-{self.compose_volume}"


def image_version(ref: str) -> str:
    """The tag (or digest) of an image reference: what a restore must match, whatever registry it came from."""
    if "@" in ref:
        return ref.rpartition("@")[2]
    name = ref.rpartition("/")[2]
    return name.rpartition(":")[2] if ":" in name else "latest"


def service_volumes(project: ComposeProject, service: str) -> tuple[str, ...]:
    """The compose volumes ``service`` mounts; InputError for an unknown service or one without any."""
    spec = project.services.get(service)
    if spec is None:
        raise InputError(project.path, f"services.{service}", "no such service",
                         f"use one of {', '.join(sorted(project.services))}")
    volumes = tuple(m.source for m in spec.mounts if m.kind == "volume")
    if not volumes:
        raise InputError(project.path, f"services.{service}.volumes", "the service mounts no named volume",
                         f"back up a service with one: {', '.join(stateful(project))}")
    return volumes


def stateful(project: ComposeProject) -> tuple[str, ...]:
    """Services that mount at least one named volume, in compose order."""
    return tuple(n for n, s in project.services.items() if any(m.kind == "volume" for m in s.mounts))


def targets(project: ComposeProject, services: Sequence[str], volume: str | None,
            docker_volume: Callable[[str], str], image: Callable[[str], str]) -> list[Target]:
    """Every named volume of ``services`` (only ``volume`` if given), named by ``docker_volume``; nothing is touched."""
    out = []
    for service in services:
        mounted = service_volumes(project, service)
        if volume is not None and volume not in mounted:
            raise InputError(project.path, f"services.{service}.volumes", f"{service} does not mount volume {volume!r}",
                             f"use one of {', '.join(mounted)}")
        out += [Target(service, v, docker_volume(v), image(service)) for v in mounted if volume in (None, v)]
    return out


def compose_volume_name(client: docker.DockerClient, project: str, compose_volume: str) -> str:
    """The docker volume ``docker compose`` made for ``compose_volume``: by its labels, else ``<project>_<volume>``."""
    labelled = client.volumes.list(filters={"label": [f"{COMPOSE_PROJECT}={project}", f"{COMPOSE_VOLUME}={compose_volume}"]})
    return str(labelled[0].name) if labelled else f"{project}_{compose_volume}"


def deployed_image(client: docker.DockerClient, project: ComposeProject, compose_project: str, service: str) -> str:
    """The image the deployment's container of ``service`` runs (the compose pin when it has none)."""
    containers = client.containers.list(all=True, filters={
        "label": [f"{COMPOSE_PROJECT}={compose_project}", f"{COMPOSE_SERVICE}={service}"]})
    for container in containers:
        tags = container.image.tags if container.image is not None else []
        if tags:
            return str(tags[0])
        return str(container.attrs["Config"]["Image"])
    return project.services[service].image


def exists(client: docker.DockerClient, name: str) -> bool:
    try:
        client.volumes.get(name)
    except NotFound:
        return False
    return True
