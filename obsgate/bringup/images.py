"""Which image each service runs: compose pins, overrides, and whether it can be had."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import docker
from docker.errors import DockerException, ImageNotFound

from obsgate.core.causes import Cause, error_line
from obsgate.core.errors import InputError

ENV_PREFIX = "OBSGATE_IMAGE_"

# What a failed pull's Docker error says, as words a person acts on (first match wins).
_PULL_ERRORS = (
    (("dial tcp", "no such host", "lookup ", "connection refused", "i/o timeout", "network is unreachable",
      "name resolution", "timeout"), "and no registry reachable", "pass {option}"),
    (("manifest unknown", "not found", "does not exist", "pull access denied"), "and not found in its registry",
     "check the reference, or pass {option}"),
    (("unauthorized", "authentication required", "denied"), "and the registry refused the pull",
     "docker login to the registry, or pass {option}"),
)


@dataclass(frozen=True)
class ImageChoice:
    service: str
    ref: str
    pinned: str                 # what the compose file says
    override: bool
    available: bool
    digest: str | None = None   # repo digest if known, else the local image id
    cause: Cause | None = None  # why it is unavailable

    @property
    def reason(self) -> str:
        """Why it is unavailable, on one short line (the raw pull error stays in the cause)."""
        return f"image unavailable: {self.cause.text}" if self.cause is not None else ""


def unavailable(service: str, ref: str, pull_error: str | None, kind: str = "image") -> Cause:
    """Why ``ref`` cannot be had for ``service``, with the fix naming the option that chooses it (``--image`` or
    ``--candidate``): ``pull_error`` is Docker's message when a pull failed, None when the run may not pull."""
    option = f"--{kind} {service}=REF"
    if pull_error is None:
        words, hint = "(--pull never)", f"pass {option}, or --pull missing to pull it"
    else:
        words, hint = _pull_failure(pull_error, option)
    return Cause(f"{kind}:{ref}", f"{ref} not present locally {words}", hint, pull_error or "", (service,))


def _pull_failure(error: str, option: str) -> tuple[str, str]:
    """Docker's pull error as words a person acts on, and the fix (the error itself stays the cause's detail)."""
    lowered = error.lower()
    for needles, words, hint in _PULL_ERRORS:
        if any(n in lowered for n in needles):
            return words, hint.format(option=option)
    return "and could not be pulled", f"pass {option} (the pull error is in gate.json)"


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
    client: docker.DockerClient, pins: Mapping[str, str], overrides: Mapping[str, str], pull: str, kind: str = "image"
) -> dict[str, ImageChoice]:
    """Decide each service's image and make sure it is present (pulling only if allowed); ``kind``: the option
    that chose the overrides, named in the fix of one that cannot be had."""
    choices = {}
    for service, pinned in pins.items():
        ref = overrides.get(service, pinned)
        override = service in overrides
        try:
            choices[service] = ImageChoice(service, ref, pinned, override, True, _describe(client, ref))
            continue
        except ImageNotFound:
            pass
        pull_error = None
        if pull == "missing":
            try:
                client.images.pull(ref)
                choices[service] = ImageChoice(service, ref, pinned, override, True, _describe(client, ref))
                continue
            except DockerException as exc:
                pull_error = error_line(exc)
        choices[service] = ImageChoice(service, ref, pinned, override, False, None, unavailable(service, ref, pull_error, kind))
    return choices
