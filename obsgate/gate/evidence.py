"""A failing gate check carries the log tails of the services it used, attached here, so its body states
the requirement and nothing else.

The services are the values of the check's fixtures (the whole closure: ``logs`` brings ``loki`` and
``gateway``, which brings ``nginx``; an overlay's ``own_loki`` counts as well) that are a service (a
ServiceHandle, or anything with a ``name`` and a ``log_tail``) or hold one as an attribute
(``Gateway.handle``, a drill's ``loki``); a whole ``Stack`` is not one. When the check fails or errors,
each one's last TAIL_LINES lines go under the failure pytest shows and into gate.json's evidence
(``log_tails``), scrubbed of the run's secrets, unless the failure text already carries that service's
tail (a check that needed a specific excerpt).
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Protocol, runtime_checkable

import pytest

from obsgate.core.recorder import GateRecorder
from obsgate.gate.hooks import RECORDER_KEY, RUN_KEY
from obsgate.gate.report.scrub import scrub_text, secret_forms

TAIL_LINES = 20
LOG_TAILS = "log_tails"


@runtime_checkable
class Logged(Protocol):
    """A service whose log a failure can show (ServiceHandle is one)."""

    name: str

    def log_tail(self, tail: int = ...) -> str: ...


def services(values: Iterable[object]) -> list[Logged]:
    """The services among fixture values, and those a value holds as an attribute; each once, in fixture order."""
    found: dict[int, Logged] = {}
    for value in values:
        found.update((id(service), service) for service in _held(value))
    return list(found.values())


def _held(value: object) -> list[Logged]:
    if isinstance(value, Logged):
        return [value]
    attributes = vars(value).values() if hasattr(value, "__dict__") else ()
    return [v for v in attributes if isinstance(v, Logged)]


def _shown(service: Logged, failure: str) -> bool:
    """Whether the failure text already carries the service's log tail (ServiceHandle.log_tail's header)."""
    return f"log lines of {service.name} ---" in failure


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Outermost, so it sees the final report: a not-evaluated check is a skip by then and gets nothing."""
    report = yield
    run = item.config.stash.get(RUN_KEY, None)
    if not report.failed or run is None or item.get_closest_marker("gate") is None:
        return report
    failure = report.longreprtext
    used = [s for s in services(getattr(item, "funcargs", {}).values()) if not _shown(s, failure)]
    if not used:
        return report
    forms = secret_forms(run.secrets.values)
    tails = {s.name: scrub_text(s.log_tail(TAIL_LINES), forms) for s in used}
    report.sections.append((f"obs-gate: log tails of {', '.join(tails)}", "\n".join(tails.values())))
    item.stash.setdefault(RECORDER_KEY, GateRecorder(run.policy)).evidence[LOG_TAILS] = tails
    return report
