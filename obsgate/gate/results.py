"""What a gate check produced: the records scoring and reports are built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from obsgate.gate.causes import Cause


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
    cause: Cause | None = None       # not evaluated: why, shared with every check it hit (raw error kept there)
