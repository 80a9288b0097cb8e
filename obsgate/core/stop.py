"""The process-wide stop: requested once when a run is interrupted (SIGINT, SIGTERM), heeded by every wait.

An interrupted gate run must be gone within seconds (a CI runner cancelling a job sends SIGINT,
then SIGTERM, then SIGKILL about 10 s later), yet its background drills wait minutes for alerts
and compactors. So a signal only *requests* the stop here: every wait (obsgate.core.wait.poll,
``pause``) then raises ``RunStopped`` within one interval; the drills run in daemon threads
(``background``) that nobody joins, at exit or anywhere else (``wait_done`` gives up on them);
and the run's teardown removes what it created by label.

``handle_signals`` turns the first SIGINT or SIGTERM into that request plus KeyboardInterrupt in
the main thread. Any later one is only acknowledged: the cleanup under way is never cut short,
which would leave half the run behind. Nor is a cleanup the first signal arrives during
(``shielded``): there the request alone makes the run's other threads hurry.

Standard library only, cheap to import: every layer may use it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
SIGNALS = (signal.SIGINT, signal.SIGTERM)
WAIT_SLICE_S = 0.2      # how soon ``wait_done`` notices the stop

_requested = threading.Event()
_reason: list[str] = []
_shield_depth = 0


class RunStopped(Exception):
    """The run was interrupted: what was being waited for no longer matters."""


def request(reason: str) -> bool:
    """Ask every wait to end; True for the first request (the one that says why)."""
    first = not _requested.is_set()
    if first:
        _reason.append(reason)
        _requested.set()
    return first


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """RunStopped if the run is stopping: called before anything that would create or wait."""
    if _requested.is_set():
        raise RunStopped(f"run interrupted ({_reason[0] if _reason else 'stop requested'})")


def pause(seconds: float) -> None:
    """Sleep ``seconds``, or raise RunStopped as soon as the run is stopping."""
    if _requested.wait(seconds):
        check()


def wait_done(future: Future[Any]) -> bool:
    """Wait for ``future`` unless the run is stopping (then give up at once); whether it is done."""
    while not future.done():
        if _requested.is_set():
            return False
        wait_futures([future], timeout=WAIT_SLICE_S)
    return True


def background(work: Callable[[], T], prefix: str) -> Future[T]:
    """``work()`` in a daemon thread: an interrupted run never waits for it, not even at exit. The thread is
    named as a one-worker pool's would be (``<prefix>_0``): what finds a drill's threads by name still does."""
    future: Future[T] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - whoever reads the future gets it
            future.set_exception(exc)

    threading.Thread(target=run, name=f"{prefix}_0", daemon=True).start()
    return future


@contextmanager
def shielded() -> Iterator[None]:
    """While inside (a cleanup), a first signal only requests the stop: what runs here is never cut short."""
    global _shield_depth
    _shield_depth += 1
    try:
        yield
    finally:
        _shield_depth -= 1


def _replaceable(handler: Any) -> bool:
    """Python's own dispositions, which we take over; another program's handler is left alone."""
    return handler in (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler)


def handle_signals(announce: Callable[[str], str]) -> Callable[[], None]:
    """Stop on SIGINT and SIGTERM (from the main thread); returns what puts the previous handlers back.

    SIGINT is taken even when ignored: a shell may start us with it ignored, and a CI runner
    cancels with it. The line ``announce(signal name)`` goes to the terminal's stderr as it was
    now (a duplicate: pytest may capture fd 2 later), written with one ``os.write``.
    """
    stderr = os.dup(2)

    def say(text: str) -> None:
        try:
            os.write(stderr, (text + "\n").encode())
        except OSError:
            pass

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if not request(name):
            say(f"obs-gate: {name} again: still removing what the run created, exiting when done")
            return
        say(announce(name))
        if not _shield_depth:
            raise KeyboardInterrupt(name)

    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    for sig, old in previous.items():
        if _replaceable(old):
            signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, old)
        os.close(stderr)

    return restore
