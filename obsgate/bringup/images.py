"""Which image each service runs: compose pins, overrides, and whether it can be had."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import docker
from docker.errors import DockerException, ImageNotFound

from obsgate.core.errors import InputError

ENV_PREFIX = "OBSGATE_IMAGE_"


@dataclass(frozen=True)
class ImageChoice:
    service: str
    ref: str
    pinned: str                 # what the compose file says
    override: bool
    available: bool
    digest: str | None = None   # repo digest if known, else the local image id
    reason: str = ""            # why it is unavailable


def env_var(service: str) -> str:
    return ENV_PREFIX + service.upper().replace("-", "_")


def parse_service_refs(items: Sequence[str], services: Sequence[str], option: str) -> list[tuple[str, str]]:
    """``SERVICE=IMAGE`` command-line items as pairs; the service must exist in the compose file."""
    pairs = []
    for item in items:
        service, sep, ref = item.partition("=")
        if not sep or not ref:
            raise InputError(option, item, "expected SERVICE=IMAGE", f"e.g. {option} loki=grafana/loki:2.9.3")
        if service not in services:
            raise InputError(option, service, "no such service in the compose file", f"use one of {', '.join(services)}")
        pairs.append((service, ref))
    return pairs


def parse_overrides(cli: Sequence[str], services: Sequence[str], environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Merge ``OBSGATE_IMAGE_<SERVICE>`` variables and ``--image SERVICE=REF`` (CLI wins)."""
    overrides = {s: environ[env_var(s)] for s in services if environ.get(env_var(s))}
    overrides.update(parse_service_refs(cli, services, "--image"))
    return overrides


def _describe(client: docker.DockerClient, ref: str) -> str:
    image = client.images.get(ref)
    digests = image.attrs.get("RepoDigests") or []
    return str(digests[0] if digests else image.id)


def resolve(
    client: docker.DockerClient, pins: Mapping[str, str], overrides: Mapping[str, str], pull: str
) -> dict[str, ImageChoice]:
    """Decide each service's image and make sure it is present (pulling only if allowed)."""
    choices = {}
    for service, pinned in pins.items():
        ref = overrides.get(service, pinned)
        override = service in overrides
        try:
            choices[service] = ImageChoice(service, ref, pinned, override, True, _describe(client, ref))
            continue
        except ImageNotFound:
            pass
        reason = f"image unavailable: {ref} is not present locally"
        if pull == "missing":
            try:
                client.images.pull(ref)
                choices[service] = ImageChoice(service, ref, pinned, override, True, _describe(client, ref))
                continue
            except DockerException as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                reason += f" and could not be pulled ({first[:200]})"
        else:
            reason += " (--pull never)"
        choices[service] = ImageChoice(service, ref, pinned, override, False, None, reason)
    return choices
