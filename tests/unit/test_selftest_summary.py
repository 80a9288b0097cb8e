"""A self-test that could not run its proof (no Loki or Grafana image) is named at the end of the run, with
why and the gate checks it proves: tests/selftest/conftest.py's "proofs not run here" section."""

from __future__ import annotations

import pytest

from tests.selftest.conftest import proofs_not_run


def skipped(nodeid: str, reason: str) -> pytest.TestReport:
    return pytest.TestReport(nodeid, ("", 0, nodeid), {}, "skipped", ("/x.py", 1, f"Skipped: {reason}"), "setup")


def test_skipped_proofs_are_listed_with_their_reason_and_the_checks_they_prove() -> None:
    lines = proofs_not_run([
        skipped("tests/selftest/test_resilience_checks_fail.py::"
                "test_compaction_check_fails_when_the_compactor_does_not_run_in_the_wait",
                "test_loki_compactor_compacts_shipped_tables not evaluated here: loki: image unavailable"),
        skipped("tests/unit/test_x.py::test_y", "not a proof"),
    ])
    assert lines == [
        "tests/selftest/test_resilience_checks_fail.py::test_compaction_check_fails_when_the_compactor_does_not_run_in"
        "_the_wait — test_loki_compactor_compacts_shipped_tables not evaluated here: loki: image unavailable "
        "(proves test_loki_compactor_compacts_shipped_tables)"]


def test_a_parametrized_proof_is_matched_by_its_function() -> None:
    (line,) = proofs_not_run([skipped(
        "tests/selftest/test_readiness_checks_fail.py::test_a_probe_that_cannot_run_is_named_as_the_probe_not_a_timeout"
        "[missing]", "alertmanager: image unavailable")])
    assert line.endswith("— alertmanager: image unavailable (proves test_alertmanager_is_ready)")
