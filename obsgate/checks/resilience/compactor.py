"""Loki's compactor as its own /metrics tell it: compactions, retention marks, sweeper deletions.

Loki 2.9 names these ``loki_boltdb_shipper_*`` (whatever the index store), 3.x renamed them
``loki_compactor_*``; the suffixes are the same, so both prefixes are accepted and summed.
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

    def describe(self) -> str:
        return (f"{self.compactions_ok:.0f} successful / {self.compactions_failed:.0f} failed compactions,"
                f" {self.chunks_marked:.0f} chunks marked for deletion, {self.chunks_deleted:.0f} deleted by the sweeper"
                f" ({self.chunks_already_gone:.0f} found gone already)")

    def swept(self, marked: float) -> bool:
        """The sweeper has dealt with ``marked`` marks and deleted at least one chunk."""
        return self.chunks_deleted >= 1 and self.chunks_deleted + self.chunks_already_gone >= marked


def _samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for prefix in PREFIXES:
                if sample.name.startswith(prefix):
                    yield sample.name[len(prefix):], sample.labels, sample.value


def parse(text: str) -> CompactorMetrics:
    """The compactor's figures from a /metrics page, under either generation's names."""
    figures = dict.fromkeys(("ok", "failed", "last", "retention", "marked", "deleted", "gone"), 0.0)
    for name, labels, value in _samples(text):
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
                            figures["marked"], figures["deleted"], figures["gone"])
