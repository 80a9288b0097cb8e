"""Scoring math and verdict rules, on a small policy whose numbers are easy to check."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from obsgate.core.causes import Cause
from obsgate.core.errors import InputError
from obsgate.core.policy import Category, Policy
from obsgate.core.results import CheckResult, Outcome
from obsgate.gate.scoring import Verdict, earned, score

P, S, F, E, N = (Outcome.PASSED, Outcome.SOFT_MISS, Outcome.FAILED, Outcome.ERROR,
                 Outcome.NOT_EVALUATED)


def policy(blockers: tuple[str, ...] = ()) -> Policy:
    """A (weight 60) and B (weight 40) are scored; Adv is advisory."""
    categories = {
        "A": Category("A", 60, False, ""),
        "B": Category("B", 40, False, ""),
        "Adv": Category("Adv", 0, True, ""),
    }
    return Policy(Path("gate.yml"), 80, 60, categories, blockers, {})


def check(check_id: str, outcome: Outcome, category: str = "A", weight: float = 1.0,
          reason: str = "", blocker: bool = False) -> CheckResult:
    return CheckResult(check_id, f"tests/integration/test_x.py::{check_id}", category, weight,
                       outcome, reason=reason, blocker=blocker)


def full(category: str, n: int = 1) -> list[CheckResult]:
    return [check(f"test_{category.lower()}_{i}", P, category) for i in range(n)]


def test_all_pass_is_pass_at_100() -> None:
    gate = score(full("A") + full("B"), policy())
    assert gate.total == 100 and gate.verdict is Verdict.PASS
    assert [c.score for c in gate.categories] == [100, 100, 0]
    assert gate.reasons[0] == "total 100.0 >= pass 80"


def test_soft_miss_earns_half_weight() -> None:
    results = [check("test_a", P, weight=1), check("test_b", S, weight=1)] + full("B")
    gate = score(results, policy())
    a = gate.categories[0]
    assert (a.earned, a.possible, a.score, a.weighted) == (1.5, 2, 75, 45)
    assert gate.total == 85
    assert [r.check_id for r in gate.soft_misses] == ["test_b"]
    assert earned(results[1]) == 0.5


def test_weights_within_a_category() -> None:
    gate = score([check("test_heavy", F, weight=3), check("test_light", P, weight=1)]
                 + full("B"), policy())
    assert gate.categories[0].score == 25


@pytest.mark.parametrize("outcome", [F, E, N])
def test_failed_errored_and_not_evaluated_earn_nothing(outcome: Outcome) -> None:
    gate = score([check("test_a", P), check("test_b", outcome)] + full("B"), policy())
    assert gate.categories[0].score == 50
    assert gate.categories[0].evaluated == (1 if outcome is N else 2)


def test_not_evaluated_counts_in_the_denominator_and_is_reported() -> None:
    results = full("A", 3) + [check("test_b1", P, "B"),
                              check("test_b2", N, "B", reason="Docker engine unavailable")]
    gate = score(results, policy())
    assert gate.categories[1].score == 50 and gate.total == 80
    assert gate.verdict is Verdict.PASS
    assert [r.check_id for r in gate.not_evaluated] == ["test_b2"]
    assert "1 check not evaluated (Docker engine unavailable)" in gate.reasons


def test_everything_not_evaluated_fails_with_the_common_reason() -> None:
    results = [check(f"test_{i}", N, cat, reason="Docker engine unavailable")
               for i, cat in enumerate("AAB")]
    results.append(check("test_img", N, "B", reason="image grafana:11 unavailable\ntraceback"))
    gate = score(results, policy())
    assert gate.verdict is Verdict.FAIL and gate.total == 0
    nothing = [r for r in gate.reasons if r.startswith("nothing could be evaluated")]
    assert nothing == [("nothing could be evaluated: all 4 checks not evaluated "
                        "(3: Docker engine unavailable; 1: image grafana:11 unavailable)")]


def test_no_results_at_all_fails() -> None:
    gate = score([], policy())
    assert gate.verdict is Verdict.FAIL
    assert "nothing could be evaluated: no checks ran" in gate.reasons


def test_category_without_checks_scores_zero_and_says_so() -> None:
    gate = score(full("A"), policy())
    b = gate.categories[1]
    assert (b.checks, b.score, b.weighted) == (0, 0, 0)
    assert gate.total == 60 and gate.verdict is Verdict.CONDITIONAL_PASS
    assert ("category B has no checks: scored 0 (nothing observed is never claimed)"
            in gate.reasons)


def test_advisory_category_is_reported_never_scored() -> None:
    results = full("A") + full("B") + [check("test_candidate", F, "Adv", reason="rejects config")]
    gate = score(results, policy())
    adv = gate.categories[2]
    assert adv.advisory and adv.checks == 1 and adv.score == 0 and adv.weighted == 0
    assert gate.total == 100 and gate.verdict is Verdict.PASS
    ok = score(full("A") + full("B") + full("Adv"), policy())
    assert ok.categories[2].score == 100 and ok.total == 100


def test_empty_advisory_category_is_no_reason() -> None:
    gate = score(full("A") + full("B"), policy())
    assert not any("Adv" in r for r in gate.reasons)


@pytest.mark.parametrize("outcome", [F, E, N])
def test_policy_blocker_beats_a_high_total(outcome: Outcome) -> None:
    results = full("A", 9) + full("B") + [check("test_loki_is_ready", outcome, "A",
                                                reason="connection refused\nmore")]
    gate = score(results, policy(blockers=("test_loki_is_ready",)))
    assert gate.total == 94 and gate.verdict is Verdict.FAIL
    state = {F: "failed", E: "errored", N: "not evaluated"}[outcome]
    assert gate.reasons[0] == f"blocker test_loki_is_ready {state}: connection refused"
    assert [r.check_id for r in gate.blockers_failed] == ["test_loki_is_ready"]
    assert gate.results[-1].blocker  # the policy's blocker flag is carried into the results


def test_marker_blocker_counts_too() -> None:
    results = full("A") + full("B") + [check("test_tls", F, "B", reason="bad cert", blocker=True)]
    gate = score(results, policy())
    assert gate.verdict is Verdict.FAIL
    assert gate.reasons[0] == "blocker test_tls failed: bad cert"


def test_soft_missed_blocker_does_not_block() -> None:
    results = full("A") + full("B") + [check("test_loki_is_ready", S, "A")]
    gate = score(results, policy(blockers=("test_loki_is_ready",)))
    assert gate.verdict is Verdict.PASS and not gate.blockers_failed


def test_blocker_missing_from_results_fails() -> None:
    gate = score(full("A") + full("B"), policy(blockers=("test_loki_is_ready",)))
    assert gate.total == 100 and gate.verdict is Verdict.FAIL
    assert gate.missing_blockers == ("test_loki_is_ready",)
    assert gate.reasons[0] == ("blocker test_loki_is_ready has no result: "
                               "it was deselected or not run")


def test_parametrized_blocker_is_matched_by_function_name() -> None:
    results = full("A") + full("B") + [check("test_loki_is_ready[a]", P),
                                       check("test_loki_is_ready[b]", F, reason="down")]
    gate = score(results, policy(blockers=("test_loki_is_ready",)))
    assert gate.missing_blockers == ()
    assert gate.verdict is Verdict.FAIL
    assert gate.reasons[0] == "blocker test_loki_is_ready[b] failed: down"


@pytest.mark.parametrize(("b_outcomes", "total", "verdict"), [
    ([P, F], 80, Verdict.PASS),                 # exactly pass
    ([P, P, P, P, F], 92, Verdict.PASS),
    ([P, P, P, F, F, F, F, F, F, F], 72, Verdict.CONDITIONAL_PASS),
    ([F], 60, Verdict.CONDITIONAL_PASS),        # exactly warn
])
def test_threshold_boundaries(b_outcomes: list[Outcome], total: float, verdict: Verdict) -> None:
    results = full("A") + [check(f"test_b{i}", o, "B") for i, o in enumerate(b_outcomes)]
    gate = score(results, policy())
    assert gate.total == total and gate.verdict is verdict


def test_just_below_the_thresholds() -> None:
    below_pass = full("A") + [check("test_b", P, "B", weight=499), check("test_c", F, "B",
                                                                         weight=501)]
    gate = score(below_pass, policy())
    assert gate.total == pytest.approx(79.96) and gate.verdict is Verdict.CONDITIONAL_PASS
    assert "total 80.0 < pass 80" in gate.reasons  # rounded in text, still below
    below_warn = [check("test_a", P, weight=999), check("test_x", F, weight=1)]
    gate = score(below_warn + [check("test_b", F, "B")], policy())
    assert gate.total == pytest.approx(59.94) and gate.verdict is Verdict.FAIL
    assert gate.reasons[0] == "total 59.9 < warn 60"


def test_threshold_reached_up_to_float_noise() -> None:
    # 7/9 of A and 5/6 of B is exactly 80, but 79.99999999999999 in naive float arithmetic.
    results = [check(f"test_a{i}", P if i < 7 else F) for i in range(9)]
    results += [check(f"test_b{i}", P if i < 5 else F, "B") for i in range(6)]
    gate = score(results, policy())
    assert gate.total == 80 and gate.verdict is Verdict.PASS


def test_failing_checks_are_listed() -> None:
    results = full("A") + [check("test_b", F, "B", reason="boom"), check("test_c", E, "B")]
    gate = score(results, policy())
    assert [r.check_id for r in gate.failing] == ["test_b", "test_c"]
    assert "2 checks failed or errored: test_b, test_c" in gate.reasons


def test_result_in_unknown_category_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        score([check("test_a", P, "Securty")], policy())
    assert caught.value.key == "categories.Securty"


def test_blockers_kept_from_running_by_one_cause_are_one_reason() -> None:
    missing = Cause("image:grafana/loki:2.9.3", "grafana/loki:2.9.3 not present locally and no registry reachable",
                    "pass --image loki=REF", "500 Server Error: dial tcp: lookup registry-1.docker.io: no such host")
    blockers = ("test_loki_is_ready", "test_grafana_is_ready", "test_push_works", "test_query_works")
    results = full("A") + full("B") + [replace(check(b, N, "A", reason=f"loki: image unavailable: {missing.text}"),
                                               cause=missing) for b in blockers]
    results.append(check("test_tls", F, "B", reason="bad cert", blocker=True))
    gate = score(results, policy(blockers=blockers))
    assert gate.reasons[:2] == [
        "blocker test_tls failed: bad cert",
        "4 blockers not evaluated (test_loki_is_ready, test_grafana_is_ready, test_push_works and 1 more): "
        "grafana/loki:2.9.3 not present locally and no registry reachable"]
    assert "4 checks not evaluated (grafana/loki:2.9.3 not present locally and no registry reachable)" in gate.reasons
