"""Load shapes: the seed profile, step-up, soak and the gate's profile; nonsense refused (no container)."""

from __future__ import annotations

import pytest

from obsgate.load import shapes
from obsgate.load.shapes import Phase


def test_seed_profile_is_warm_up_sustained_spike_and_scales() -> None:
    full = shapes.seed_profile()
    assert [(p.name, p.rps, p.duration_s) for p in full.phases] == [
        ("warm-up", 10, 60), ("sustained", 100, 300), ("spike", 200, 60)]
    short = shapes.seed_profile(scale=0.1, rate_scale=0.5)
    assert [(p.rps, p.duration_s) for p in short.phases] == [(5, 6), (50, 30), (100, 6)]
    assert short.hard_cap_s == pytest.approx(42 * shapes.CAP_MARGIN)


def test_tick_turns_rates_into_users_and_stops_by_itself() -> None:
    plan = shapes.gate_profile(rps=10, ramp_s=15, steady_s=60)
    assert shapes.tick(plan, 0, user_rps=1) == (10, pytest.approx(10 / 15))
    assert shapes.tick(plan, 30, user_rps=2)[0] == 5
    assert shapes.tick(plan, 74.9, user_rps=1)[0] == 10
    assert shapes.tick(plan, 75, user_rps=1) is None
    assert plan.window("steady") == (15, 75)


def test_the_gate_profile_ends_with_its_margin_window_after_a_short_step() -> None:
    plan = shapes.gate_profile(rps=10, ramp_s=15, steady_s=60, margin_rps=11, margin_s=20)
    assert [(p.name, p.rps) for p in plan.phases] == [("ramp", 10), ("steady", 10), ("margin", 11)]
    assert plan.window("margin") == (75 + shapes.MARGIN_RAMP_S, 97)


def test_hard_cap_stops_a_plan_early() -> None:
    plan = shapes.validate([Phase("a", 1, 10)], hard_cap_s=12)
    assert plan.phase_at(11) is None and plan.phase_at(9.9) is not None
    capped = shapes.validate([Phase("a", 1, 10), Phase("b", 1, 10)], hard_cap_s=25)
    assert capped.phase_at(24) is None


def test_step_up_climbs_to_the_max_rate() -> None:
    plan = shapes.step_up(start_rps=2, step_rps=3, step_s=10, max_rps=11)
    assert [p.rps for p in plan.phases] == [2, 5, 8, 11]
    assert plan.length_s == 40


@pytest.mark.parametrize("build, problem", [
    (lambda: shapes.validate([Phase("a", -1, 10)], None), "rate must be a finite number >= 0"),
    (lambda: shapes.validate([Phase("a", 1, 0)], None), "duration must be > 0"),
    (lambda: shapes.validate([Phase("a", 1, 10, ramp_s=11)], None), "ramp 11 s is longer than the phase"),
    (lambda: shapes.soak(10, 3600, hard_cap_s=600), "'soak' .3600 s. is longer than the hard cap .600 s."),
    (lambda: shapes.validate([Phase("a", 1, 10), Phase("b", 1, 10)], 15), "longer than the hard cap"),
    (lambda: shapes.step_up(2, -1, 10, 10), "step must be a finite number > 0"),
    (lambda: shapes.step_up(20, 1, 10, 10), "below its start rate"),
    (lambda: shapes.seed_profile(scale=0), "scale must be > 0"),
    (lambda: shapes.validate([], None), "at least one phase"),
    (lambda: shapes.validate([Phase("a", float("nan"), 10)], None), "finite"),
])
def test_nonsense_shapes_are_refused(build, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        build()


def test_step_up_can_warm_up_at_its_start_rate_first() -> None:
    plan = shapes.step_up(start_rps=2, step_rps=2, step_s=10, max_rps=4, warm_up=True)
    assert [(p.name, p.rps) for p in plan.phases] == [(shapes.WARM_UP, 2), ("step-1", 2), ("step-2", 4)]
