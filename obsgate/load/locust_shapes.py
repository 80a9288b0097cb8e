"""The plans of ``shapes`` as Locust ``LoadTestShape`` classes (this module imports Locust).

``PosShape`` follows ``--shape`` (profile, step, soak), so the web UI's start form and the
command line choose it; with ``--class-picker`` the UI also offers each shape as its own class.
"""

from __future__ import annotations

from locust import LoadTestShape

from obsgate.load import shapes
from obsgate.load.options import LoadOptions
from obsgate.load.user import LokiPushUser, LokiQueryUser, current_options


class PosShape(LoadTestShape):
    """The plan chosen by the options; stops by itself at the plan's end or its hard cap."""

    forced: str | None = None

    def options(self) -> LoadOptions:
        assert self.runner is not None, "a shape ticks only inside a runner"
        environment = self.runner.environment
        parsed = environment.parsed_options
        if self.forced is not None and parsed is not None and parsed.shape != self.forced:
            parsed.shape = self.forced
            environment.obsgate_options = None  # type: ignore[attr-defined]
        return current_options(environment)

    def tick(self) -> tuple[int, float, list[type]] | None:
        options = self.options()
        step = shapes.tick(options.plan, self.get_run_time(), options.user_rps)
        if step is None:
            return None
        users, spawn_rate = step
        classes: list[type] = [LokiPushUser]
        if options.query_interval_s > 0:
            classes.append(LokiQueryUser)
            users += LokiQueryUser.fixed_count
        return users, spawn_rate, classes


class ProfileShape(PosShape):
    """The seed's warm-up / sustained / spike profile (``--profile-scale`` shortens it)."""

    forced = "profile"


class StepShape(PosShape):
    """Step-up to saturation (``--step-*``)."""

    forced = "step"


class SoakShape(PosShape):
    """A long constant rate for nightly runs (``--soak-*``)."""

    forced = "soak"
