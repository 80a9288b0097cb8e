"""Flags the gate appends to a service's own command so it is ready sooner; its config file stays untouched.

As Loki's own ``integration/`` tests do, timing is accelerated by command-line flags after
the production ones (a flag overrides the file), never by a rewritten config. Every
container of a service running its own program gets them: the run's stack, overlays and
one-offs. They change how soon a service is ready, nothing it does once ready.

Loki (2.9 through 3.x): ``-frontend.scheduler-dns-lookup-period=5s`` (default 10s). A
single-binary Loki answers /ready only once its query frontend has found the in-process
query scheduler, which it looks up in the scheduler ring once per period, the first time
one period after start: ready in ~10.8 s -> ~5.8 s (2.9.3, measured). Not shorter: the
scheduler accepts frontends only after its first ring check, 3 s after start (a constant);
a frontend that connects earlier gets no answer to its INIT, and every query through it
hangs for good (measured with 1s: ready in 1.6 s, every query timed out).
"""

from __future__ import annotations

from obsgate.stackfiles.compose import ServiceSpec

STARTUP_FLAGS: dict[str, tuple[str, ...]] = {
    "loki": ("-frontend.scheduler-dns-lookup-period=5s",),
}


def command_with_startup_flags(spec: ServiceSpec) -> tuple[str, ...] | None:
    """``spec``'s command with its start-up flags appended; unchanged without a command (the image's default)."""
    flags = STARTUP_FLAGS.get(spec.name, ())
    if spec.command is None or not flags:
        return spec.command
    return (*spec.command, *flags)
