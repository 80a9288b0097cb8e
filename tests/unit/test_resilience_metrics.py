"""Unit tests of the compactor metrics (both Loki generations' names) and the scrape fingerprint."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from obsgate.checks.resilience.compactor import parse
from obsgate.checks.resilience.tsdb import series_at
from obsgate.clients import Endpoint, PrometheusAPI

LOKI_29 = """# TYPE loki_boltdb_shipper_compact_tables_operation_total counter
loki_boltdb_shipper_compact_tables_operation_total{status="success"} 26
loki_boltdb_shipper_compact_tables_operation_total{status="failure"} 1
# TYPE loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds gauge
loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds 1.7961628767568455e+09
# TYPE loki_boltdb_shipper_retention_marker_count_total counter
loki_boltdb_shipper_retention_marker_count_total{object_store="filesystem",table="index_20786"} 1
# TYPE loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds histogram
loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_sum{object_store="filesystem",status="success"} 0.0006
loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_count{object_store="filesystem",status="success"} 1
loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_count{object_store="filesystem",status="notfound"} 1
"""


def test_loki_29_names() -> None:
    m = parse(LOKI_29)
    assert (m.compactions_ok, m.compactions_failed, m.chunks_marked, m.chunks_deleted) == (26, 1, 1, 1)
    assert m.last_compaction_s == 1.7961628767568455e09
    assert m.chunks_already_gone == 1
    assert m.describe() == ("26 successful / 1 failed compactions, 1 chunks marked for deletion,"
                            " 1 deleted by the sweeper (1 found gone already)")
    assert m.swept(2) and not m.swept(3)


LOKI_346 = (Path(__file__).parent / "fixtures" / "loki" / "compactor-metrics-3.4.6.txt").read_text()


def test_loki_346_page_as_recorded() -> None:
    """3.4.6 keeps the compaction and sweeper names and moves apply_retention_* to loki_compactor_."""
    m = parse(LOKI_346)
    assert (m.compactions_ok, m.compactions_failed, m.chunks_marked, m.chunks_deleted) == (1, 0, 1, 1)
    assert m.last_compaction_s == 1.796180433860418e09
    assert m.last_retention_s == 1.7961804338647764e09
    assert "loki_compactor_apply_retention_last_successful_run_timestamp_seconds" in m.series
    assert "loki_boltdb_shipper_compact_tables_operation_total" in m.series


def test_a_release_that_renames_every_series_is_still_read() -> None:
    m = parse(LOKI_29.replace("loki_boltdb_shipper_", "loki_compactor_"))
    assert (m.compactions_ok, m.chunks_marked, m.chunks_deleted) == (26, 1, 1)
    assert all(name.startswith("loki_compactor_") for name in m.series)


def test_nothing_exported_yet_is_zero() -> None:
    assert parse("# TYPE go_goroutines gauge\ngo_goroutines 12\n").compactions_ok == 0


def _range_answer(request: httpx.Request) -> httpx.Response:
    """A range-vector query answered with two series at the scrape and one that missed it."""
    assert dict(request.url.params) == {"query": '{job="prometheus"}[1s]', "time": "1796162563.392"}
    result = [{"metric": {"__name__": "up"}, "values": [[1796162563.392, "1"]]},
              {"metric": {"__name__": "a"}, "values": [[1796162548.392, "1"], [1796162563.392, "2"]]},
              {"metric": {"__name__": "b"}, "values": [[1796162548.392, "1"]]}]
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": result}})


def test_series_at_counts_only_samples_of_that_scrape(monkeypatch: pytest.MonkeyPatch) -> None:
    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(_range_answer), **kw))
    assert series_at(PrometheusAPI(Endpoint(lambda: "http://prometheus.test")), "prometheus", 1796162563.392) == 2
