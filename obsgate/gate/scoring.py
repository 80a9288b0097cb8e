"""Turns check results into the gate's score and verdict.

The rules are deliberately pessimistic: a check that could not run, or a category with
nothing in it, earns nothing, so the gate never claims what it did not observe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

from obsgate.core.policy import Policy, format_number, function_name
from obsgate.core.results import CauseGroup, CheckResult, Outcome, group_causes
from obsgate.core.text import one_line

BAD_OUTCOMES = (Outcome.FAILED, Outcome.ERROR, Outcome.NOT_EVALUATED)
EARNED_FRACTION = {Outcome.PASSED: 1.0, Outcome.SOFT_MISS: 0.5}
REASON_EXAMPLES = 2  # how many not-evaluated causes a reason line names
BLOCKERS_NAMED = 3   # how many blockers a reason line names before "and N more"


class Verdict(str, Enum):
    PASS = "PASS"
    CONDITIONAL_PASS = "CONDITIONAL PASS"
    FAIL = "FAIL"


@dataclass
class CategoryScore:
    """One row of the decision matrix."""

    name: str
    weight: float
    advisory: bool
    checks: int
    evaluated: int
    earned: float
    possible: float
    score: float      # 0..100 within the category
    weighted: float   # contribution to the total (score x weight / 100)


@dataclass
class GateScore:
    """The decision and everything needed to explain it.

    `results` carry the effective blocker flag (marker or policy); `missing_blockers`
    are policy blockers with no result at all, which fail the gate too.
    """

    total: float
    verdict: Verdict
    reasons: list[str]
    categories: list[CategoryScore]
    results: list[CheckResult]
    policy: Policy
    missing_blockers: tuple[str, ...] = ()

    @property
    def not_evaluated(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome is Outcome.NOT_EVALUATED]

    @property
    def causes(self) -> list[CauseGroup]:
        """Why the not-evaluated checks could not run: one entry per cause, biggest first."""
        return group_causes(self.not_evaluated)

    @property
    def failing(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome in (Outcome.FAILED, Outcome.ERROR)]

    @property
    def failure_causes(self) -> list[CauseGroup]:
        """Service answers two or more failing checks failed on: each answer named once, biggest first."""
        return _shared_answers(self.failing)

    @property
    def soft_misses(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome is Outcome.SOFT_MISS]

    @property
    def blockers_failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.blocker and r.outcome in BAD_OUTCOMES]


def earned(result: CheckResult) -> float:
    """A check's points: full weight for a pass, half for a soft miss, else nothing."""
    return result.weight * EARNED_FRACTION.get(result.outcome, 0.0)


def score(results: Sequence[CheckResult], policy: Policy) -> GateScore:
    """Score the run against the policy and decide the verdict."""
    for r in results:
        policy.category(r.category)  # an unknown category is an input error, not a zero
    blocker_ids = set(policy.blockers)
    marked = [replace(r, blocker=r.blocker or function_name(r.check_id) in blocker_ids)
              for r in results]
    categories = [_category_score(name, marked, policy) for name in policy.categories]
    # Rounded so totals that are exactly on a threshold up to float noise count as on it.
    total = round(sum(c.weighted for c in categories if not c.advisory), 9)
    seen_ids = {function_name(r.check_id) for r in marked}
    missing = tuple(b for b in policy.blockers if b not in seen_ids)
    verdict, reasons = _decide(total, categories, marked, missing, policy)
    return GateScore(total, verdict, reasons, categories, marked, policy, missing)


def _category_score(name: str, results: list[CheckResult], policy: Policy) -> CategoryScore:
    category = policy.categories[name]
    mine = [r for r in results if r.category == name]
    got = sum(earned(r) for r in mine)
    possible = sum(r.weight for r in mine)
    value = 100.0 * got / possible if possible > 0 else 0.0
    return CategoryScore(
        name=name,
        weight=category.weight,
        advisory=category.advisory,
        checks=len(mine),
        evaluated=sum(r.outcome is not Outcome.NOT_EVALUATED for r in mine),
        earned=got,
        possible=possible,
        score=value,
        weighted=value * category.weight / 100.0,
    )


def _decide(
    total: float,
    categories: list[CategoryScore],
    results: list[CheckResult],
    missing_blockers: tuple[str, ...],
    policy: Policy,
) -> tuple[Verdict, list[str]]:
    blockers = [r for r in results if r.blocker and r.outcome in BAD_OUTCOMES]
    reasons = [_blocker_reason(r) for r in blockers if r.outcome is not Outcome.NOT_EVALUATED]
    reasons += [_blockers_not_evaluated(g)
                for g in group_causes(r for r in blockers if r.outcome is Outcome.NOT_EVALUATED)]
    reasons += [f"blocker {b} has no result: it was deselected or not run"
                for b in missing_blockers]
    blocked = bool(reasons)
    not_evaluated = [r for r in results if r.outcome is Outcome.NOT_EVALUATED]
    nothing_evaluated = not results or len(not_evaluated) == len(results)
    if not results:
        reasons.append("nothing could be evaluated: no checks ran")
    elif nothing_evaluated:
        reasons.append(f"nothing could be evaluated: all {len(results)} checks not evaluated "
                       f"({_common_causes(not_evaluated)})")
    pass_t, warn_t = policy.pass_threshold, policy.warn_threshold
    if total < warn_t:
        reasons.append(f"total {total:.1f} < warn {format_number(warn_t)}")
    elif total < pass_t:
        reasons.append(f"total {total:.1f} < pass {format_number(pass_t)}")
    else:
        reasons.append(f"total {total:.1f} >= pass {format_number(pass_t)}")
    for c in categories:
        if c.possible <= 0 and not c.advisory:
            what = "no checks" if c.checks == 0 else "no weighted checks"
            reasons.append(f"category {c.name} has {what}: scored 0 "
                           "(nothing observed is never claimed)")
    if not_evaluated and not nothing_evaluated:
        reasons.append(f"{_count(len(not_evaluated))} not evaluated "
                       f"({_common_causes(not_evaluated)})")
    failing = [r for r in results if r.outcome in (Outcome.FAILED, Outcome.ERROR)]
    if failing:
        names = ", ".join(r.check_id for r in failing[:5]) + (", …" if len(failing) > 5 else "")
        shared = "".join(f"; {g.count} of them on one answer: {g.cause.text}"
                         for g in _shared_answers(failing)[:REASON_EXAMPLES])
        reasons.append(f"{_count(len(failing))} failed or errored: {names}{shared}")
    if blocked or nothing_evaluated or total < warn_t:
        return Verdict.FAIL, reasons
    if total < pass_t:
        return Verdict.CONDITIONAL_PASS, reasons
    return Verdict.PASS, reasons


def _blocker_reason(result: CheckResult) -> str:
    state = {Outcome.FAILED: "failed", Outcome.ERROR: "errored",
             Outcome.NOT_EVALUATED: "not evaluated"}[result.outcome]
    cause = one_line(result.reason)
    return f"blocker {result.check_id} {state}" + (f": {cause}" if cause else "")


def _blockers_not_evaluated(group: CauseGroup) -> str:
    """Blockers one cause kept from running, on one line."""
    if group.count == 1:
        return _blocker_reason(group.results[0])
    ids = [r.check_id for r in group.results]
    more = f" and {len(ids) - BLOCKERS_NAMED} more" if len(ids) > BLOCKERS_NAMED else ""
    return (f"{group.count} blockers not evaluated ({', '.join(ids[:BLOCKERS_NAMED])}{more}): "
            f"{group.cause.text}")


def _shared_answers(failing: list[CheckResult]) -> list[CauseGroup]:
    return [g for g in group_causes(r for r in failing if r.cause is not None) if g.count > 1]


def _common_causes(results: list[CheckResult]) -> str:
    """The biggest causes with their counts, e.g. `31: grafana/loki:2.9.3 not present …; 2 more causes`."""
    groups = group_causes(results)
    named = [f"{g.count}: {g.cause.text}" if len(groups) > 1 else g.cause.text
             for g in groups[:REASON_EXAMPLES]]
    rest = len(groups) - REASON_EXAMPLES
    if rest > 0:
        named.append(f"{rest} more cause" + ("" if rest == 1 else "s"))
    return "; ".join(named)


def _count(n: int) -> str:
    return f"{n} check" + ("" if n == 1 else "s")

