"""Static policy on the Loki config the compose file mounts: storage, retention, sizing, limits."""

import pytest

from obsgate.checks.static import loki
from obsgate.checks.static.files import StackFiles, measure, require_none
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Configuration", weight=2)
def test_loki_config_uses_tsdb_schema_v13(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed: schema v11 on boltdb-shipper is deprecated and blocks the Loki 3 upgrade."""
    require_none(loki.schema(stack_files.loki), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_loki_config_compactor_applies_retention(stack_files: StackFiles, gate: GateRecorder) -> None:
    """retention_period does nothing unless the compactor applies it, from a directory that persists."""
    findings = loki.compactor(stack_files.loki, stack_files.persistent("loki"), stack_files.loki_version)
    require_none(findings, gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_loki_config_keeps_data_on_the_volume(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Chunks, index and WAL outside the volume vanish with the container."""
    require_none(loki.data_dirs(stack_files.loki, stack_files.persistent("loki")), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_loki_config_retention_meets_policy(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed success criterion: logs retained for 30 days (gate.yml retention_h)."""
    measure(gate, stack_files.loki, "retention_h", loki.retention(stack_files.loki), "loki_retention_h")


@pytest.mark.gate(category="Configuration", weight=1)
def test_loki_config_rejects_samples_older_than_retention(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Accepting lines older than retention writes data the compactor deletes at once."""
    require_none(loki.old_samples(stack_files.loki), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_loki_config_ingestion_rate_admits_throughput_target(stack_files: StackFiles, policy: Policy, gate: GateRecorder) -> None:
    """The tenant rate limit must admit the seed benchmark (ingest_lines_per_s at avg_line_bytes)."""
    measured = loki.ingestion_rate(stack_files.loki, policy.target("avg_line_bytes").value)
    measure(gate, stack_files.loki, "ingest_lines_per_s", measured, "loki_ingestion_rate_lines_per_s")


@pytest.mark.gate(category="Configuration", weight=1)
def test_loki_config_ingestion_burst_admits_burst_target(stack_files: StackFiles, policy: Policy, gate: GateRecorder) -> None:
    """The burst bucket must hold ingest_burst_factor seconds of the target throughput."""
    measured = loki.ingestion_burst(
        stack_files.loki, policy.target("ingest_lines_per_s").value, policy.target("avg_line_bytes").value
    )
    measure(gate, stack_files.loki, "ingest_burst_factor", measured, "loki_ingestion_burst_factor")


@pytest.mark.gate(category="Configuration", weight=1)
def test_loki_config_bounds_queries(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Query length, series, entries and timeout are bounded so one query cannot take Loki down."""
    require_none(loki.query_limits(stack_files.loki), gate)
