"""Console progress of long phases (obsgate.core.progress, obsgate.gate.live) and the load driver's
progress lines as the gate shows them (obsgate.load.session); no container starts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from obsgate.core import progress
from obsgate.core.wait import poll
from obsgate.gate.live import DEFAULT_WIDTH, ELLIPSIS, ERASE_LINE, TerminalLines
from obsgate.load import shapes
from obsgate.load.payloads import PayloadOptions
from obsgate.load.plan import DriverPlan
from obsgate.load.session import LoadProgress, _stdout_lines, describe_plan
from tests.unit.gateproject import project_with_checks

pytest_plugins = ("pytester",)


@dataclass
class Recorder:
    """A sink keeping what it was shown: (key, text, update)."""

    shown: list[tuple[str, str, bool]] = field(default_factory=list)

    def show(self, key: str, text: str, *, update: bool) -> None:
        self.shown.append((key, text, update))

    def texts(self, update: bool | None = None) -> list[str]:
        return [text for _, text, u in self.shown if update is None or u == update]


@pytest.fixture
def sink() -> Iterator[Recorder]:
    recorder = Recorder()
    restore = progress.install(recorder)
    yield recorder
    restore()


def test_nothing_is_shown_or_published_until_a_sink_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_sink", None)     # this very run may be a gate run, with the console's sink
    progress.phase("load", "steady 60 s")
    progress.update("load", "t=5s")
    released = threading.Event()
    worker = threading.Thread(target=poll, name="drill-x_0",
                              kwargs={"probe": released.is_set, "timeout_s": 30, "what": "x", "interval_s": 0.01})
    worker.start()
    try:
        assert progress.waits("drill-x") == []
    finally:
        released.set()
        worker.join()
    done: Future[int] = Future()
    done.set_result(1)
    assert progress.await_result(done, "drill", "drill-x") == 1


def test_updates_of_a_key_are_rate_limited_and_a_phase_line_starts_the_gap(
        sink: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "MIN_GAP_S", 1000.0)
    progress.update("load", "first")
    progress.update("load", "too soon")
    progress.update("drill", "another key")
    progress.phase("drill", "starts")
    progress.update("drill", "right under its phase line")
    assert sink.shown == [("load", "first", True), ("drill", "another key", True), ("drill", "starts", False)]
    monkeypatch.setattr(progress, "MIN_GAP_S", 0.0)
    progress.update("load", "later")
    assert sink.shown[-1] == ("load", "later", True)


def test_quiet_shows_phase_lines_only(sink: Recorder) -> None:
    quiet = Recorder()
    restore = progress.install(quiet, updates=False)
    try:
        progress.phase("load", "steady 60 s at 10,000 lines/s")
        progress.update("load", "t=35s 10,012 lines/s")
    finally:
        restore()
    progress.update("load", "back to the outer sink")
    assert quiet.shown == [("load", "steady 60 s at 10,000 lines/s", False)]
    assert sink.shown == [("load", "back to the outer sink", True)]


def test_install_returns_what_puts_the_previous_sink_back(sink: Recorder) -> None:
    inner = Recorder()
    restore = progress.install(inner)
    progress.phase("a", "inner")
    restore()
    progress.phase("a", "outer")
    assert inner.texts() == ["inner"] and sink.texts() == ["outer"]


def test_lines_from_many_threads_reach_the_sink_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "MIN_GAP_S", 0.0)

    class Exclusive(Recorder):
        inside = 0
        overlapped = False

        def show(self, key: str, text: str, *, update: bool) -> None:
            self.inside += 1
            self.overlapped |= self.inside > 1
            super().show(key, text, update=update)
            self.inside -= 1

    recorder = Exclusive()
    restore = progress.install(recorder)
    start = threading.Barrier(8)

    def report(n: int) -> None:
        start.wait()
        for i in range(200):
            (progress.update if i % 2 else progress.phase)(f"drill-{n}", str(i))

    threads = [threading.Thread(target=report, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        restore()
    assert not recorder.overlapped
    assert len(recorder.shown) == 8 * 200
    assert all([int(text) for key, text, _ in recorder.shown if key == f"drill-{n}"] == list(range(200)) for n in range(8))


def _waiting_in_background(name: str, what: str, released: threading.Event) -> threading.Thread:
    worker = threading.Thread(target=poll, name=name,
                              kwargs={"probe": released.is_set, "timeout_s": 90, "what": what, "interval_s": 0.01})
    worker.start()
    poll(lambda: progress.waits(name.partition("_")[0]), timeout_s=10, what=f"{name} to publish its wait", interval_s=0.01)
    return worker


def test_a_background_poll_publishes_its_wait_while_it_lasts(sink: Recorder) -> None:
    released = threading.Event()
    worker = _waiting_in_background("obsgate-test-alert_0", "Alertmanager to deliver TestAlert", released)
    try:
        [current] = progress.waits("obsgate-test-alert")
        assert current.what == "Alertmanager to deliver TestAlert" and current.timeout_s == 90
        assert current.describe(current.started + 41.2) == "waiting for Alertmanager to deliver TestAlert (41 s of 90 s)"
        assert progress.waits("obsgate-outage") == []
    finally:
        released.set()
        worker.join()
    assert progress.waits("obsgate-test-alert") == []


def test_the_main_threads_own_waits_are_not_published(sink: Recorder) -> None:
    seen: list[list[progress.Wait]] = []
    poll(lambda: seen.append(progress.waits("")) or True, timeout_s=5, what="x")
    assert seen == [[]]


@dataclass
class Settling(Recorder):
    """Settles the awaited drill's future once ``updates`` updates were shown (the main thread is awaiting it)."""

    future: Future[str] = field(default_factory=Future)
    updates: int = 2
    error: BaseException | None = None

    def show(self, key: str, text: str, *, update: bool) -> None:
        super().show(key, text, update=update)
        if len(self.texts(update=True)) == self.updates and not self.future.done():
            if self.error is None:
                self.future.set_result("trip")
            else:
                self.future.set_exception(self.error)


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "UPDATE_EVERY_S", 0.01)
    monkeypatch.setattr(progress, "MIN_GAP_S", 0.0)


@pytest.mark.usefixtures("fast")
def test_await_result_says_what_the_drill_waits_for_every_few_seconds() -> None:
    settling, released = Settling(), threading.Event()
    restore = progress.install(settling)
    worker = _waiting_in_background("obsgate-test-alert_0", "Alertmanager to deliver TestAlert", released)
    try:
        assert progress.await_result(settling.future, "test alert drill", "obsgate-test-alert") == "trip"
    finally:
        released.set()
        worker.join()
        restore()
    [first] = settling.texts(update=False)
    assert {key for key, _, _ in settling.shown} == {"test alert drill"}
    assert first.startswith("waiting for it to finish; it is waiting for Alertmanager to deliver TestAlert (")
    assert len(settling.texts(update=True)) == 2
    assert all(t.startswith("waiting for Alertmanager to deliver TestAlert (") and t.endswith(" s of 90 s)")
               for t in settling.texts(update=True))


@pytest.mark.usefixtures("fast")
def test_await_done_between_waits_and_with_an_error() -> None:
    settling = Settling(updates=1, error=RuntimeError("overlay failed"))
    restore = progress.install(settling)
    try:
        future = progress.await_done(settling.future, "retention drill", "obsgate-retention_")
        assert future is settling.future                # the error stays unread: it is its check's
        with pytest.raises(RuntimeError, match="overlay failed"):
            progress.await_result(future, "retention drill", "obsgate-retention_")
    finally:
        restore()
    assert settling.texts(update=False) == ["waiting for it to finish; it is busy between waits"]
    [busy] = settling.texts(update=True)               # a finished drill is neither waited for nor announced
    assert busy.startswith("busy between waits (") and busy.endswith(" s since the gate began waiting for it)")


def test_relay_lines_round_trip_and_other_lines_are_ignored() -> None:
    line = progress.relay_line(t=5.0, phase="steady", lines=1000)
    assert progress.parse_relay(line) == {"t": 5.0, "phase": "steady", "lines": 1000}
    assert progress.parse_relay("WARNING locust.runners: CPU usage above 90%!") is None
    assert progress.parse_relay(progress.RELAY_PREFIX + "{not json") is None
    assert progress.parse_relay(progress.RELAY_PREFIX + "[1, 2]") is None


def _relay(t: float, lines: int, loki: float | None = None, phase: str | None = "steady", failures: Any = None,
           **extra: Any) -> str:
    fields: dict[str, Any] = {"t": t, "phase": phase, "offered_lines_per_s": 10000.0, "lines": lines,
                              "failed_pushes": sum((failures or {}).values()), "failures": failures or {}, **extra}
    if loki is not None:
        fields["loki_accepted"] = loki
    return progress.relay_line(**fields)


def test_the_drivers_progress_lines_become_rates_between_consecutive_lines() -> None:
    shown = LoadProgress()
    assert shown.feed(_relay(0.0, 0, loki=5_000_000)) is None         # the baseline
    assert shown.feed("some log line of Locust's") is None
    assert shown.feed(_relay(5.0, 50_000, loki=5_050_060)) == (
        "steady phase, 5 s in (offering 10,000 lines/s): 10,012 lines/s accepted by Loki, "
        "10,000 lines/s acknowledged, 0 failed pushes")
    assert shown.feed(_relay(10.0, 90_000, loki=5_090_060, failures={"rate_limited": 3, "nginx_429": 1})) == (
        "steady phase, 10 s in (offering 10,000 lines/s): 8,000 lines/s accepted by Loki, "
        "8,000 lines/s acknowledged, 4 failed pushes (nginx_429 1, rate_limited 3)")
    assert shown.feed(_relay(15.0, 90_000, phase=None, loki_error="URLError: <urlopen error timed out>")) == (
        "stopping, 15 s in: 0 lines/s acknowledged, Loki's counters unreadable (URLError: <urlopen error timed out>), "
        "0 failed pushes")
    assert shown.feed(_relay(15.0, 90_000)) is None                 # no time passed: no rate
    assert shown.feed(progress.relay_line(t="soon")) is None        # garbled: skipped, not fatal
    assert shown.feed(_relay(20.0, 140_000)) is None                # ... and no baseline for the next


def test_the_load_runs_phase_line_names_its_phases_in_lines_per_second() -> None:
    payload = PayloadOptions()
    gate = DriverPlan(host="https://x", plan=shapes.gate_profile(10.0, 15, 60), payload=payload, run_tag="t")
    assert describe_plan(gate) == "ramp 15 s to 10,000 lines/s, steady 60 s at 10,000 lines/s (75 s)"
    steps = DriverPlan(host="https://x", plan=shapes.step_up(5, 5, 20, 60, warm_up=True), payload=payload, run_tag="t")
    assert describe_plan(steps) == "13 phases (warm-up to step-12) at 5,000-60,000 lines/s (260 s)"


def test_stdout_lines_come_as_they_are_written_and_time_out() -> None:
    script = ("import sys, select\nprint('first', flush=True)\nsys.stdout.write('a partial')\nsys.stdout.flush()\n"
              "select.select([sys.stdin], [], [])\nprint(' line')\n")
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdin is not None
        lines = _stdout_lines(proc, time.monotonic() + 30, 30)
        assert next(lines) == "first"                    # before the child goes on: read as it comes
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        assert list(lines) == ["a partial line"]
    with subprocess.Popen([sys.executable, "-c", "import select; select.select([], [], [])"],
                          stdout=subprocess.PIPE) as proc:
        try:
            with pytest.raises(subprocess.TimeoutExpired):
                list(_stdout_lines(proc, time.monotonic() + 0.2, 0.2))
        finally:
            proc.kill()


INVOKED_IN = Path("/work/project")


@dataclass
class FakeReporter:
    currentfspath: object = None


@dataclass
class FakeConfig:
    """What TerminalLines asks of pytest's config: its terminal reporter, verbosity and invocation dir."""

    reporter: FakeReporter
    verbosity: int = 0
    invocation_params: Any = field(default_factory=lambda: type("Params", (), {"dir": INVOKED_IN}))

    @property
    def pluginmanager(self) -> FakeConfig:
        return self

    def get_plugin(self, name: str) -> Any:
        return self.reporter if name == "terminalreporter" else None

    def get_verbosity(self, kind: str | None = None) -> int:
        return self.verbosity


def _terminal(verbosity: int, overwrite: bool = False) -> tuple[TerminalLines, FakeReporter, int]:
    read, write = os.pipe()
    reporter = FakeReporter()
    terminal = TerminalLines(write, FakeConfig(reporter, verbosity), overwrite)  # type: ignore[arg-type]
    return terminal, reporter, read


def _drain(read: int) -> str:
    os.set_blocking(read, False)
    try:
        return os.read(read, 65536).decode()
    except BlockingIOError:
        return ""


def test_verbose_pytest_writes_the_tests_location_anew_after_progress_lines() -> None:
    terminal, reporter, read = _terminal(verbosity=1)
    reporter.currentfspath = "tests/load/test_load.py::test_x"       # pytest is mid-line after the location
    terminal.show("load", "ramp 15 s", update=False)
    terminal.show("load", "t=5 s", update=True)
    terminal.show("load", "t=10 s", update=True)
    assert _drain(read) == "\nload: ramp 15 s\nload: t=5 s\nload: t=10 s"
    terminal.hand_back("result")        # pytest starts a fresh line (ending ours) and writes the location again
    assert reporter.currentfspath is None and _drain(read) == ""
    reporter.currentfspath = -2         # ... which it did
    terminal.hand_back("location")
    terminal.close()
    assert _drain(read) == ""


def test_by_default_a_result_letter_follows_the_files_path_written_again() -> None:
    terminal, reporter, read = _terminal(verbosity=0)
    reporter.currentfspath = INVOKED_IN / "tests" / "load" / "test_load.py"
    terminal.show("load", "ramp 15 s", update=False)
    terminal.hand_back("result")
    assert _drain(read) == "\nload: ramp 15 s\ntests/load/test_load.py "
    terminal.show("drill", "waiting", update=True)
    terminal.hand_back("location")      # the next test: pytest writes its file's path on a fresh line
    assert reporter.currentfspath is None
    terminal.close()                    # ... but the loop ended first: we end our line
    assert _drain(read) == "\ndrill: waiting\n"


def test_on_a_tty_an_update_replaces_the_previous_one_of_its_key() -> None:
    terminal, _, read = _terminal(verbosity=0, overwrite=True)
    terminal.show("load", "ramp 15 s", update=False)
    terminal.show("load", "t=5 s", update=True)
    terminal.show("load", "t=10 s", update=True)
    terminal.show("drill", "waiting", update=True)
    terminal.show("load", "t=15 s", update=True)
    assert _drain(read) == f"\nload: ramp 15 s\nload: t=5 s{ERASE_LINE}load: t=10 s\ndrill: waiting\nload: t=15 s"
    terminal.hand_back("summary")
    terminal.show("load", "t=20 s", update=True)     # after pytest wrote: a line of its own again
    terminal.close()
    assert _drain(read) == "\n\nload: t=20 s\n"


def test_on_a_tty_a_too_long_update_is_cut_in_the_middle_keeping_how_far_the_wait_got() -> None:
    terminal, _, read = _terminal(verbosity=0, overwrite=True)
    what = "waiting for LokiDown at the Slack receiver after Loki stopped " * 3 + "(41 s of 90 s)"
    terminal.show("Loki outage drill", what, update=True)
    terminal.close()
    shown = _drain(read).strip("\n")
    assert len(shown) == DEFAULT_WIDTH - 1
    assert shown.startswith("Loki outage drill: waiting for LokiDown") and shown.endswith("stopped (41 s of 90 s)")
    assert ELLIPSIS in shown


def test_a_console_gone_silences_progress_instead_of_failing_the_check() -> None:
    terminal, _, read = _terminal(verbosity=0)
    os.close(read)                               # pytest | head: the reader went away
    terminal.show("load", "ramp 15 s", update=False)
    terminal.show("load", "t=5 s", update=True)
    terminal.close()


def test_quiet_pytest_writes_no_location_so_the_line_is_ended_for_it() -> None:
    terminal, _, read = _terminal(verbosity=-1)
    terminal.show("load", "ramp 15 s", update=False)
    terminal.hand_back("result")
    terminal.hand_back("location")
    assert _drain(read) == "\nload: ramp 15 s\n"
    terminal.close()


CHECKS = """\
import pytest
from obsgate.core import progress

@pytest.mark.gate(category="Functionality", weight=1)
def test_long_phase():
    print("captured, not shown")
    progress.phase("demo", "phase one")
    progress.update("demo drill", "halfway")
"""


@pytest.fixture
def gate_project(pytester: pytest.Pytester) -> pytest.Pytester:
    return project_with_checks(pytester, CHECKS)


@pytest.mark.parametrize(("flags", "expected", "absent"), [
    (("-v",), ["*test_long_phase ", "demo: phase one", "demo drill: halfway", "*test_long_phase PASSED*"], []),
    ((), ["tests/integration/test_checks.py ", "demo: phase one", "demo drill: halfway",
          "tests/integration/test_checks.py .*"], []),
    (("-q",), ["demo: phase one", ".*"], ["*halfway*"]),
])
def test_a_gate_run_shows_progress_past_pytests_capture(gate_project: pytest.Pytester, flags: tuple[str, ...],
                                                        expected: list[str], absent: list[str]) -> None:
    result = gate_project.runpytest_subprocess("-m", "gate", "-p", "no:cacheprovider", *flags)
    result.stdout.fnmatch_lines(expected, consecutive=True)
    for pattern in [*absent, "*captured, not shown*"]:
        result.stdout.no_fnmatch_line(pattern)


def test_without_pytests_terminal_reporter_nothing_is_shown(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess("-m", "gate", "-p", "no:cacheprovider", "-p", "no:terminal")
    result.stdout.no_fnmatch_line("*demo*")
