"""The soak: the target rate held for gate.yml ``load.soak_s``, watched for what only time shows.

A short run proves the rate; a leak, a flush that keeps failing or latency that creeps up shows
only over minutes. While the soak runs, Loki's own gauges and counters are read every
``SAMPLE_S`` (in-memory streams and chunks, flush failures); afterwards each service's memory
growth per minute is the least-squares slope of its Docker stats over the soak window, and the
push p99 drift is the p99 of the window's last minute minus that of its first.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docker.errors import DockerException

from obsgate.load import shapes
from obsgate.load.plan import percentile
from obsgate.load.resources import Sample

SOAK = "soak"
SAMPLE_S = 10.0
SCRAPE_TIMEOUT_S = 5.0
DRIFT_SPAN_S = 60.0            # the first and the last minute of the window are compared
MIB = 1 << 20
# Loki's in-memory figures and flush failures, summed over their series (a ``{label="value"}`` part: only those).
# Loki 2.9 has no flush-failure counter (3.x: loki_ingester_chunks_flush_failures_total); a failed flush is
# logged at level error there, which its own log-line counter counts.
GAUGES = {"memory_streams": "loki_ingester_memory_streams", "memory_chunks": "loki_ingester_memory_chunks",
          "flush_failures": "loki_ingester_chunks_flush_failures_total",
          "errors_logged": 'loki_internal_log_messages_total{level="error"}',
          "chunks_flushed": "loki_ingester_chunks_flushed_total"}
COUNTERS = ("flush_failures", "errors_logged", "chunks_flushed")


def soak_plan(pushes_per_s: float, soak_s: float, ramp_s: float) -> shapes.Plan:
    """The target's push rate for ``soak_s`` after the gate profile's ramp."""
    return shapes.soak(pushes_per_s, soak_s + ramp_s, ramp_s=ramp_s)


def parse_gauges(text: str) -> dict[str, float]:
    """The GAUGES' values from a /metrics page, each summed over its series; absent ones left out."""
    found: dict[str, float] = {}
    wanted = [(key, *metric.partition("{")[::2]) for key, metric in GAUGES.items()]
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        for key, metric, labels in wanted:
            if name == metric and labels.rstrip("}") in line:
                found[key] = found.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


@dataclass
class GaugeSampler:
    """Reads Loki's /metrics every SAMPLE_S in a thread until ``stop``; errors are kept, not raised."""

    url: str
    interval_s: float = SAMPLE_S
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=SCRAPE_TIMEOUT_S) as response:
                    self.samples.append((time.time(), parse_gauges(response.read().decode("utf-8", "replace"))))
            except OSError as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.interval_s)

    def start(self) -> GaugeSampler:
        threading.Thread(target=self._follow, daemon=True, name="obsgate-soak-gauges").start()
        return self

    def stop(self) -> None:
        self._stop.set()


@dataclass(frozen=True)
class Restarts:
    """What the engine says of a service's container after the soak: restarts (its restart policy) and OOM kills."""

    count: int
    oom_killed: bool
    memory_limit_bytes: int

    def evidence(self) -> dict[str, Any]:
        return {"restarts": self.count, "oom_killed": self.oom_killed, "memory_limit_bytes": self.memory_limit_bytes}


def restarts(containers: Mapping[str, Any]) -> dict[str, Restarts]:
    """Each container's restart count and last OOM kill, read fresh from the engine (the ones it cannot read
    are left out)."""
    out = {}
    for name, container in containers.items():
        try:
            container.reload()
        except DockerException:
            continue
        attrs = container.attrs
        out[name] = Restarts(int(attrs.get("RestartCount") or 0), bool(attrs.get("State", {}).get("OOMKilled")),
                             int(attrs.get("HostConfig", {}).get("Memory") or 0))
    return out


def restart_problems(found: Mapping[str, Restarts]) -> list[str]:
    """Services that restarted during the soak, each with why as far as the engine knows."""
    problems = []
    for name, r in sorted(found.items()):
        if r.count or r.oom_killed:
            limit = f" at its {r.memory_limit_bytes / MIB:,.0f} MiB memory limit" if r.memory_limit_bytes else ""
            why = f", OOM-killed{limit}" if r.oom_killed else ""
            problems.append(f"{name} restarted {r.count} time(s){why}")
    return problems


def slope_per_min(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (unix s, value) points, per minute; None with fewer than two distinct times."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 60.0


def memory_growth_mib_per_min(samples: Mapping[str, Sequence[Sample]], start: float, end: float) -> dict[str, float]:
    """Each service's memory growth over the window, MiB per minute (services without two samples left out)."""
    out = {}
    for name, all_samples in samples.items():
        slope = slope_per_min([(s.wall, s.memory_bytes) for s in all_samples if start <= s.wall <= end])
        if slope is not None:
            out[name] = slope / MIB
    return out


def push_p99_drift_s(push_latencies: Sequence[Sequence[Any]], start: float, end: float,
                     span_s: float = DRIFT_SPAN_S) -> tuple[float, float, float]:
    """(first minute's p99, last minute's p99, their difference) of the pushes answered in the window."""
    first = [s for t, s, ok, _ in push_latencies if ok and start <= t < start + span_s]
    last = [s for t, s, ok, _ in push_latencies if ok and end - span_s < t <= end]
    if not first or not last:
        raise AssertionError(f"no pushes answered in the soak window's first or last {span_s:g} s "
                             f"({len(first)} and {len(last)})")
    p_first, p_last = percentile(first, 99), percentile(last, 99)
    return p_first, p_last, p_last - p_first


@dataclass(frozen=True)
class LokiSeries:
    """Loki's gauges over the soak window: first, last, peak and growth per minute of each."""

    figures: dict[str, dict[str, float | None]]
    samples: int
    restarts: int = 0         # times a counter of Loki's went down between two readings: its process restarted
    increases: dict[str, float] = field(default_factory=dict)   # each counter's rise, across restarts

    @classmethod
    def of(cls, samples: Sequence[tuple[float, Mapping[str, float]]], start: float, end: float) -> LokiSeries:
        inside = [(t, g) for t, g in samples if start <= t <= end]
        figures: dict[str, dict[str, float | None]] = {}
        for key in GAUGES:
            points = [(t, g[key]) for t, g in inside if key in g]
            if points:
                figures[key] = {"first": points[0][1], "last": points[-1][1], "peak": max(v for _, v in points),
                                "per_min": slope_per_min(points)}
        counters = [g["chunks_flushed"] for _, g in inside if "chunks_flushed" in g]
        restarts = sum(1 for a, b in zip(counters, counters[1:], strict=False) if b < a)
        increases = {key: counter_increase([g[key] for _, g in inside if key in g])
                     for key in COUNTERS if any(key in g for _, g in inside)}
        return cls(figures, len(inside), restarts, increases)

    def increase(self, key: str) -> float | None:
        """A counter's rise over the window, across Loki's restarts (None: Loki does not export it)."""
        return self.increases.get(key)


def counter_increase(values: Sequence[float]) -> float:
    """A counter's rise over successive readings, as Prometheus' increase() counts it: a reading below the one
    before is a restart, from zero."""
    return sum(b - a if b >= a else b for a, b in zip(values, values[1:], strict=False))
