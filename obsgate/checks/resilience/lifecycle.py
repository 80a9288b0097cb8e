"""Restart, stop/start and re-create a stateful service, timing each way back to ready.

The three things an operator (or Docker) does to a container: ``docker restart``,
``docker stop`` + ``docker start``, and re-creation (a new container on the same named
volumes, as ``docker compose up`` does after an image or config change). Compose stops
a container gracefully before removing it, so the re-creation here does too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from docker.errors import APIError

from obsgate.bringup.cleanup import LABEL_SERVICE
from obsgate.bringup.stack import ServiceHandle
from obsgate.core.errors import NotEvaluated


def _restart(handle: ServiceHandle) -> float:
    return handle.restart()


def _stop_start(handle: ServiceHandle) -> float:
    handle.stop()
    return handle.start()


def _recreate(handle: ServiceHandle) -> float:
    handle.stop()
    return handle.recreate()


LIFECYCLES: dict[str, Callable[[ServiceHandle], float]] = {
    "restart": _restart,
    "stop_start": _stop_start,
    "recreate": _recreate,
}


@dataclass(frozen=True)
class Survival:
    """One lifecycle operation: seconds back to ready, and what was missing afterwards (None: intact)."""

    lifecycle: str
    ready_s: float
    missing: str | None


def survive_each(handle: ServiceHandle, missing: Callable[[], str | None]) -> list[Survival]:
    """Apply every lifecycle in turn; after each, ``missing()`` says what did not survive (None: nothing)."""
    return [Survival(name, round(operate(handle), 2), missing()) for name, operate in LIFECYCLES.items()]


def failures(results: list[Survival], service: str) -> list[str]:
    """One line per lifecycle after which something was missing."""
    return [f"after {r.lifecycle} of {service}: {r.missing}" for r in results if r.missing]


@contextmanager
def address_taken(handle: ServiceHandle, image: str, stop: Callable[[], object] | None = None) -> Iterator[str]:
    """Stop ``handle`` (with ``stop``, default its own); while inside, a placeholder holds its address.

    Docker hands a new container the lowest free address on the network, which after a
    stop is the old one: a start or re-creation inside this block gets a new address, as
    it would on a busy host. An engine that hands addresses out in sequence (Podman) gives
    the placeholder another one; it is then re-attached asking for the old address, and
    where the engine refuses that, the check cannot be made here (not evaluated). The
    placeholder (``image``'s default command) carries the stack's labels and is always removed.
    """
    old = handle.ip
    (stop or handle.stop)()
    client, network = handle.stack.client, handle.stack.network_name(handle.spec.networks[0])
    holder = client.containers.run(image, detach=True, network=network,
                                   labels={**handle.stack.labels, LABEL_SERVICE: f"{handle.name}-address-holder"})
    try:
        holder.reload()
        taken = holder.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
        if taken != old:
            try:
                client.networks.get(network).disconnect(holder)
                client.networks.get(network).connect(holder, ipv4_address=old)
            except APIError as exc:
                raise NotEvaluated(f"the placeholder got {taken}, not {handle.name}'s old address {old}, and this "
                                   f"engine would not give it that address: {exc.explanation or exc}") from None
        yield old
    finally:
        holder.remove(force=True, v=True)
