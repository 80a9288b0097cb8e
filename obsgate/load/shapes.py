"""Load shapes as plain data: phases of a target push rate, each with a ramp, under a hard time cap.

Locust drives *users*; a shape here speaks in pushes per second. Each push user paces itself
at ``user_rps`` pushes per second, so a phase at ``rps`` runs ``ceil(rps / user_rps)`` users.
``locust_shapes`` wraps these plans as Locust ``LoadTestShape`` classes; a plan is validated
before any user spawns, and a plan stops by itself at its end or its hard cap, whichever is first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The seed review's P1-4 profile (artillery): warm-up 10 req/s for 60 s, sustained 100 req/s
# for 300 s, spike 200 req/s for 60 s.
SEED_PROFILE = (("warm-up", 10.0, 60.0), ("sustained", 100.0, 300.0), ("spike", 200.0, 60.0))
CAP_MARGIN = 1.1           # a plan's default hard cap: its planned length plus 10 %
WARM_UP = "warm-up"        # a step-up's first phase: the start rate, not judged (a fresh Loki's first seconds)
SHAPES = ("profile", "step", "soak")


@dataclass(frozen=True)
class Phase:
    """``duration_s`` at ``rps`` pushes/s, the first ``ramp_s`` of it ramping from the previous rate."""

    name: str
    rps: float
    duration_s: float
    ramp_s: float = 0.0


@dataclass(frozen=True)
class Plan:
    """A validated sequence of phases and the time after which the run stops regardless."""

    phases: tuple[Phase, ...]
    hard_cap_s: float

    @property
    def length_s(self) -> float:
        return sum(p.duration_s for p in self.phases)

    def starts(self) -> list[float]:
        """Each phase's start, seconds after the run's start."""
        out, t = [], 0.0
        for phase in self.phases:
            out.append(t)
            t += phase.duration_s
        return out

    def phase_at(self, t: float) -> Phase | None:
        """The phase running ``t`` seconds in; None once the plan or its hard cap is over."""
        if t >= self.hard_cap_s:
            return None
        for start, phase in zip(self.starts(), self.phases, strict=True):
            if t < start + phase.duration_s:
                return phase
        return None

    def window(self, name: str) -> tuple[float, float]:
        """(start, end) of phase ``name`` after its ramp: where a steady rate is measured."""
        for start, phase in zip(self.starts(), self.phases, strict=True):
            if phase.name == name:
                return start + phase.ramp_s, min(start + phase.duration_s, self.hard_cap_s)
        raise KeyError(f"no phase {name!r} in {[p.name for p in self.phases]}")


def users_for(rps: float, user_rps: float) -> int:
    """Push users needed for ``rps`` when each paces itself at ``user_rps``."""
    return math.ceil(rps / user_rps - 1e-9) if rps > 0 else 0


def tick(plan: Plan, t: float, user_rps: float) -> tuple[int, float] | None:
    """What Locust's shape returns ``t`` seconds in: (push users, spawn rate), or None to stop."""
    phase = plan.phase_at(t)
    if phase is None:
        return None
    index = plan.phases.index(phase)
    users = users_for(phase.rps, user_rps)
    before = users_for(plan.phases[index - 1].rps, user_rps) if index else 0
    change = abs(users - before)
    spawn_rate = change / phase.ramp_s if phase.ramp_s > 0 else max(change, 1)
    return users, max(spawn_rate, 0.1)


def validate(phases: Sequence[Phase], hard_cap_s: float | None) -> Plan:
    """A Plan, or ValueError naming the first parameter that makes no sense."""
    if not phases:
        raise ValueError("a load shape needs at least one phase")
    for p in phases:
        for what, value in (("rate", p.rps), ("duration", p.duration_s), ("ramp", p.ramp_s)):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"phase {p.name!r}: {what} must be a finite number >= 0, got {value}")
        if p.duration_s <= 0:
            raise ValueError(f"phase {p.name!r}: duration must be > 0 s, got {p.duration_s}")
        if p.ramp_s > p.duration_s:
            raise ValueError(f"phase {p.name!r}: ramp {p.ramp_s:g} s is longer than the phase ({p.duration_s:g} s)")
    length = sum(p.duration_s for p in phases)
    cap = length * CAP_MARGIN if hard_cap_s is None else hard_cap_s
    if not math.isfinite(cap) or cap <= 0:
        raise ValueError(f"hard cap must be a finite number of seconds > 0, got {cap}")
    longest = max(phases, key=lambda p: p.duration_s)
    if longest.duration_s > cap:
        raise ValueError(f"phase {longest.name!r} ({longest.duration_s:g} s) is longer than the hard cap ({cap:g} s)")
    if length > cap:
        raise ValueError(f"the phases last {length:g} s, longer than the hard cap ({cap:g} s): "
                         "shorten them or raise the cap")
    return Plan(tuple(phases), cap)


def seed_profile(scale: float = 1.0, rate_scale: float = 1.0, hard_cap_s: float | None = None) -> Plan:
    """The seed's warm-up / sustained / spike profile; ``scale`` shortens it (0.1 = a tenth of each phase)."""
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"profile scale must be > 0, got {scale}")
    if not math.isfinite(rate_scale) or rate_scale <= 0:
        raise ValueError(f"rate scale must be > 0, got {rate_scale}")
    return validate([Phase(name, rps * rate_scale, seconds * scale, min(5.0, seconds * scale / 4))
                     for name, rps, seconds in SEED_PROFILE], hard_cap_s)


def step_up(start_rps: float, step_rps: float, step_s: float, max_rps: float,
            hard_cap_s: float | None = None, warm_up: bool = False) -> Plan:
    """Rate steps from ``start_rps`` up by ``step_rps`` every ``step_s`` up to ``max_rps``: to saturation.

    ``warm_up``: one more step at ``start_rps`` first, named WARM_UP, which no knee is judged on.
    """
    for what, value in (("start rate", start_rps), ("step", step_rps), ("step length", step_s), ("max rate", max_rps)):
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"step-up {what} must be a finite number > 0, got {value}")
    if max_rps < start_rps:
        raise ValueError(f"step-up max rate {max_rps:g} is below its start rate {start_rps:g}")
    count = math.floor((max_rps - start_rps) / step_rps + 1e-9) + 1
    phases = [Phase(f"step-{i + 1}", start_rps + i * step_rps, step_s, min(2.0, step_s / 4)) for i in range(count)]
    if warm_up:
        phases.insert(0, Phase(WARM_UP, start_rps, step_s, min(2.0, step_s / 4)))
    return validate(phases, hard_cap_s)


def soak(rps: float, duration_s: float, ramp_s: float = 60.0, hard_cap_s: float | None = None) -> Plan:
    """One long phase at a constant rate (nightly), after a ramp."""
    return validate([Phase("soak", rps, duration_s, min(ramp_s, duration_s))], hard_cap_s)


MARGIN_RAMP_S = 2.0         # the margin window's first seconds, stepping up from the target rate, not measured


def gate_profile(rps: float, ramp_s: float, steady_s: float, margin_rps: float | None = None,
                 margin_s: float = 0.0) -> Plan:
    """The gate's short run: ramp to the target rate and hold it for the steady window (latency, errors, counts are
    judged at the rate their targets speak of), then, if given, offer ``margin_rps`` for the margin window
    (throughput: the target proven with margin)."""
    if not math.isfinite(rps) or rps <= 0:
        raise ValueError(f"the gate profile needs a push rate > 0, got {rps}")
    phases = [Phase("ramp", rps, ramp_s, ramp_s), Phase("steady", rps, steady_s)]
    if margin_rps is not None and margin_s > 0:
        phases.append(Phase("margin", margin_rps, margin_s + MARGIN_RAMP_S, MARGIN_RAMP_S))
    return validate(phases, None)
