"""Loki's compactor runs, and retention really deletes: seed P1 "retention policies actually
work", "compactor runs successfully", success criterion "logs retained for 30 days".

Judged on an accelerated Loki (``retention_drill``): the production config file, only its
timing sped up by appended flags (obsgate.checks.resilience.retention says which and why).
The drill runs ahead, in the background; these checks judge what it observed. With
``--candidate loki=IMAGE`` the same drill runs on the candidate too (``candidate_retention_drill``),
judged under "Upgrade readiness": a Loki upgrade that stops deleting is seen before it ships.
"""

from __future__ import annotations

import pytest

from obsgate.checks.resilience.retention import RetentionDrill, judge_compaction, judge_retention
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Resilience", weight=1)
def test_loki_compactor_compacts_shipped_tables(retention_drill: RetentionDrill, gate: GateRecorder) -> None:
    """After the index is shipped, the compactor completes a compaction, and none fails."""
    judge_compaction(retention_drill, gate)


@pytest.mark.gate(category="Resilience", weight=3)
def test_loki_retention_deletes_expired_lines_and_keeps_recent(retention_drill: RetentionDrill,
                                                              gate: GateRecorder) -> None:
    """Lines older than the retention period disappear, with their chunks; every recent line stays."""
    judge_retention(retention_drill, gate)


@pytest.mark.gate(category="Upgrade readiness", weight=1)
def test_candidate_loki_compactor_compacts_shipped_tables(candidate_retention_drill: RetentionDrill,
                                                          gate: GateRecorder) -> None:
    """The candidate Loki, on today's config, completes a compaction (2.9 and 3.x metric names)."""
    judge_compaction(candidate_retention_drill, gate)


@pytest.mark.gate(category="Upgrade readiness", weight=1)
def test_candidate_loki_retention_deletes_expired_lines_and_keeps_recent(candidate_retention_drill: RetentionDrill,
                                                                         gate: GateRecorder) -> None:
    """The candidate Loki, on today's config, deletes expired lines and their chunks and keeps recent ones."""
    judge_retention(candidate_retention_drill, gate)
