"""What a gate check records: measurements judged against gate.yml targets, and evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from obsgate.core.policy import Policy
from obsgate.core.results import Judgement, Measurement


@dataclass
class GateRecorder:
    """What a check measured and saw; judged against the policy's targets."""

    policy: Policy
    measurements: list[Measurement] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def measure(self, target_key: str, value: float, name: str | None = None,
                context: str | Callable[[], str] | None = None) -> Judgement:
        """Record ``value`` against target ``target_key``; a miss fails the check with the arithmetic, then
        ``context`` (what explains the figure; a callable is only called on a miss)."""
        target = self.policy.target(target_key)
        judgement = target.judge(value)
        self.measurements.append(Measurement(name or target_key, value, target.unit, target_key,
                                             target.value, target.warn, target.better, judgement))
        if judgement is Judgement.MISSED:
            said = context() if callable(context) else context
            raise AssertionError(f"{name or target_key}: {target.explain(value)}" + (f"; {said}" if said else ""))
        return judgement
