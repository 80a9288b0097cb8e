"""Loki's compactor runs, and retention really deletes: seed P1 "retention policies actually
work", "compactor runs successfully", success criterion "logs retained for 30 days".

Judged on an accelerated Loki (``retention_drill``): the production config file, only its
timing sped up by appended flags (obsgate.checks.resilience.retention says which and why).
"""

from __future__ import annotations

import pytest

from obsgate.checks.resilience.retention import RetentionDrill
from obsgate.gate.recorder import GateRecorder

COMPACTED_TIMEOUT_S = 20.0   # compaction interval 1s, first run one interval after start
QUERY_TIMEOUT_S = 15.0


@pytest.mark.gate(category="Resilience", weight=1)
def test_loki_compactor_compacts_shipped_tables(retention_drill: RetentionDrill, gate: GateRecorder) -> None:
    """After the index is shipped, the compactor completes a compaction, and none fails."""
    metrics = retention_drill.wait_compacted(COMPACTED_TIMEOUT_S)
    gate.evidence["compactor"] = metrics.describe()
    gate.evidence["timings"] = dict(retention_drill.timings)
    assert metrics.compactions_failed == 0, f"Loki's compactor failed: {metrics.describe()}"


@pytest.mark.gate(category="Resilience", weight=3)
def test_loki_retention_deletes_expired_lines_and_keeps_recent(retention_drill: RetentionDrill,
                                                              gate: GateRecorder) -> None:
    """Lines older than the retention period disappear, with their chunks; every recent line stays."""
    drill, logs = retention_drill, retention_drill.logs
    gate.evidence["settings"] = vars(drill.settings) | {"expired_age_h": drill.settings.expired_age_s / 3600}
    before = drill.chunk_spans()
    cutoff = drill.cutoff_ms()
    assert any(through < cutoff for _, through in before), (
        f"no expired chunk on the volume before retention ran (chunks: {before}): the drill proves nothing")
    swept = drill.wait_swept()
    gate.evidence["compactor"] = swept.describe()
    recent = logs.wait_for(logs.selector(age="recent"), drill.recent, drill.recent[0][0], QUERY_TIMEOUT_S)
    expired, answer = drill.expired_readable()
    gate.evidence["expired_query"] = answer
    after = drill.chunk_spans()
    gate.evidence["chunks"] = {"before": len(before), "after": len(after)}
    gate.evidence["timings"] = dict(drill.timings)
    assert not expired, f"{len(expired)} of {len(drill.expired)} expired lines still returned after the sweep"
    left = [span for span in after if span[1] < drill.cutoff_ms()]
    assert not left, f"{len(left)} expired chunks still on the volume after the sweep: {left}"
    assert recent == sorted(drill.recent), f"recent lines changed: {len(recent)} returned of {len(drill.recent)}"
