"""Why checks were not evaluated: one Cause however many checks it hit.

A missing image makes every check needing that service (or a service depending on it)
not evaluated. The Cause is built where the failure is known (obsgate.bringup.images for an
image, obsgate.run for Docker and Ryuk, obsgate.bringup.stack adds the services depending
on it) and travels on the NotEvaluated, so the reports group checks by its key without
reading any message back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from obsgate.core.text import one_line

MAX_CAUSE = 200  # characters of a cause's text kept on its one line
MAX_DETAIL = 200  # characters of a raw error kept as a cause's detail


@dataclass(frozen=True)
class Cause:
    """One reason checks could not run: its identity, the words, the fix, and the raw error once."""

    key: str                          # what groups checks: "image:REF", "docker", or the reason itself
    text: str                         # e.g. "grafana/loki:2.9.3 not present locally and no registry reachable"
    hint: str = ""                    # the fix, e.g. "pass --image loki=REF"
    detail: str = ""                  # the raw error behind it (Docker's message), if any
    services: tuple[str, ...] = ()    # services it hit: the one it is about first, then those needing it

    @classmethod
    def of_reason(cls, reason: str) -> Cause:
        """A cause known only by its words (a check's own condition): its first line is its identity."""
        text = one_line(reason, MAX_CAUSE) or "no reason given"
        return cls(text, text)

    def hitting(self, service: str) -> Cause:
        """The same cause, also keeping ``service`` (one depending on those it hit) from running."""
        return replace(self, services=tuple(dict.fromkeys((*self.services, service))))


# A check needing the containers (restart, kill, re-create, drills, own ports, logs) of a deployment the gate did not
# start (``--target``): one cause however many checks it hits.
EXTERNAL = Cause("external", "external target: no container control",
                 "run the gate without --target to judge these on its own copy of the stack")


def error_line(error: BaseException) -> str:
    """A raw error (Docker's) as a cause's detail: its first line, or its type where it says nothing."""
    text = str(error).strip()
    return text.splitlines()[0][:MAX_DETAIL] if text else type(error).__name__
