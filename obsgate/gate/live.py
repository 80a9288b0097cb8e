"""Progress of long phases (the load run, background drills) on the console, during a gate run.

Installs obsgate.core.progress's sink for the run. pytest captures fd 1 and 2 while a test
runs, so the lines go to a duplicate of the terminal's fd taken at configure time, when
capture is suspended: a plain ``os.write``, safe from any thread, unlike suspending capture
from a background thread. ``-q`` shows one line per phase; the default and ``-v`` add an
update every few seconds, replacing the previous one in place on a terminal and as lines of
their own otherwise (CI logs). Without pytest's terminal reporter (``-p no:terminal``) nothing
is shown; with ``-s`` (no capture) the lines share the terminal with the tests' own output.

Lines start on a line of their own (pytest's output may be mid-line), and pytest's next
output starts on a fresh one again: the test's path or location is then written anew.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from obsgate.core import progress

ERASE_LINE = "\r\x1b[K"
DEFAULT_WIDTH = 80
KEEP_TAIL = 24          # characters kept at the end of an update cut to the terminal's width
ELLIPSIS = "..."


class TerminalLines:
    """The console, written to behind pytest's capture; also a plugin, to hand the line back to pytest."""

    def __init__(self, fd: int, config: pytest.Config, overwrite: bool) -> None:
        self.fd, self.config, self.overwrite = fd, config, overwrite
        self.restore: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._open: str | None = None    # the key of the update that ends the line, while it may be replaced
        self._tail = False               # our text ends the line the cursor is on
        self._told = False               # ... and pytest was told to start its next write on a fresh line
        self._gone = False               # the console can no longer be written to

    def show(self, key: str, text: str, *, update: bool) -> None:
        line = f"{key}: {text}"
        with self._lock:
            if update and self.overwrite:
                line = _fit(line, self._width() - 1)    # a wrapped line cannot be replaced
            self._write((ERASE_LINE if update and self._open == key else "\n") + line)
            self._open = key if update and self.overwrite else None
            self._tail, self._told = True, False

    def hand_back(self, before: str) -> None:
        """pytest may write next (``before`` its test's "location", a "result" or the "summary"): it must
        start on a fresh line. Where it would write the test's location (-v) or file anew after a newline,
        it is made to (ending our line); before a result letter we end it and write the file's path
        again, as pytest would; before the summary, or under -q, we just end it."""
        reporter: Any = self.config.pluginmanager.get_plugin("terminalreporter")
        verbosity = self.config.get_verbosity(pytest.Config.VERBOSITY_TEST_CASES)
        with self._lock:
            self._open = None
            if not self._tail or (self._told and reporter is not None and reporter.currentfspath is not None):
                self._tail = self._told = False      # nothing of ours open, or pytest has written since
                return
            if reporter is not None and before != "summary" and (verbosity > 0 or (verbosity == 0 and before == "location")):
                reporter.currentfspath = None
                self._told = True
                return
            path = reporter.currentfspath if reporter is not None and verbosity == 0 and before == "result" else None
            self._write("\n" + (f"{os.path.relpath(path, self.config.invocation_params.dir)} "
                                if isinstance(path, Path) else ""))
            self._tail = self._told = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self) -> None:
        self.hand_back("location")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self) -> None:
        self.hand_back("result")

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        """However the loop ended, pytest's summary starts on a fresh line."""
        try:
            return (yield)
        finally:
            self.hand_back("summary")

    def close(self) -> None:
        self.hand_back("summary")
        os.close(self.fd)

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self.fd).columns
        except OSError:
            columns = 0
        return columns if columns > 0 else DEFAULT_WIDTH     # a pseudo-terminal may say 0

    def _write(self, text: str) -> None:
        """All of ``text``; a console gone (``pytest | head``) silences this, never fails the check that reports."""
        data = text.encode("utf-8", "replace")
        try:
            while data and not self._gone:
                data = data[os.write(self.fd, data):]
        except OSError:
            self._gone = True


def _fit(line: str, width: int) -> str:
    """``line`` cut to ``width`` in its middle: its end says how far a wait has got ("41 s of 90 s")."""
    if len(line) <= width:
        return line
    tail = min(KEEP_TAIL, width // 3)
    return line[:max(0, width - tail - len(ELLIPSIS))] + ELLIPSIS + line[len(line) - tail:]


def _terminal(config: pytest.Config) -> TerminalLines | None:
    """The terminal pytest reports to, duplicated now (capture is suspended); None without pytest's
    terminal plugin. (Its reporter may not exist yet: this plugin is registered from an earlier
    pytest_configure than the one that makes it.)"""
    if config.pluginmanager.get_plugin("terminal") is None:
        return None
    try:
        fd = os.dup(sys.stdout.fileno())
    except (AttributeError, ValueError, OSError):   # stdout is not a file (pytest run in-process, redirected)
        return None
    overwrite = os.isatty(fd) and os.environ.get("TERM", "") != "dumb"
    return TerminalLines(fd, config, overwrite)


PLUGIN_NAME = "obsgate-live-terminal"


def pytest_configure(config: pytest.Config) -> None:
    terminal = _terminal(config)
    if terminal is None:
        return
    terminal.restore = progress.install(terminal, updates=config.get_verbosity() >= 0)
    config.pluginmanager.register(terminal, PLUGIN_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    terminal = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(terminal, TerminalLines):
        terminal.restore()
        terminal.close()
        config.pluginmanager.unregister(terminal)
