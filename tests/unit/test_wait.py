"""obsgate.wait.poll: wait with a deadline, never with a fixed sleep."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from obsgate.wait import WaitTimeout, poll

TINY = 0.02      # timeout: long enough for a few probes, short enough to keep the suite fast
STEP = 0.005     # interval between probes


def sequence(results: Iterable[Any]) -> tuple[Callable[[], Any], list[int]]:
    """A probe that yields ``results`` in turn (raising any exception among them), then repeats the last."""
    items, calls = list(results), [0]

    def probe() -> Any:
        item = items[min(calls[0], len(items) - 1)]
        calls[0] += 1
        if isinstance(item, BaseException):
            raise item
        return item

    return probe, calls


def test_returns_the_first_truthy_value() -> None:
    probe, calls = sequence([None, 0, "", [], "ready"])
    assert poll(probe, timeout_s=5, what="x", interval_s=0) == "ready"
    assert calls[0] == 5


def test_returns_at_once_when_the_first_probe_succeeds() -> None:
    probe, calls = sequence([{"status": "up"}])
    assert poll(probe, timeout_s=5, what="x", interval_s=0) == {"status": "up"}
    assert calls[0] == 1


def test_exceptions_mean_not_yet() -> None:
    probe, _ = sequence([ConnectionError("refused"), OSError("reset"), 42])
    assert poll(probe, timeout_s=5, what="x", interval_s=0) == 42


def test_fatal_exception_propagates_at_once() -> None:
    probe, calls = sequence([KeyError("container gone"), "never reached"])
    with pytest.raises(KeyError):
        poll(probe, timeout_s=5, what="x", interval_s=0, fatal=(KeyError,))
    assert calls[0] == 1


def test_fatal_matches_subclasses() -> None:
    probe, _ = sequence([FileNotFoundError("gone")])
    with pytest.raises(FileNotFoundError):
        poll(probe, timeout_s=5, what="x", interval_s=0, fatal=(OSError,))


def test_non_fatal_exception_is_retried_when_fatal_is_given() -> None:
    probe, _ = sequence([ValueError("not yet"), "ok"])
    assert poll(probe, timeout_s=5, what="x", interval_s=0, fatal=(KeyError,)) == "ok"


def test_timeout_raises_wait_timeout_naming_what_was_awaited() -> None:
    probe, _ = sequence([None])
    with pytest.raises(WaitTimeout, match="waiting for loki /ready"):
        poll(probe, timeout_s=TINY, what="loki /ready", interval_s=STEP)


def test_timeout_message_includes_the_last_error() -> None:
    probe, _ = sequence([ValueError("first"), ConnectionError("connection refused")])
    with pytest.raises(WaitTimeout, match="last error: ConnectionError: connection refused"):
        poll(probe, timeout_s=TINY, what="x", interval_s=STEP)


def test_timeout_message_has_no_last_error_when_the_probe_never_raised() -> None:
    probe, _ = sequence([False])
    with pytest.raises(WaitTimeout) as info:
        poll(probe, timeout_s=TINY, what="x", interval_s=STEP)
    assert "last error" not in str(info.value)


def test_timeout_message_includes_the_evidence() -> None:
    probe, _ = sequence([None])
    with pytest.raises(WaitTimeout, match="level=error msg=\"bad config\""):
        poll(probe, timeout_s=TINY, what="x", interval_s=STEP, evidence=lambda: 'level=error msg="bad config"')


def test_evidence_is_gathered_once_and_only_on_timeout() -> None:
    calls: list[int] = []

    def evidence() -> str:
        calls.append(1)
        return "log tail"

    probe, _ = sequence([None])
    with pytest.raises(WaitTimeout):
        poll(probe, timeout_s=TINY, what="x", interval_s=STEP, evidence=evidence)
    assert calls == [1]


def test_evidence_is_not_gathered_on_success() -> None:
    calls: list[int] = []

    def evidence() -> str:
        calls.append(1)
        return "log tail"

    probe, _ = sequence(["ok"])
    poll(probe, timeout_s=5, what="x", interval_s=0, evidence=evidence)
    assert calls == []


def test_probe_runs_at_least_once_even_with_zero_timeout() -> None:
    probe, calls = sequence(["ok"])
    assert poll(probe, timeout_s=0, what="x") == "ok"
    assert calls[0] == 1


def test_wait_timeout_is_an_assertion_error_so_pytest_reports_a_failure() -> None:
    assert issubclass(WaitTimeout, AssertionError)
