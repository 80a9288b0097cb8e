"""Bring the compose stack up with testcontainers, wait for it properly, tear it down.

One run = one fresh network per compose network (service names as aliases), one
labelled volume per compose volume, one container per service, every object
labelled with the run id (and the gate run's, for an overlay: obsgate.bringup.cleanup).
Services start in parallel as soon as their ``depends_on`` conditions hold; readiness is
the service's own compose healthcheck, polled with a deadline (from the host where it is a
URL fetch: obsgate.bringup.probe).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from enum import Enum

import docker
from docker.errors import DockerException
from docker.models.containers import Container
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network

from obsgate.bringup.cleanup import LABEL_SERVICE, Swept, for_testcontainers, run_labels, sweep
from obsgate.bringup.images import ImageChoice
from obsgate.bringup.probe import Probe, ProbeFailed, Stopped, never_healthy
from obsgate.bringup.startup import command_with_startup_flags
from obsgate.core import stop
from obsgate.core.causes import Cause
from obsgate.core.errors import NotEvaluated
from obsgate.core.wait import WaitTimeout, poll
from obsgate.stackfiles.compose import ComposeProject, ServiceSpec

LOG_TAIL_LINES = 60
_NS = 1_000_000_000


class State(str, Enum):
    PENDING = "pending"
    UNAVAILABLE = "unavailable"  # cannot run here (image, dependency): not evaluated
    STARTED = "started"
    READY = "ready"
    FAILED = "failed"  # ran and broke: the stack is at fault


def runtime_options(spec: ServiceSpec) -> dict[str, object]:
    """Docker run options for the compose keys that constrain the process (memory, user, caps...)."""
    optional = {
        "mem_limit": spec.mem_limit,
        "mem_reservation": spec.mem_reservation,
        "user": spec.user,
        "nano_cpus": int(spec.cpus * _NS) if spec.cpus else None,
        "read_only": spec.read_only or None,
        "cap_drop": list(spec.cap_drop) or None,
        "cap_add": list(spec.cap_add) or None,
        "security_opt": list(spec.security_opt) or None,
    }
    return {k: v for k, v in optional.items() if v is not None}


class ServiceFailed(AssertionError):
    """A service started but did not become ready (or a dependency did not)."""


TIMEOUT_EXIT = 124   # as coreutils' timeout(1)


def exec_in(pool: ThreadPoolExecutor, container: Container, argv: Sequence[str], timeout_s: float) -> tuple[int, str]:
    """Run ``argv`` in ``container`` from ``pool`` (so a hung exec cannot hang the run): (exit code, combined output)."""
    future = pool.submit(container.exec_run, list(argv), demux=False)
    try:
        result = future.result(timeout=timeout_s)
    except FutureTimeout:
        return TIMEOUT_EXIT, f"timed out after {timeout_s}s: {' '.join(argv)}"
    output = result.output if isinstance(result.output, bytes) else b""
    return (-1 if result.exit_code is None else int(result.exit_code)), output.decode("utf-8", "replace")


@dataclass
class ServiceHandle:
    """One running service: its container, addresses and lifecycle, as tests need them."""

    spec: ServiceSpec
    image: ImageChoice
    stack: Stack
    state: State = State.PENDING
    reason: str = ""
    cause: Cause | None = None  # unavailable: why, the services it hit including this one
    ready_after_s: float | None = None
    epoch: int = 0  # bumped on restart/re-create so clients re-resolve
    _container: DockerContainer | None = field(default=None, repr=False)
    _settled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    def require(self) -> ServiceHandle:
        """Return self if usable; NotEvaluated if it cannot run here; ServiceFailed if broken."""
        self._settled.wait()
        if self.state is State.UNAVAILABLE:
            raise NotEvaluated(f"{self.name}: {self.reason}", self.cause)
        if self.state is not State.READY:
            raise ServiceFailed(f"{self.name}: {self.reason or self.state.value}")
        return self

    @property
    def container(self) -> Container:
        if self._container is None:
            raise ServiceFailed(f"{self.name} has no container ({self.state.value}: {self.reason})")
        container = self._container.get_wrapped_container()
        container.reload()
        return container

    @property
    def ip(self) -> str:
        """The container's address on the run network (direct, in-network access)."""
        networks = self.container.attrs["NetworkSettings"]["Networks"]
        return str(networks[self.stack.network_name(self.spec.networks[0])]["IPAddress"])

    def url(self, port: int, scheme: str = "http") -> str:
        return f"{scheme}://{self.ip}:{port}"

    def published(self, port: int, protocol: str = "tcp") -> tuple[str, int]:
        """Host address of a port the compose file publishes (bound to 127.0.0.1 here)."""
        bindings = self.container.attrs["NetworkSettings"]["Ports"].get(f"{port}/{protocol}") or []
        if not bindings:
            raise ServiceFailed(f"{self.name}: port {port}/{protocol} is not published")
        return "127.0.0.1", int(bindings[0]["HostPort"])

    def logs(self, tail: int = LOG_TAIL_LINES) -> str:
        try:
            return self.container.logs(tail=tail).decode("utf-8", "replace")
        except (DockerException, ServiceFailed) as exc:
            return f"(no logs: {exc})"

    def log_tail(self, tail: int = LOG_TAIL_LINES) -> str:
        return f"--- last {tail} log lines of {self.name} ---\n{self.logs(tail)}"

    def exec(self, argv: Sequence[str], timeout_s: float = 30.0) -> tuple[int, str]:
        """Run ``argv`` in the container; returns (exit code, combined output)."""
        return exec_in(self.stack.pool, self.container, argv, timeout_s)

    def stopped(self) -> str | None:
        """Why the service is no longer running (crashed, restarting, run interrupted), or None."""
        if self.stack.cancelled:
            return "run interrupted"
        container = self.container
        state = container.attrs["State"]
        if container.status in ("exited", "dead") or state.get("Restarting") or container.attrs.get("RestartCount"):
            # Under a restart policy a crash shows as "restarting", not "exited".
            return (
                f"{self.name} exited with code {state.get('ExitCode')}"
                f" (restarts so far: {container.attrs.get('RestartCount', 0)})"
            )
        return None

    def wait_ready(self, timeout_s: float | None = None) -> float:
        """Poll the compose healthcheck until it passes; seconds waited. ServiceFailed with the log tail.

        A URL-fetch healthcheck is polled from the host, then run once in the container as
        compose would: one that cannot run there fails naming the probe and who never starts.
        A stack made with ``confirm_healthchecks=False`` skips that in-container run: for a
        drill that needs the service ready, not its healthcheck's tooling (judged elsewhere).
        """
        hc = self.spec.healthcheck
        deadline = timeout_s if timeout_s is not None else (hc.deadline_s if hc else 30.0)
        if hc is None:
            started = time.monotonic()
            poll(self._running, timeout_s=deadline, what=f"{self.name} (running)", interval_s=0.5,
                 evidence=self.log_tail, fatal=(ServiceFailed,))
            return time.monotonic() - started
        probe = Probe.healthcheck(f"{self.name} healthcheck", self, hc.test, hc.timeout_s,
                                  confirm=self.stack.confirm_healthchecks)
        try:
            return probe.wait(deadline, self.log_tail)
        except Stopped as exc:
            raise ServiceFailed(f"{exc}\n{self.log_tail()}") from None
        except ProbeFailed as exc:
            answered = f" ({probe.seen_host})" if probe.seen_host else ""
            raise ServiceFailed(
                f"healthcheck cannot run in {self.image.ref}: {exc}{answered} — under compose "
                f"{never_healthy(self.stack.project, self.name)}"
            ) from None

    def _running(self) -> bool:
        why = self.stopped()
        if why:
            raise ServiceFailed(f"{why}\n{self.log_tail()}")
        return bool(self.container.status == "running")

    def stop(self) -> None:
        grace = self.spec.stop_grace_period_s
        self.container.stop(timeout=int(grace) if grace is not None else 10)
        self.epoch += 1

    def start(self) -> float:
        stop.check()        # an interrupted run starts nothing (RunStopped), not even where a finally would
        self.container.start()
        self.epoch += 1
        return self.wait_ready()

    def restart(self) -> float:
        stop.check()
        self.container.restart()
        self.epoch += 1
        return self.wait_ready()

    def recreate(self) -> float:
        """Remove and create the container again (new IP, same volumes), as ``compose up`` would."""
        if self._container is not None:
            # v=True: the image's anonymous volumes go too; the run's named volumes stay.
            self._container.get_wrapped_container().remove(force=True, v=True)
        self._container = self.stack.create_container(self.spec, self.image)
        self.epoch += 1
        return self.wait_ready()


class Stack:
    """The services of one compose project for one run."""

    def __init__(
        self,
        project: ComposeProject,
        run_id: str,
        images: Mapping[str, ImageChoice],
        client: docker.DockerClient,
        confirm_healthchecks: bool = True,
        parent: str | None = None,
    ) -> None:
        self.project, self.run_id, self.client = project, run_id, client
        self.confirm_healthchecks = confirm_healthchecks   # False: ready when the host GET passes (see wait_ready)
        self.labels = run_labels(run_id, project.name, parent)   # parent: the gate run's id, for an overlay
        self.services = {n: ServiceHandle(s, images[n], self) for n, s in project.services.items()}
        self.pool = ThreadPoolExecutor(max_workers=max(4, 2 * len(self.services)), thread_name_prefix="obsgate")
        self._networks: dict[str, Network] = {}
        self._cancel = threading.Event()
        self.up_s: float | None = None
        self.before_services: list[Callable[[Stack], None]] = []  # run once networks exist

    def __getitem__(self, service: str) -> ServiceHandle:
        return self.services[service]

    def __iter__(self) -> Iterator[ServiceHandle]:
        return iter(self.services.values())

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def network_name(self, compose_network: str) -> str:
        return f"obsgate-{self.run_id}-{compose_network}"

    def gateway_ip(self, compose_network: str | None = None) -> str:
        """This host's address on a run network: where containers reach harness-side servers."""
        network = self._networks[compose_network or self.project.networks[0]]
        return str(self.client.networks.get(str(network.id)).attrs["IPAM"]["Config"][0]["Gateway"])

    def volume_name(self, compose_volume: str) -> str:
        return f"obsgate-{self.run_id}-{compose_volume}"

    def create_container(self, spec: ServiceSpec, image: ImageChoice) -> DockerContainer:
        """Create and start the container for ``spec`` (no waiting)."""
        stop.check()
        if self._cancel.is_set():
            raise ServiceFailed("run interrupted")
        c = DockerContainer(image.ref)
        c.with_name(f"obsgate-{self.run_id}-{spec.name}")
        c.with_network(self._networks[spec.networks[0]]).with_network_aliases(spec.name)
        c.with_envs(**dict(spec.environment))
        for mount in spec.mounts:
            source = mount.source if mount.kind == "bind" else self.volume_name(mount.source)
            c.with_volume_mapping(source, mount.target, "ro" if mount.read_only else "rw")
        for port in spec.ports:
            # Every published port goes to a random port on loopback only.
            c.ports[f"{port.container_port}/{port.protocol}"] = ("127.0.0.1", None)  # type: ignore[assignment]
        command = command_with_startup_flags(spec)
        if command is not None:
            c.with_command(list(command))
        kwargs: dict[str, object] = {"labels": for_testcontainers({**spec.labels, **self.labels, LABEL_SERVICE: spec.name})}
        if spec.entrypoint is not None:
            kwargs["entrypoint"] = list(spec.entrypoint)
        if spec.healthcheck is not None:
            hc = spec.healthcheck
            kwargs["healthcheck"] = {
                "test": ["CMD", *hc.test],
                "interval": int(hc.interval_s * _NS),
                "timeout": int(hc.timeout_s * _NS),
                "retries": hc.retries,
                "start_period": int(hc.start_period_s * _NS),
            }
        if spec.restart and spec.restart != "no":
            name, _, count = spec.restart.partition(":")
            kwargs["restart_policy"] = {"Name": name, **({"MaximumRetryCount": int(count)} if count else {})}
        kwargs.update(runtime_options(spec))
        for path in spec.tmpfs:
            c.with_tmpfs_mount(path)
        c.with_kwargs(**kwargs)
        c.start()
        for extra in spec.networks[1:]:
            self._networks[extra].connect(str(c.get_wrapped_container().id), network_aliases=[spec.name])
        return c

    def _bring_up(self, handle: ServiceHandle) -> None:
        """Start one service once its dependencies' conditions hold; settle its state."""
        try:
            for dep in handle.spec.depends_on:
                other = self.services[dep.service]
                other._settled.wait()
                if other.state is State.UNAVAILABLE:
                    handle.state, handle.reason = (
                        State.UNAVAILABLE,
                        f"depends on {other.name}, which cannot run here ({other.reason})",
                    )
                    handle.cause = other.cause and other.cause.hitting(handle.name)
                    return
                if other.state is State.FAILED:
                    handle.state, handle.reason = State.FAILED, f"dependency {other.name} failed: {other.reason.splitlines()[0]}"
                    return
            if not handle.image.available:
                handle.state, handle.reason, handle.cause = State.UNAVAILABLE, handle.image.reason, handle.image.cause
                return
            handle._container = self.create_container(handle.spec, handle.image)
            handle.state = State.STARTED
            handle.ready_after_s = handle.wait_ready()
            handle.state = State.READY
        except (WaitTimeout, ServiceFailed, DockerException) as exc:
            handle.state, handle.reason = State.FAILED, str(exc)
        except Exception as exc:  # noqa: BLE001 - any other breakage still settles the service as failed
            handle.state, handle.reason = State.FAILED, f"{type(exc).__name__}: {exc}"
        finally:
            handle._settled.set()

    def up(self) -> None:
        """Create networks and volumes, start every service in dependency order, in parallel."""
        started = time.monotonic()
        for net in self.project.networks:
            stop.check()
            network = Network(docker_network_kw={"labels": for_testcontainers(self.labels), "driver": "bridge"})
            network.name = self.network_name(net)
            self._networks[net] = network.create()
        for vol in self.project.volumes:
            stop.check()
            self.client.volumes.create(self.volume_name(vol), labels=self.labels)
        for hook in self.before_services:
            hook(self)
        futures: list[Future[None]] = [self.pool.submit(self._bring_up, h) for h in self.services.values()]
        try:
            while not all(f.done() for f in futures):
                wait_futures(futures, timeout=0.5)
        except BaseException:
            self._cancel.set()  # Ctrl-C: stop creating; down() removes what exists
            raise
        self.up_s = time.monotonic() - started

    def halt(self) -> None:
        """Start no more services. An interrupted run does not wait for those still starting: their waits
        end on the stop (obsgate.core.stop), and what they create meanwhile a sweep's next pass removes."""
        self._cancel.set()
        self.pool.shutdown(wait=not stop.requested(), cancel_futures=True)

    def down(self) -> Swept:
        """Remove everything labelled with this run (its overlays' too), whatever state it is in. Idempotent."""
        self.halt()
        return sweep(self.client, self.run_id)
