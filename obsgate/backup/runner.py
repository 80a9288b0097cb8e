"""Back up and restore volumes through throwaway containers that mount them and run ``tar``, as the seed's script does.

The throwaway runs an image already present here (the service's own if it has ``tar``,
else another of the run's), never a pulled one, as root (to read and restore every file
with its owner), without a network; it carries the run's labels and is always removed
(an interrupted gate run stops waiting for it: its teardown removes it by those labels).
``restore`` checks everything for every target (archive, running users, emptiness) before
it touches any volume: a refusal changes nothing.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from obsgate.backup.archive import Manifest, commit, verify
from obsgate.backup.volumes import Target, exists
from obsgate.bringup.cleanup import LABEL_RUN, LABEL_SERVICE
from obsgate.core import stop
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.wait import WaitTimeout, poll

DATA, ARCHIVES = "/data", "/backup"
HAS_TAR = "command -v find >/dev/null && tar --numeric-owner -czf /dev/null -T /dev/null"  # GNU tar (not busybox)
HAS_FIND = "command -v find >/dev/null"
TAR_CHANGED = 1     # GNU tar: "file changed as we read it" (a live volume); the archive is still checked in full
TIMEOUT_S = 1800.0  # a throwaway's own budget: large volumes take minutes, a hang must still end
EXITED_POLL_S = 0.1  # how often a running throwaway is looked at


class ThrowawayFailed(RuntimeError):
    """A throwaway container's command failed; its output says why."""


@dataclass(frozen=True)
class Backed:
    manifest: Manifest
    seconds: float
    tar_warning: str = ""


@dataclass(frozen=True)
class Restored:
    target: Target
    manifest: Manifest
    seconds: float


@dataclass
class Runner:
    """Runs throwaway containers for one run (its labels) from images already present (``images``, in preference order)."""

    client: docker.DockerClient
    labels: Mapping[str, str]
    images: Sequence[str]
    _helpers: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    @property
    def run(self) -> str:
        return self.labels.get(LABEL_RUN, "obsgate")

    def helper(self, target: Target, needs: str = HAS_TAR, what: str = "tar") -> str:
        """The service's own image if it is here and passes ``needs`` (a shell test), else the first other one; never pulled."""
        for ref in dict.fromkeys((target.image, *self.images)):
            if (ref, needs) not in self._helpers:
                try:
                    self.client.images.get(ref)
                    self._helpers[ref, needs] = self.throwaway(ref, None, needs, purpose="tool-probe")[0] == 0
                except (ImageNotFound, ThrowawayFailed):
                    self._helpers[ref, needs] = False
            if self._helpers[ref, needs]:
                return ref
        raise NotEvaluated(f"no image with {what} present locally among {', '.join(dict.fromkeys((target.image, *self.images)))}"
                           " (obs-gate never pulls one for a throwaway)")

    def throwaway(self, image: str, volume: str | None, script: str, archives: Path | None = None,
                  read_only: bool = False, purpose: str = "backup") -> tuple[int, str]:
        """Run ``script`` with ``volume`` at /data and ``archives`` at /backup; (exit code, output). Always removed.

        One side is only read: the volume when it is backed up (``read_only``), else the archives.
        """
        mounts = {}
        if volume is not None:
            mounts[volume] = {"bind": DATA, "mode": "ro" if read_only else "rw"}
        if archives is not None:
            mounts[str(archives.resolve())] = {"bind": ARCHIVES, "mode": "rw" if read_only else "ro"}
        stop.check()
        try:
            container = self.client.containers.create(
                image, entrypoint=["/bin/sh", "-c"], command=[script], user="0", network_mode="none",
                volumes=mounts, labels={**self.labels, LABEL_SERVICE: f"{purpose}-{uuid.uuid4().hex[:6]}"})
        except DockerException as exc:
            raise ThrowawayFailed(f"cannot create a throwaway from {image}: {exc}") from None
        try:
            container.start()
            code = _exit_code(container, f"the {purpose} throwaway from {image}")
            return code, container.logs().decode("utf-8", "replace").strip()
        except (DockerException, WaitTimeout) as exc:
            raise ThrowawayFailed(f"throwaway from {image} failed: {exc}") from None
        finally:
            try:
                container.remove(force=True, v=True)
            except NotFound:
                pass

    def in_volume(self, target: Target, script: str, read_only: bool = False, archives: Path | None = None) -> tuple[int, str]:
        return self.throwaway(self.helper(target), target.docker_volume, script, archives, read_only,
                              purpose=f"{target.service}-backup")

    def is_empty(self, target: Target) -> bool:
        return self.in_volume(target, f'[ -z "$(ls -A {DATA})" ]', read_only=True)[0] == 0

    def wipe(self, target: Target) -> None:
        """Delete everything in the volume (the volume itself stays, so containers that use it still do)."""
        code, out = self.in_volume(target, f"find {DATA} -mindepth 1 -delete")
        if code != 0:
            raise ThrowawayFailed(f"wiping {target.docker_volume} failed ({code}): {out}")


def _exit_code(container: Container, what: str) -> int:
    """The container's exit code once it has exited; polled rather than Docker's blocking wait, which an
    interrupted run could not leave (obsgate.core.stop)."""
    def ended() -> dict[str, object] | None:
        container.reload()
        state: dict[str, object] = container.attrs["State"]
        return None if state.get("Running") else state

    state = poll(ended, timeout_s=TIMEOUT_S, what=f"{what} to exit", interval_s=EXITED_POLL_S, fatal=(DockerException,))
    return int(str(state["ExitCode"]))


def backup(runner: Runner, target: Target, directory: Path) -> Backed:
    """Archive ``target``'s volume into ``directory`` (its service may run); the old archive stays till this one is done."""
    if not exists(runner.client, target.docker_volume):
        raise InputError(f"volume {target.docker_volume}", target.compose_volume, "no such docker volume",
                         "check --project (docker volume ls shows what exists)")
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{target.key}.{runner.run}.partial"
    started = time.monotonic()
    script = (f"tar --numeric-owner -czf {ARCHIVES}/{partial.name} -C {DATA} .; rc=$?;"
              f" chown {os.getuid()}:{os.getgid()} {ARCHIVES}/{partial.name} 2>/dev/null; exit $rc")
    try:
        code, out = runner.in_volume(target, script, read_only=True, archives=directory)
        if code not in (0, TAR_CHANGED):
            raise ThrowawayFailed(f"tar of {target.docker_volume} exited {code}: {out}")
        manifest = commit(directory, partial, target, target.docker_volume, runner.run)
    finally:
        partial.unlink(missing_ok=True)
    return Backed(manifest, time.monotonic() - started, out if code == TAR_CHANGED else "")


def in_use(client: docker.DockerClient, volume: str) -> list[str]:
    """Running containers that mount ``volume``."""
    return sorted(str(c.name) for c in client.containers.list(filters={"volume": volume}))


def check_restore(runner: Runner, targets: Sequence[Target], directory: Path, overwrite: bool) -> list[Manifest]:
    """Every reason not to restore, before anything is touched: a bad archive, a running user, data in the way."""
    manifests = [verify(directory, t) for t in targets]
    for t in targets:
        if users := in_use(runner.client, t.docker_volume):
            raise InputError(f"volume {t.docker_volume}", t.compose_volume,
                             f"in use by running container {', '.join(users)}",
                             f"stop {t.service} first (docker compose stop {t.service}), then restore")
    for t in targets:
        if not overwrite and exists(runner.client, t.docker_volume) and not runner.is_empty(t):
            raise InputError(f"volume {t.docker_volume}", t.compose_volume, "is not empty",
                             "pass --yes-overwrite to replace what it holds with the backup")
    return manifests


def restore(runner: Runner, targets: Sequence[Target], directory: Path, overwrite: bool = False,
            volume_labels: Mapping[str, Mapping[str, str]] | None = None) -> list[Restored]:
    """Restore every target from ``directory`` or, if any check fails, none (InputError, nothing changed).

    A missing docker volume is created (``volume_labels[docker volume]``: compose's labels for
    a deployment, so ``docker compose up`` adopts it; without them, a gate drill's: the runner's
    labels, so the run's teardown removes it); an existing one is emptied first.
    """
    manifests = check_restore(runner, targets, directory, overwrite)
    done = []
    for target, manifest in zip(targets, manifests, strict=True):
        started = time.monotonic()
        if exists(runner.client, target.docker_volume):
            runner.wipe(target)
        else:
            labels = runner.labels if volume_labels is None else volume_labels.get(target.docker_volume, {})
            stop.check()
            runner.client.volumes.create(target.docker_volume, labels=dict(labels))
        script = (f"tar --numeric-owner -xzpf {ARCHIVES}/{manifest.archive} -C {DATA}"
                  f" && [ \"$(find {DATA} | wc -l)\" -eq {manifest.members} ]")
        code, out = runner.in_volume(target, script, archives=directory)
        if code != 0:
            raise ThrowawayFailed(f"restoring {manifest.archive} into {target.docker_volume} failed ({code}): {out}"
                                  f" — the volume is incomplete: restore again")
        done.append(Restored(target, manifest, time.monotonic() - started))
    return done
