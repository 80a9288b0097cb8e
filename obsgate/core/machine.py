"""How busy this machine's CPUs were over a span: evidence that the machine, not the stack, ate a check's time.

Read from Linux's /proc/stat, which only speaks for the containers when the Docker engine runs on this
machine (no remote ``DOCKER_HOST``); elsewhere there is no figure, and nothing is excused by one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")
IDLE_FIELDS = (3, 4)        # idle, iowait in the "cpu" line (user nice system idle iowait irq softirq steal ...)
COUNTED_FIELDS = 8          # user .. steal; guest time is already inside user


@dataclass(frozen=True)
class CpuTimes:
    """All CPUs' busy and total time (clock ticks) since boot, at one moment."""

    busy: int
    total: int
    cpus: int = 1       # how many CPUs the times are summed over

    def as_dict(self) -> dict[str, int]:
        return {"busy": self.busy, "total": self.total, "cpus": self.cpus}

    @classmethod
    def now(cls, stat: Path = PROC_STAT) -> CpuTimes | None:
        """This moment's times; None where they cannot speak for the containers (no /proc, a remote engine)."""
        host = os.environ.get("DOCKER_HOST", "")
        if host and not host.startswith("unix://"):
            return None
        try:
            lines = stat.read_text().splitlines()
            first = lines[0].split()
        except (OSError, IndexError):
            return None
        if not first or first[0] != "cpu":
            return None
        ticks = [int(v) for v in first[1:1 + COUNTED_FIELDS]]
        idle = sum(ticks[i] for i in IDLE_FIELDS if i < len(ticks))
        cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
        return cls(sum(ticks) - idle, sum(ticks), max(1, cpus))

    def busy_share_until(self, later: CpuTimes | None) -> float | None:
        """The share of all CPUs' time spent busy from this moment to ``later`` (0..1); None without a span."""
        if later is None or later.total <= self.total:
            return None
        return (later.busy - self.busy) / (later.total - self.total)

    def busy_cores_until(self, later: CpuTimes | None) -> float | None:
        """How many CPUs' worth of work the machine did from this moment to ``later``; None without a span."""
        share = self.busy_share_until(later)
        return None if share is None else share * self.cpus
