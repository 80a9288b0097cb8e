"""One-off containers: a program from a service's image, run as compose would run that service.

The container gets the service's environment, bind mounts (the reviewed configs and the
run's secrets) and runtime options (user, memory, capabilities...), fresh labelled
volumes in place of the service's named volumes, and its own internal network (an
interface, as under compose, but no route out; the host still reaches the container's
address on it, which is how readiness is probed without a shell or wget in the image:
obsgate.bringup.probe); the compose service names resolve to 127.0.0.1 so a config naming
``loki:3100`` still loads. Container, network and volumes
carry the run's labels and are always removed; after a crash ``obsgate sweep``
finds them by those labels.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ReadTimeout
from testcontainers.core.container import DockerContainer

from obsgate.bringup.cleanup import LABEL_SERVICE, for_testcontainers, run_labels
from obsgate.bringup.context import RunContext
from obsgate.bringup.images import ImageChoice
from obsgate.bringup.probe import cannot_run
from obsgate.bringup.stack import TIMEOUT_EXIT, exec_in, runtime_options
from obsgate.bringup.startup import command_with_startup_flags
from obsgate.core import stop
from obsgate.core.errors import NotEvaluated

_EXECS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="obsgate-oneoff-exec")


@dataclass(frozen=True)
class Completed:
    """How a one-off command ended."""

    argv: tuple[str, ...]
    image: str
    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def describe(self) -> str:
        return f"`{' '.join(self.argv)}` in {self.image} exited with {self.exit_code}"


@dataclass
class OneOff:
    """A running one-off container: exec into it, probe its address, read its log, see whether it exited."""

    container: Container
    image: str
    service: str
    network: str

    def exec(self, argv: Sequence[str], timeout_s: float = 30.0) -> tuple[int, str]:
        """Run ``argv`` in the container; (exit code, combined output), 124 when it outlasts ``timeout_s``."""
        return exec_in(_EXECS, self.container, argv, timeout_s)

    @property
    def ip(self) -> str | None:
        """The container's address on its one-off network (the host reaches it there)."""
        self.container.reload()
        network = self.container.attrs["NetworkSettings"]["Networks"].get(self.network) or {}
        return network.get("IPAddress") or None

    def logs(self) -> str:
        return bytes(self.container.logs()).decode("utf-8", "replace")

    def stopped(self) -> str | None:
        """Why the program stopped ("<service> exited with code N"), or None while it runs."""
        self.container.reload()
        state = self.container.attrs["State"]
        return None if state.get("Running") else f"{self.service} exited with code {state.get('ExitCode', -1)}"


def image_for(run: RunContext, service: str, image: ImageChoice | None = None) -> ImageChoice:
    """``image`` or the service's image for this run; NotEvaluated when it cannot be had here."""
    choice = image or run.image_choices()[service]
    if not choice.available:
        raise NotEvaluated(f"{service}: {choice.reason}", choice.cause)
    return choice


@contextmanager
def started(
    run: RunContext,
    service: str,
    *,
    image: ImageChoice | None = None,
    command: Sequence[str] | None = None,
    entrypoint: Sequence[str] | None = None,
    extra_binds: Sequence[tuple[Path, str]] = (),
) -> Iterator[OneOff]:
    """Start ``service``'s program (or ``command``) in a one-off container; removed on exit."""
    choice = image_for(run, service, image)
    client = run.docker()
    spec = run.project.services[service]
    name = f"obsgate-{run.run_id}-{service}-oneoff-{uuid.uuid4().hex[:8]}"
    labels = {**run_labels(run.run_id, run.project.name), LABEL_SERVICE: service}
    volumes: list[str] = []
    container = DockerContainer(choice.ref)
    container.with_name(name)
    container.with_envs(**dict(spec.environment))
    for host, target in extra_binds:
        container.with_volume_mapping(str(host), target, "ro")
    argv = command if command is not None else command_with_startup_flags(spec)
    if argv is not None:
        container.with_command(list(argv))
    kwargs: dict[str, object] = {
        "labels": for_testcontainers(labels),
        "network": name,
        "extra_hosts": {other: "127.0.0.1" for other in run.project.services},
        **runtime_options(spec),
    }
    chosen_entrypoint = entrypoint if entrypoint is not None else spec.entrypoint
    if chosen_entrypoint is not None:
        kwargs["entrypoint"] = list(chosen_entrypoint)
    container.with_kwargs(**kwargs)
    try:
        stop.check()
        client.networks.create(name, driver="bridge", internal=True, labels=labels)
        for mount in spec.mounts:
            source = mount.source
            if mount.kind == "volume":
                source = f"{name}-{mount.source}"
                volumes.append(source)
                stop.check()
                client.volumes.create(source, labels=labels)
            container.with_volume_mapping(source, mount.target, "ro" if mount.read_only else "rw")
        try:
            stop.check()
            container.start()
        except APIError as exc:
            _harness_program_missing(entrypoint, choice.ref, service, exc)
            raise
        yield OneOff(container.get_wrapped_container(), choice.ref, service, name)
    finally:
        _remove(client, name, volumes)


def _harness_program_missing(entrypoint: Sequence[str] | None, image: str, service: str, exc: APIError) -> None:
    """NotEvaluated when a program the harness chose (not the image's own) cannot start in the image."""
    if not entrypoint:
        return
    why = cannot_run(list(entrypoint), 127, str(exc))
    if why:
        raise NotEvaluated(f"{service}: the harness runs `{entrypoint[0]}` in {image}, but: {why}") from None


def _remove(client: docker.DockerClient, name: str, volumes: Sequence[str]) -> None:
    try:
        client.containers.get(name).remove(force=True, v=True)
    except NotFound:
        pass
    try:
        client.networks.get(name).remove()
    except NotFound:
        pass
    for volume in volumes:
        try:
            client.volumes.get(volume).remove(force=True)
        except NotFound:
            pass


def run_command(
    run: RunContext,
    service: str,
    argv: Sequence[str],
    *,
    image: ImageChoice | None = None,
    entrypoint: Sequence[str] | None = None,
    extra_binds: Sequence[tuple[Path, str]] = (),
    timeout_s: float = 60.0,
) -> Completed:
    """Run ``argv`` (as the container command) to completion; its exit code and output."""
    with started(run, service, image=image, command=argv, entrypoint=entrypoint, extra_binds=extra_binds) as one:
        shown = (*(entrypoint or ()), *argv)
        try:
            code = int(one.container.wait(timeout=timeout_s)["StatusCode"])
        except (ReadTimeout, RequestsConnectionError):
            return Completed(shown, one.image, TIMEOUT_EXIT, f"{one.logs()}\n(timed out after {timeout_s:.0f}s)")
        except DockerException as exc:
            raise NotEvaluated(f"{service}: one-off container failed: {exc}") from None
        return Completed(shown, one.image, code, one.logs())
