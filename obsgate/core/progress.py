"""What a long phase is doing, for the person watching a 4-minute gate run.

A process-wide sink the package reports to: ``phase(key, text)`` once when a phase starts
(the only lines ``-q`` shows), ``update(key, text)`` as it goes (at most one line per key every
few seconds). Nothing is shown until a sink is installed (the gate's pytest plugin
obsgate.gate.live does), so unit tests, ``python -m obsgate up`` and the load driver's process
(which relays its progress instead) show nothing. Safe from any thread: drills run in
background threads.

Two more things cross boundaries here. A background thread's current wait (``obsgate.core.wait.poll``
is decorated with ``reports_wait``) is published, so ``await_result`` can say what a drill is
waiting for while the main thread waits on it. And a child process (the load driver) can
relay its progress as lines on its stdout (``relay_line`` / ``parse_relay``).

Standard library only, cheap to import: every layer may use it.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

UPDATE_EVERY_S = 5.0     # how often reporters (the load driver, await_result) have something new to say
MIN_GAP_S = 4.5          # updates of one key closer together than this are dropped (a reporter's jitter passes)
RELAY_PREFIX = "obsgate-progress "


class Sink(Protocol):
    """Where progress lines go (obsgate.gate.live: the terminal pytest writes to)."""

    def show(self, key: str, text: str, *, update: bool) -> None:
        """Show one line; an ``update`` may replace the previous update of the same ``key`` in place."""


@dataclass(frozen=True)
class Wait:
    """One wait in progress in a background thread: what for, since when, for how long at most."""

    thread: str
    what: str
    started: float           # time.monotonic()
    timeout_s: float

    def describe(self, now: float) -> str:
        return f"waiting for {self.what} ({now - self.started:.0f} s of {self.timeout_s:.0f} s)"


_lock = threading.Lock()
_sink: Sink | None = None
_updates = True
_last_update: dict[str, float] = {}
_waits: dict[int, list[Wait]] = {}       # thread ident -> its nested waits, innermost last


def install(sink: Sink, *, updates: bool = True) -> Callable[[], None]:
    """Send progress to ``sink`` from now on; ``updates=False`` (``-q``): phase lines only.

    Returns what puts the previous state back (silence, or an outer pytest run's sink).
    """
    global _sink, _updates
    with _lock:
        previous = _sink, _updates
        _sink, _updates = sink, updates
        _last_update.clear()

    def restore() -> None:
        global _sink, _updates
        with _lock:
            _sink, _updates = previous
            _last_update.clear()
            if _sink is None:
                _waits.clear()
    return restore


def phase(key: str, text: str) -> None:
    """A phase of ``key`` starts: one line, shown in every mode."""
    with _lock:
        if _sink is None:
            return
        _last_update[key] = time.monotonic()     # its first update comes a gap later, not right under it
        _sink.show(key, text, update=False)


def update(key: str, text: str) -> None:
    """How ``key``'s phase is going; dropped under ``-q`` and when the last one of ``key`` was under MIN_GAP_S ago."""
    now = time.monotonic()
    with _lock:
        if _sink is None or not _updates or now - _last_update.get(key, -MIN_GAP_S) < MIN_GAP_S:
            return
        _last_update[key] = now
        _sink.show(key, text, update=True)


@contextmanager
def waiting(what: str, timeout_s: float) -> Iterator[None]:
    """Publish this background thread's wait while it lasts (the main thread's own waits need no telling)."""
    thread = threading.current_thread()
    if _sink is None or thread is threading.main_thread():
        yield
        return
    entry = Wait(thread.name, what, time.monotonic(), timeout_s)
    ident = threading.get_ident()
    with _lock:
        _waits.setdefault(ident, []).append(entry)
    try:
        yield
    finally:
        with _lock:
            stack = _waits.get(ident, [])
            if entry in stack:
                stack.remove(entry)
            if not stack:
                _waits.pop(ident, None)


def reports_wait(function: Callable[P, T]) -> Callable[P, T]:
    """Publish, through ``waiting``, each call of a function whose keyword arguments ``what`` and
    ``timeout_s`` say what it waits for and for how long (obsgate.core.wait.poll)."""
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        if _sink is None:
            return function(*args, **kwargs)
        timeout_s = kwargs.get("timeout_s")
        with waiting(str(kwargs.get("what")), float(timeout_s) if isinstance(timeout_s, (int, float)) else 0.0):
            return function(*args, **kwargs)
    return wrapper


def waits(thread_prefix: str) -> list[Wait]:
    """The innermost current wait of every thread whose name starts with ``thread_prefix``."""
    with _lock:
        return [stack[-1] for stack in _waits.values() if stack and stack[-1].thread.startswith(thread_prefix)]


def _doing(thread_prefix: str) -> str | None:
    """What the drill's threads wait for now; None between its timed waits."""
    now = time.monotonic()
    return "; ".join(w.describe(now) for w in waits(thread_prefix)) or None


def await_done(future: Future[T], name: str, thread_prefix: str) -> Future[T]:
    """Block until ``future`` (a background drill run by threads named ``thread_prefix``…) is done,
    saying every few seconds what it is waiting for; returns it unread (its error stays its check's)."""
    if future.done() or _sink is None:
        wait([future])
        return future
    since = time.monotonic()
    phase(name, f"waiting for it to finish; it is {_doing(thread_prefix) or 'busy between waits'}")
    while not wait([future], timeout=UPDATE_EVERY_S).done:
        update(name, _doing(thread_prefix) or f"busy between waits ({time.monotonic() - since:.0f} s since the gate "
                                               "began waiting for it)")
    return future


def await_result(future: Future[T], name: str, thread_prefix: str) -> T:
    """``future.result()``, reporting what its drill waits for meanwhile (see ``await_done``)."""
    return await_done(future, name, thread_prefix).result()


def relay_line(**fields: Any) -> str:
    """One progress line for a parent process to pick out of a child's stdout (``parse_relay``)."""
    return RELAY_PREFIX + json.dumps(fields, separators=(",", ":"))


def parse_relay(line: str) -> dict[str, Any] | None:
    """The fields of a ``relay_line``; None for any other line (or a garbled one)."""
    if not line.startswith(RELAY_PREFIX):
        return None
    try:
        fields = json.loads(line[len(RELAY_PREFIX):])
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None
