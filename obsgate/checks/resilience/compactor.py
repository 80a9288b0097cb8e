"""Loki's compactor as its own /metrics tell it: compactions, retention marks, sweeper deletions.

Loki names most of these ``loki_boltdb_shipper_*`` whatever the index store, in 2.9.3 and
still in 3.0-3.7 (read in their source; 3.4.6 run here). 3.x moved only
``apply_retention_*`` to ``loki_compactor_*``. Each series lives under one prefix in any one
release, so both prefixes are accepted for every figure and summed: a release that renames
more is still judged, and the evidence names the series that were read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

PREFIXES = ("loki_boltdb_shipper_", "loki_compactor_")
COMPACTIONS = "compact_tables_operation_total"
LAST_COMPACTION = "compact_tables_operation_last_successful_run_timestamp_seconds"
LAST_RETENTION = "apply_retention_last_successful_run_timestamp_seconds"
MARKED = "retention_marker_count_total"
SWEPT = "retention_sweeper_chunk_deleted_duration_seconds_count"


@dataclass(frozen=True)
class CompactorMetrics:
    """The compactor's counters at one moment (0 where Loki has not exported a series yet)."""

    compactions_ok: float = 0.0
    compactions_failed: float = 0.0
    last_compaction_s: float = 0.0
    last_retention_s: float = 0.0
    chunks_marked: float = 0.0
    chunks_deleted: float = 0.0
    chunks_already_gone: float = 0.0   # the sweeper found the file deleted already (a chunk marked twice)
    series: tuple[str, ...] = ()        # the metric names these figures came from

    def describe(self) -> str:
        return (f"{self.compactions_ok:.0f} successful / {self.compactions_failed:.0f} failed compactions,"
                f" {self.chunks_marked:.0f} chunks marked for deletion, {self.chunks_deleted:.0f} deleted by the sweeper"
                f" ({self.chunks_already_gone:.0f} found gone already)")

    def swept(self, marked: float) -> bool:
        """The sweeper has dealt with ``marked`` marks and deleted at least one chunk."""
        return self.chunks_deleted >= 1 and self.chunks_deleted + self.chunks_already_gone >= marked


FIGURES = (COMPACTIONS, LAST_COMPACTION, LAST_RETENTION, MARKED, SWEPT)


def _samples(text: str) -> Iterable[tuple[str, str, dict[str, str], float]]:
    """(full name, name without prefix, labels, value) of every compactor figure's sample."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for prefix in PREFIXES:
                if sample.name.startswith(prefix) and sample.name[len(prefix):] in FIGURES:
                    yield sample.name, sample.name[len(prefix):], sample.labels, sample.value


def parse(text: str) -> CompactorMetrics:
    """The compactor's figures from a /metrics page, under either generation's names."""
    figures = dict.fromkeys(("ok", "failed", "last", "retention", "marked", "deleted", "gone"), 0.0)
    series: set[str] = set()
    for full, name, labels, value in _samples(text):
        series.add(full)
        if name == COMPACTIONS:
            figures["ok" if labels.get("status") == "success" else "failed"] += value
        elif name == LAST_COMPACTION:
            figures["last"] = max(figures["last"], value)
        elif name == LAST_RETENTION:
            figures["retention"] = max(figures["retention"], value)
        elif name == MARKED:
            figures["marked"] += value
        elif name == SWEPT and labels.get("status") in ("success", "notfound"):
            figures["deleted" if labels["status"] == "success" else "gone"] += value
    return CompactorMetrics(figures["ok"], figures["failed"], figures["last"], figures["retention"],
                            figures["marked"], figures["deleted"], figures["gone"], tuple(sorted(series)))
