"""A check's recorder: a missed target fails with the arithmetic, then what explains the figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsgate.core.policy import load_policy
from obsgate.core.recorder import GateRecorder
from obsgate.core.results import Judgement


@pytest.fixture
def gate() -> GateRecorder:
    return GateRecorder(load_policy(Path(__file__).parent / "fixtures" / "policy.yml"))


def test_a_miss_says_the_arithmetic_then_the_context(gate: GateRecorder) -> None:
    with pytest.raises(AssertionError) as raised:
        gate.measure("query_latency_s", 2.0, name="query_p95_s", context="3 of 40 queries timed out")
    assert str(raised.value) == ("query_p95_s: 2 s > target 1 s (outside soft-miss band <= 1.5); "
                                 "3 of 40 queries timed out")
    assert gate.measurements[0].judgement is Judgement.MISSED


def test_a_context_to_compute_is_asked_for_only_on_a_miss(gate: GateRecorder) -> None:
    asked: list[str] = []

    def context() -> str:
        asked.append("asked")
        return "the ingester pushed back"

    assert gate.measure("query_latency_s", 0.5, context=context) is Judgement.MET
    assert gate.measure("query_latency_s", 1.2, context=context) is Judgement.SOFT
    assert asked == []
    with pytest.raises(AssertionError, match=r"query_latency_s: .*; the ingester pushed back$"):
        gate.measure("query_latency_s", 9.0, context=context)
    assert asked == ["asked"]


def test_without_context_the_miss_is_the_arithmetic_alone(gate: GateRecorder) -> None:
    with pytest.raises(AssertionError, match=r"^query_latency_s: 9 s > target 1 s \(outside soft-miss band <= 1.5\)$"):
        gate.measure("query_latency_s", 9.0, context="")
