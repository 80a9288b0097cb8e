"""Unit tests of the lifecycle runner: every operation in turn, each timed, each followed by the state probe."""

from __future__ import annotations

from obsgate.checks.resilience.lifecycle import LIFECYCLES, failures, survive_each


class _Handle:
    """Records what was done to it; ready after 1.234 s every time."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def restart(self) -> float:
        self.calls.append("restart")
        return 1.234

    def stop(self) -> None:
        self.calls.append("stop")

    def start(self) -> float:
        self.calls.append("start")
        return 1.234

    def recreate(self) -> float:
        self.calls.append("recreate")
        return 1.234


def test_each_lifecycle_in_turn_graceful_stop_before_recreation() -> None:
    handle = _Handle()
    seen: list[list[str]] = []
    results = survive_each(handle, lambda: seen.append(list(handle.calls)) or None)  # type: ignore[arg-type]
    assert [r.lifecycle for r in results] == list(LIFECYCLES) == ["restart", "stop_start", "recreate"]
    assert handle.calls == ["restart", "stop", "start", "stop", "recreate"]
    assert seen[0] == ["restart"] and len(seen) == 3   # probed after each operation
    assert {r.ready_s for r in results} == {1.23}
    assert failures(results, "x") == []


def test_failures_name_the_lifecycle_and_service() -> None:
    answers = iter([None, None, "0 of 3 left"])
    results = survive_each(_Handle(), lambda: next(answers))  # type: ignore[arg-type]
    assert failures(results, "prometheus") == ["after recreate of prometheus: 0 of 3 left"]
