"""What a gate check produced: the records scoring and reports are built from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from obsgate.core.causes import Cause


class Outcome(str, Enum):
    PASSED = "passed"
    SOFT_MISS = "soft_miss"          # a measured value inside the warning band: half weight
    FAILED = "failed"
    ERROR = "error"                  # the check itself broke (fixture/setup error)
    NOT_EVALUATED = "not_evaluated"  # could not run: scored 0, listed with its reason


class Judgement(str, Enum):
    MET = "met"
    SOFT = "soft"
    MISSED = "missed"


@dataclass
class Measurement:
    """A value a check measured, against the policy target it was judged by."""

    name: str
    value: float
    unit: str
    target_key: str | None = None
    target: float | None = None
    warn: float | None = None
    better: str | None = None        # "higher" | "lower"
    judgement: Judgement | None = None


@dataclass
class CheckResult:
    """One gate check's result: the unit the score and every report are made of."""

    check_id: str                    # test function name; what gate.yml's blockers name
    nodeid: str
    category: str
    weight: float
    outcome: Outcome
    reason: str = ""                 # one-line cause for anything but a pass
    duration_s: float = 0.0
    blocker: bool = False
    measurements: list[Measurement] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    # Not evaluated: why, shared with every check it hit (raw error kept there); failed: the service's
    # answer it failed on, if any (obsgate.clients.http.ServiceError), shared the same way.
    cause: Cause | None = None


@dataclass(frozen=True)
class CauseGroup:
    """A cause and every check it explains (services merged over them)."""

    cause: Cause
    results: tuple[CheckResult, ...]

    @property
    def count(self) -> int:
        return len(self.results)


def cause_of(result: CheckResult) -> Cause:
    """The result's cause; its reason when it was recorded without one."""
    return result.cause if result.cause is not None else Cause.of_reason(result.reason)


def group_causes(results: Iterable[CheckResult]) -> list[CauseGroup]:
    """Results grouped by cause, the cause hitting most checks first."""
    groups: dict[str, tuple[Cause, list[CheckResult]]] = {}
    for r in results:
        cause = cause_of(r)
        first, members = groups.setdefault(cause.key, (cause, []))
        services = tuple(dict.fromkeys((*first.services, *cause.services)))
        groups[cause.key] = (replace(first, services=services, detail=first.detail or cause.detail), members)
        members.append(r)
    ordered = sorted(groups.values(), key=lambda g: -len(g[1]))  # stable: first seen first among equals
    return [CauseGroup(cause, tuple(members)) for cause, members in ordered]
