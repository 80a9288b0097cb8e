"""The gate's backup and restore drill (the seed's DR plan) on a stack of the run, through the command's own functions.

Back up every named volume of the chosen services while they run, stop them, wipe the
volumes, restore (``runner.restore``, exactly as ``python -m obsgate restore`` does), start
them, timing each phase. The stack is left running whatever happens, so checks after the
drill find it as before; what went wrong is kept per service for the checks to name.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from obsgate.backup.runner import Backed, Restored, Runner, backup, restore
from obsgate.backup.volumes import Target, stateful, targets
from obsgate.bringup.cleanup import scratch_prefix
from obsgate.bringup.stack import Stack, State

BACKED_UP = ("loki", "grafana", "prometheus")   # the seed's DR plan; Alertmanager's silences are not in it


@dataclass
class DrillResult:
    """What the drill did and measured; ``failures`` per service (empty: its volumes were restored)."""

    targets: list[Target]
    backed: list[Backed] = field(default_factory=list)
    restored: list[Restored] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    backup_s: float = 0.0
    stop_s: float = 0.0
    wipe_s: float = 0.0
    restore_s: float = 0.0
    start_s: dict[str, float] = field(default_factory=dict)
    rto_s: float = 0.0       # wipe + restore + start until every service is ready again

    @property
    def backup_bytes(self) -> int:
        return sum(b.manifest.archive_bytes for b in self.backed)

    def failure(self, service: str) -> str | None:
        return self.failures.get(service)

    def evidence(self) -> dict[str, object]:
        return {
            "volumes": {b.manifest.key: {"docker_volume": b.manifest.docker_volume, "archive_bytes": b.manifest.archive_bytes,
                                          "members": b.manifest.members, "data_bytes": b.manifest.data_bytes,
                                          "backup_s": round(b.seconds, 2)} for b in self.backed},
            "backup_bytes": self.backup_bytes, "backup_s": round(self.backup_s, 2), "stop_s": round(self.stop_s, 2),
            "wipe_s": round(self.wipe_s, 2), "restore_s": round(self.restore_s, 2),
            "start_s": {k: round(v, 2) for k, v in self.start_s.items()}, "rto_s": round(self.rto_s, 2),
            "failures": self.failures,
        }


def drill_services(stack: Stack) -> list[str]:
    """The DR plan's services that run in ``stack`` (one that cannot run here is left out)."""
    return [s for s in BACKED_UP if s in stateful(stack.project) and stack[s].state is State.READY]


def stack_targets(stack: Stack, services: Sequence[str]) -> list[Target]:
    """The services' named volumes as this stack named them (``Stack.volume_name``)."""
    return targets(stack.project, services, None, stack.volume_name, lambda s: stack[s].image.ref)


def runner_for(stack: Stack) -> Runner:
    """Throwaways labelled with the stack's run, from the run's own images."""
    return Runner(stack.client, stack.labels, [h.image.ref for h in stack if h.image.available])


def _each(services: Sequence[str], act: Callable[[str], float | None]) -> dict[str, float | BaseException | None]:
    """``act`` on every service at once (stopping or starting them one by one would add up); its outcome per service."""
    with ThreadPoolExecutor(max_workers=max(1, len(services)), thread_name_prefix="obsgate-drill") as pool:
        futures = {s: pool.submit(act, s) for s in services}
    return {s: f.exception() or f.result() for s, f in futures.items()}


def run_drill(stack: Stack, services: Sequence[str], directory: Path,
              plan: Callable[[list[Target]], list[Target]] = list) -> DrillResult:
    """Back up (what ``plan`` keeps of every target), stop, wipe, restore, start; the services run again after."""
    runner, every = runner_for(stack), stack_targets(stack, services)
    result = DrillResult(every)
    started = time.monotonic()
    for target in plan(every):
        result.backed.append(backup(runner, target, directory))
    result.backup_s = time.monotonic() - started
    started = time.monotonic()
    for service, outcome in _each(services, lambda s: stack[s].stop()).items():
        if isinstance(outcome, BaseException):
            result.failures[service] = f"{service} did not stop: {outcome}"
    result.stop_s = time.monotonic() - started
    outage = time.monotonic()
    try:
        for target in every:
            runner.wipe(target)
        result.wipe_s = time.monotonic() - outage
        for service in services:
            try:
                result.restored += restore(runner, [t for t in every if t.service == service], directory)
            except Exception as exc:  # noqa: BLE001 - a refused or failed restore is the finding, kept per service
                result.failures[service] = f"restore of {service} failed: {exc}"
        result.restore_s = time.monotonic() - outage - result.wipe_s
    finally:
        for service, outcome in _each(services, lambda s: stack[s].start()).items():
            if isinstance(outcome, BaseException):
                result.failures[service] = f"{result.failures.get(service, '')} {service} did not start again: {outcome}".strip()
            elif outcome is not None:
                result.start_s[service] = outcome
    result.rto_s = time.monotonic() - outage
    return result


@contextmanager
def backup_directory(run_id: str) -> Iterator[Path]:
    """A private directory for the drill's archives, removed with them."""
    with tempfile.TemporaryDirectory(prefix=scratch_prefix(run_id, "backup")) as path:
        yield Path(path)
