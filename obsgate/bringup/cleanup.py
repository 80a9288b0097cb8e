"""Labels every object a run creates carries, and removal by those labels.

Where Ryuk (testcontainers' reaper) cannot run, the suite removes what it made: on teardown
by its own run id (an interrupted run too, its overlays and one-offs included), and via
``obsgate sweep`` after a crash. Where Ryuk runs, it reaps the same objects by
testcontainers' session label (``run_labels`` adds it; ``start_reaper``), even after a SIGKILL.
The same goes for the run's scratch directories (secrets, archives, drill files): each is
named ``obsgate-<run id>-<kind>-…`` in the temp dir and removed by its owner, or by the
sweep when a killed run could not.

A run holds ``obsgate-<run id>.lock`` in the temp dir locked while it lives (``hold``); the
kernel drops the lock when the process ends, however it ends. So a sweep of every run
(``obsgate sweep``) can leave live runs alone -- their containers, their secrets -- and only
take what dead ones left.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, NotFound
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import Reaper
from testcontainers.core.labels import TESTCONTAINERS_NAMESPACE, create_labels

from obsgate.core import stop

LABEL_RUN = "org.obsgate.run"
LABEL_SERVICE = "org.obsgate.service"
LABEL_PROJECT = "org.obsgate.project"
LABEL_PARENT = "org.obsgate.parent-run"     # the gate run an object belongs to (an overlay's own run is <id>-<suffix>)
SWEEP_WORKERS = 8       # removals in flight at once: Docker removes containers in parallel well
SWEEP_PASSES = 5        # a pass that removes something is followed by another (see ``sweep``)
_REMOVED, _GONE = "removed", "gone"


def run_labels(run_id: str, project: str, parent: str | None = None) -> dict[str, str]:
    """The labels of every object of run ``run_id`` (an overlay's: ``parent`` is the gate run's id), testcontainers'
    own among them: Ryuk, where it runs, reaps by their session id whatever becomes of this process."""
    return {LABEL_RUN: run_id, LABEL_PROJECT: project, LABEL_PARENT: parent or run_id, **create_labels("", None)}


def for_testcontainers(labels: Mapping[str, str]) -> dict[str, str]:
    """``labels`` without testcontainers' own, for its API: it adds them itself and refuses to be given them."""
    return {k: v for k, v in labels.items() if not k.startswith(TESTCONTAINERS_NAMESPACE)}


def start_reaper() -> None:
    """Where Ryuk runs, start it now, before the run creates anything (testcontainers would only at its first
    container, after the run's networks and volumes exist)."""
    if not testcontainers_config.ryuk_disabled:
        Reaper.get_instance()


def scratch_prefix(run_id: str, kind: str) -> str:
    """The name prefix of a run's scratch directory of ``kind`` (see ``sweep_scratch``)."""
    return f"obsgate-{run_id}-{kind}-"


def scratch_dir(run_id: str, kind: str) -> Path:
    """A new scratch directory of the run; its owner removes it. RunStopped once the run is stopping."""
    stop.check()
    return Path(tempfile.mkdtemp(prefix=scratch_prefix(run_id, kind)))


def _lock_path(run_id: str) -> Path:
    return Path(tempfile.gettempdir()) / f"obsgate-{run_id}.lock"


@dataclass
class RunLock:
    """A live run's claim on its id; ``release`` at the end of its teardown (or the kernel, at its death)."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd < 0:
            return
        self.path.unlink(missing_ok=True)
        os.close(self.fd)     # closing drops the lock
        self.fd = -1


def hold(run_id: str) -> RunLock | None:
    """Claim ``run_id`` for this process; None when a live run already holds it."""
    path = _lock_path(run_id)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return RunLock(path, fd)


def is_live(run_id: str) -> bool:
    """A process holds ``run_id``'s lock (a stale lock file of a dead run is removed on the way)."""
    path = _lock_path(run_id)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    path.unlink(missing_ok=True)
    return False


def live_runs() -> set[str]:
    """The ids of the runs alive on this machine right now."""
    runs = {p.name.removeprefix("obsgate-").removesuffix(".lock") for p in Path(tempfile.gettempdir()).glob("obsgate-*.lock")}
    return {run for run in runs if is_live(run)}


def sweep_scratch(run_id: str | None = None, spare: Iterable[str] = ()) -> int:
    """Remove the scratch directories ``run_id`` (any run if None, but those of the runs in ``spare``) left behind;
    how many."""
    removed = 0
    kept = tuple(f"obsgate-{run}-" for run in spare)
    for path in Path(tempfile.gettempdir()).glob(scratch_prefix(run_id or "*", "*") + "*"):
        if path.is_dir() and not path.is_symlink() and not path.name.startswith(kept):
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

    @property
    def removed(self) -> int:
        return self.containers + self.networks + self.volumes

    def add(self, other: Swept) -> None:
        """Count ``other``'s removals too; its errors replace ours (it is the later attempt)."""
        self.containers += other.containers
        self.networks += other.networks
        self.volumes += other.volumes
        self.directories += other.directories
        self.errors = other.errors

    def __str__(self) -> str:
        text = f"removed {self.containers} containers, {self.networks} networks, {self.volumes} volumes"
        text += f", {self.directories} scratch directories" if self.directories else ""
        return text + (f"; errors: {'; '.join(self.errors)}" if self.errors else "")


def _name(obj: Any) -> str:
    """A listed object's name (a sparse container listing has ``Names``, not ``Name``)."""
    return str(obj.name or (obj.attrs.get("Names") or [obj.id[:12]])[0].lstrip("/"))


def _owner(obj: Any) -> str:
    """The gate run an object belongs to (an overlay's object: its parent run)."""
    labels = obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}
    return str(labels.get(LABEL_PARENT) or labels.get(LABEL_RUN, ""))


def _listed(list_objects: Callable[..., Iterable[Any]], filters: Iterable[str], spare: frozenset[str]) -> list[Any]:
    """The objects carrying any of the label ``filters`` (Docker ANDs filters in one call), each once, but those
    of the runs in ``spare``."""
    found: dict[str, Any] = {}
    for label in filters:
        for obj in list_objects(filters={"label": label}):
            if not spare or _owner(obj) not in spare:
                found.setdefault(obj.id, obj)
    return list(found.values())


def _remove_all(kind: str, objects: list[Any], remove: Callable[[Any], None]) -> tuple[int, list[str]]:
    """Remove ``objects`` concurrently: (how many went, an error per one that would not). Gone already is fine."""
    def one(obj: Any) -> str:
        try:
            remove(obj)
        except NotFound:
            return _GONE
        except APIError as exc:
            return f"{kind} {_name(obj)}: {exc.explanation or exc}"
        return _REMOVED

    if not objects:
        return 0, []
    with ThreadPoolExecutor(max_workers=min(SWEEP_WORKERS, len(objects)), thread_name_prefix="obsgate-sweep") as pool:
        outcomes = list(pool.map(one, objects))
    return outcomes.count(_REMOVED), [o for o in outcomes if o not in (_REMOVED, _GONE)]


def _sweep_once(client: docker.DockerClient, filters: list[str], spare: frozenset[str]) -> Swept:
    containers = _listed(lambda **kw: client.containers.list(all=True, sparse=True, ignore_removed=True, **kw), filters,
                         spare)
    removed_containers, errors = _remove_all("container", containers, lambda c: c.remove(force=True, v=True))
    removed_networks, network_errors = _remove_all("network", _listed(client.networks.list, filters, spare),
                                                   lambda n: n.remove())
    removed_volumes, volume_errors = _remove_all("volume", _listed(client.volumes.list, filters, spare),
                                                 lambda v: v.remove(force=True))
    return Swept(removed_containers, removed_networks, removed_volumes, (*errors, *network_errors, *volume_errors))


def sweep(client: docker.DockerClient, run_id: str | None = None, spare: Iterable[str] = ()) -> Swept:
    """Remove containers (concurrently), then networks, then volumes of ``run_id`` (any run if None, but
    those of the runs in ``spare``: ``live_runs()``).

    A run's objects are those labelled with its id, and those of its overlays and one-offs
    (``LABEL_PARENT``). A pass that removed something is followed by another, until one removes
    nothing: the threads of an interrupted run may still be creating objects meanwhile.
    """
    filters = [LABEL_RUN] if run_id is None else [f"{LABEL_RUN}={run_id}", f"{LABEL_PARENT}={run_id}"]
    swept, spared = Swept(), frozenset(spare)
    for _ in range(SWEEP_PASSES):
        once = _sweep_once(client, filters, spared)
        swept.add(once)
        if not once.removed:
            break
    return swept
