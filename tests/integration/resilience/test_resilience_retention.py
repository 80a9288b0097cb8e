"""Loki's compactor runs, and retention really deletes: seed P1 "retention policies actually
work", "compactor runs successfully", success criterion "logs retained for 30 days".

Judged on an accelerated Loki (``retention_drill``): the production config file, only its
timing sped up by appended flags (obsgate.checks.resilience.retention says which and why).
The drill runs ahead, in the background; these checks judge what it observed.
"""

from __future__ import annotations

import pytest

from obsgate.checks.resilience.retention import RetentionDrill
from obsgate.gate.recorder import GateRecorder


@pytest.mark.gate(category="Resilience", weight=1)
def test_loki_compactor_compacts_shipped_tables(retention_drill: RetentionDrill, gate: GateRecorder) -> None:
    """After the index is shipped, the compactor completes a compaction, and none fails."""
    gate.evidence["timings"] = dict(retention_drill.timings)
    metrics = retention_drill.result("compaction")
    gate.evidence["compactor"] = metrics.describe()
    assert metrics.compactions_failed == 0, f"Loki's compactor failed: {metrics.describe()}"


@pytest.mark.gate(category="Resilience", weight=3)
def test_loki_retention_deletes_expired_lines_and_keeps_recent(retention_drill: RetentionDrill,
                                                              gate: GateRecorder) -> None:
    """Lines older than the retention period disappear, with their chunks; every recent line stays."""
    drill = retention_drill
    gate.evidence["settings"] = vars(drill.settings) | {"expired_age_h": drill.settings.expired_age_s / 3600}
    gate.evidence["timings"] = dict(drill.timings)
    cutoff = drill.cutoff_ms()
    before = drill.result("chunks_before")
    assert any(through < cutoff for _, through in before), (
        f"no expired chunk on the volume before retention ran (chunks: {before}): the drill proves nothing")
    gate.evidence["compactor"] = drill.result("sweep").describe()
    expired, answer = drill.result("expired")
    gate.evidence["expired_query"] = answer
    after = drill.result("chunks_after")
    gate.evidence["chunks"] = {"before": len(before), "after": len(after)}
    assert not expired, f"{len(expired)} of {len(drill.expired)} expired lines still returned after the sweep"
    left = [span for span in after if span[1] < cutoff]
    assert not left, f"{len(left)} expired chunks still on the volume after the sweep: {left}"
    recent = drill.result("recent")
    assert recent == sorted(drill.recent), f"recent lines changed: {len(recent)} returned of {len(drill.recent)}"
