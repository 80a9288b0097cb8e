"""obsgate.core.wait.poll: wait with a deadline, never with a fixed sleep; and none once the run is stopping
(obsgate.core.stop: the process-wide stop a SIGINT or SIGTERM requests)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from obsgate.core import stop
from obsgate.core.stop import RunStopped
from obsgate.core.wait import WaitTimeout, poll

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


@pytest.fixture
def request_stop(monkeypatch: pytest.MonkeyPatch) -> Callable[[], bool]:
    """This test's own stop (the real one is process-wide); returns what requests it."""
    monkeypatch.setattr(stop, "_requested", threading.Event())
    monkeypatch.setattr(stop, "_reason", [])
    return lambda: stop.request("SIGINT")


def test_a_stopping_run_waits_for_nothing(request_stop: Callable[[], bool]) -> None:
    request_stop()
    probe, calls = sequence([None])
    with pytest.raises(RunStopped, match=r"run interrupted \(SIGINT\)"):
        poll(probe, timeout_s=60, what="x", interval_s=STEP)
    assert calls[0] == 0


def test_the_stop_ends_a_wait_at_once_not_after_its_interval(request_stop: Callable[[], bool]) -> None:
    probe, calls = sequence([None])
    threading.Timer(0.05, request_stop).start()
    started = time.monotonic()
    with pytest.raises(RunStopped):
        poll(probe, timeout_s=60, what="x", interval_s=30)
    assert time.monotonic() - started < 5
    assert calls[0] == 1


def test_a_probe_cannot_swallow_the_stop(request_stop: Callable[[], bool]) -> None:
    """A probe that itself waits (and so raises RunStopped) is "not yet" at most once: the poll then stops too."""
    def probe() -> None:
        request_stop()
        stop.check()

    with pytest.raises(RunStopped):
        poll(probe, timeout_s=60, what="x", interval_s=STEP)


def test_the_stop_is_no_timeout_and_no_check_failure() -> None:
    assert not issubclass(RunStopped, AssertionError)


def test_only_the_first_request_says_why(request_stop: Callable[[], bool]) -> None:
    assert request_stop() is True
    assert stop.request("SIGTERM") is False
    with pytest.raises(RunStopped, match="SIGINT"):
        stop.check()


def test_background_work_runs_in_a_daemon_thread_never_joined_at_exit() -> None:
    future = stop.background(lambda: (threading.current_thread().name, threading.current_thread().daemon), "obsgate-x")
    assert future.result(timeout=5) == ("obsgate-x_0", True)


def test_background_work_hands_its_exception_to_the_future() -> None:
    def fail() -> None:
        raise ValueError("drill broke")

    with pytest.raises(ValueError, match="drill broke"):
        stop.background(fail, "obsgate-x").result(timeout=5)


def test_wait_done_waits_for_the_future(request_stop: Callable[[], bool]) -> None:
    future: Future[int] = Future()
    threading.Timer(0.05, lambda: future.set_result(1)).start()
    assert stop.wait_done(future) is True


def test_wait_done_gives_up_once_the_run_is_stopping(request_stop: Callable[[], bool]) -> None:
    never: Future[int] = Future()
    threading.Timer(0.05, request_stop).start()
    started = time.monotonic()
    assert stop.wait_done(never) is False
    assert time.monotonic() - started < 5


@pytest.fixture
def default_signals(request_stop: Callable[[], bool]) -> Iterator[None]:
    """SIGINT and SIGTERM as Python starts with them (an outer gate run may have taken them), put back after."""
    previous = {sig: signal.getsignal(sig) for sig in stop.SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("first", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_stops_the_run_and_interrupts_the_main_thread(first: signal.Signals, default_signals: None,
                                                                       capfd: pytest.CaptureFixture[str]) -> None:
    restore = stop.handle_signals(lambda name: f"obs-gate: interrupted ({name}): stopping, removing run abc")
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(first)
        assert stop.requested()
        signal.raise_signal(signal.SIGINT)      # a second one during the cleanup: acknowledged, nothing raised
        signal.raise_signal(signal.SIGTERM)
    finally:
        restore()
    err = capfd.readouterr().err.splitlines()
    assert err[0] == f"obs-gate: interrupted ({first.name}): stopping, removing run abc"
    assert len(err) == 3 and all("still removing what the run created" in line for line in err[1:])


def test_a_first_signal_during_a_cleanup_only_stops_the_run(default_signals: None, capfd: pytest.CaptureFixture[str]) -> None:
    restore = stop.handle_signals(lambda name: f"stopping ({name})")
    try:
        with stop.shielded():
            signal.raise_signal(signal.SIGTERM)
            assert stop.requested()
    finally:
        restore()
    assert capfd.readouterr().err == "stopping (SIGTERM)\n"


def test_restore_puts_the_previous_handlers_back(default_signals: None) -> None:
    stop.handle_signals(lambda name: name)()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_another_programs_handler_is_left_alone(default_signals: None) -> None:
    def theirs(signum: int, frame: Any) -> None: ...

    signal.signal(signal.SIGTERM, theirs)
    restore = stop.handle_signals(lambda name: name)
    try:
        assert signal.getsignal(signal.SIGTERM) is theirs
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    finally:
        restore()
