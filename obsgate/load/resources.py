"""CPU and memory of the stack's containers during a load run, from the Docker stats API.

One thread per container streams ``docker stats`` (about one sample a second, each with
its previous CPU reading), timestamps each sample on arrival, and ``summary`` averages the
samples inside a window: CPU in cores (as ``docker stats`` computes it, times the CPUs the
container may use) and memory as ``docker stats`` shows it (usage minus inactive page cache).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from docker.errors import DockerException


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu_cores: float | None
    memory_bytes: float
    with_cache: bool = False        # the engine gave no breakdown (Podman's compat API): page cache counted as memory


def parse_sample(stats: Mapping[str, Any], wall: float) -> Sample:
    """One Docker stats reading as cores used since the previous reading and memory in use."""
    cpu, pre = stats.get("cpu_stats", {}), stats.get("precpu_stats", {})
    cores: float | None = None
    cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    online = cpu.get("online_cpus") or len(cpu.get("cpu_usage", {}).get("percpu_usage") or []) or 1
    if system_delta > 0 and pre.get("system_cpu_usage"):
        cores = cpu_delta / system_delta * online
    memory = stats.get("memory_stats", {})
    inner = memory.get("stats") or {}
    cache = inner.get("inactive_file", inner.get("total_inactive_file", inner.get("cache", 0)))
    return Sample(wall, cores, float(max(0, memory.get("usage", 0) - cache)), with_cache="usage" in memory and not inner)


@dataclass(frozen=True)
class ServiceUse:
    cpu_cores: float
    memory_bytes: float             # mean over the window
    memory_peak_bytes: float
    samples: int
    interval_s: float               # between samples: Docker streams about every second, Podman every 5 s
    with_cache: bool = False


@dataclass(frozen=True)
class ResourceFigures:
    """Per service and in total, over one window; services without samples are listed apart."""

    services: dict[str, ServiceUse]
    missing: tuple[str, ...] = ()

    @property
    def cpu_cores(self) -> float:
        return sum(s.cpu_cores for s in self.services.values())

    @property
    def memory_bytes(self) -> float:
        return sum(s.memory_bytes for s in self.services.values())

    @property
    def memory_peak_bytes(self) -> float:
        return sum(s.memory_peak_bytes for s in self.services.values())

    @property
    def with_cache(self) -> tuple[str, ...]:
        """Services whose memory includes the page cache: no memory figure of theirs can be judged."""
        return tuple(sorted(n for n, s in self.services.items() if s.with_cache))

    def evidence(self) -> dict[str, Any]:
        return {"per_service": {n: {"cpu_cores": round(s.cpu_cores, 3), "memory_MiB": round(s.memory_bytes / 2**20, 1),
                                    "memory_peak_MiB": round(s.memory_peak_bytes / 2**20, 1), "samples": s.samples,
                                    "sample_interval_s": round(s.interval_s, 2), "memory_includes_page_cache": s.with_cache}
                                for n, s in sorted(self.services.items())},
                "total": {"cpu_cores": round(self.cpu_cores, 3), "memory_MiB": round(self.memory_bytes / 2**20, 1)},
                "no_samples": list(self.missing)}


def summarize(samples: Mapping[str, Iterable[Sample]], start: float, end: float) -> ResourceFigures:
    services, missing = {}, []
    for name, all_samples in samples.items():
        inside = [s for s in all_samples if start <= s.wall <= end]
        cpu = [s.cpu_cores for s in inside if s.cpu_cores is not None]
        if not inside or not cpu:
            missing.append(name)
            continue
        services[name] = ServiceUse(sum(cpu) / len(cpu), sum(s.memory_bytes for s in inside) / len(inside),
                                    max(s.memory_bytes for s in inside), len(inside), (end - start) / len(inside),
                                    any(s.with_cache for s in inside))
    return ResourceFigures(services, tuple(missing))


@dataclass
class StatsSampler:
    """Streams Docker stats of each container in a thread of its own until ``stop``."""

    containers: Mapping[str, Any]          # service name -> docker.models.containers.Container
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _follow(self, name: str, container: Any) -> None:
        try:
            for stats in container.stats(stream=True, decode=True):
                self.samples[name].append(parse_sample(stats, time.time()))
                if self._stop.is_set():
                    return
        except (DockerException, OSError, ValueError) as exc:
            self.errors[name] = f"{type(exc).__name__}: {exc}"

    def start(self) -> StatsSampler:
        for name, container in self.containers.items():
            self.samples[name] = []
            thread = threading.Thread(target=self._follow, args=(name, container), daemon=True,
                                      name=f"obsgate-stats-{name}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop following (each thread ends at its next sample, within about a second)."""
        self._stop.set()

    def summary(self, start: float, end: float) -> ResourceFigures:
        return summarize(self.samples, start, end)
