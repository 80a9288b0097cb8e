"""The limit and retention checks each fail on a variant that breaks exactly them, and pass on today's stack.

Every variant is stack/docker-compose.yml with one limit or retention changed (a compose key, a
flag of a command, or a copy of loki.yml), run through the whole static set in a child pytest:
the one check meant to catch it fails naming file, key, value, target and fix, and every other
static check passes. No container starts, except for the running Prometheus' retention (its
image from this run's --image; skipped with the child's reason where it cannot run).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.selftest.conftest import STACK, ChildRun, Compose, failed_or_skip, mount, only
from tests.selftest.test_static_checks_fail import STATIC, edited, failed, only_failure, yaml_edit

SEED_COMPOSE = STACK.parent / "tests" / "config" / "fixtures" / "seed" / "docker-compose.yml"
LIMITS = ("test_compose_services_have_memory_limits", "test_compose_memory_limits_fit_stack_budget",
          "test_prometheus_retention_meets_policy", "test_alertmanager_retention_meets_policy",
          "test_loki_config_query_horizon_reaches_retention")


@pytest.fixture
def static_run(variant, child_gate) -> Callable[[Callable[[Compose], None]], ChildRun]:
    """The static set on a variant of the stack."""
    return lambda mutate: child_gate(*STATIC, compose=variant(mutate))


def command_flag(service: str, flag: str, value: str) -> Callable[[Compose], None]:
    """Mutation: ``--flag=value`` in the service's command, replacing the flag if it is there."""

    def mutate(doc: Compose) -> None:
        command = [a for a in doc["services"][service]["command"] if not str(a).startswith(f"--{flag}=")]
        doc["services"][service]["command"] = [*command, f"--{flag}={value}"]
    return mutate


def memory(service: str, size: str | None) -> Callable[[Compose], None]:
    """Mutation: the service's memory limit set to ``size``, or (None) removed with its deploy section."""

    def mutate(doc: Compose) -> None:
        if size is None:
            del doc["services"][service]["deploy"]
        else:
            doc["services"][service]["deploy"]["resources"]["limits"]["memory"] = size
    return mutate


def failure(run: ChildRun, check: str) -> str:
    """The one static check that did not pass is ``check``; its whole failure text (the reason is cut to a line)."""
    assert set(failed(run)) == {check}, "\n".join(f"{c}: {r}" for c, r in failed(run).items()) or run.output[-3000:]
    return failure_text(run, check)


def failure_text(run: ChildRun, check: str) -> str:
    return str(run.checks[check]["evidence"]["failure"])


def test_limit_checks_pass_on_todays_stack(child_gate) -> None:
    run = child_gate(*STATIC)
    assert not failed(run)
    assert all(run.outcome(check) == "passed" for check in LIMITS)


def test_service_without_memory_limit_is_flagged(static_run) -> None:
    reason = only_failure(static_run(memory("nginx", None)), "test_compose_services_have_memory_limits")
    assert "docker-compose.yml" in reason and "services.nginx.deploy.resources.limits.memory: nginx has no memory limit" in reason
    assert "fix: set services.nginx.deploy.resources.limits.memory" in reason


def test_memory_limits_over_the_stack_budget_are_flagged(static_run) -> None:
    reason = failure(static_run(memory("loki", "3g")), "test_compose_memory_limits_fit_stack_budget")
    assert "loki 3 GiB + prometheus 1 GiB + alertmanager 0.25 GiB + grafana 0.5 GiB + nginx 0.25 GiB = 5 GiB" in reason
    assert "memory_limits_bytes: 5,368,709,120 B > target 4,294,967,296 B" in reason and "fix: lower" in reason


def test_prometheus_keeping_metrics_two_days_is_flagged(static_run) -> None:
    run = static_run(command_flag("prometheus", "storage.tsdb.retention.time", "2d"))
    reason = failure(run, "test_prometheus_retention_meets_policy")
    assert "docker-compose.yml:" in reason and "services.prometheus.command[" in reason
    assert "--storage.tsdb.retention.time=2d = 48 h: prometheus_retention_h: 48 h < target 720 h" in reason
    assert "fix: set --storage.tsdb.retention.time" in reason


def test_alertmanager_keeping_state_one_hour_is_flagged(static_run) -> None:
    reason = failure(static_run(command_flag("alertmanager", "data.retention", "1h")), "test_alertmanager_retention_meets_policy")
    assert "services.alertmanager.command[" in reason
    assert "--data.retention=1h = 1 h: alertmanager_retention_h: 1 h < target 120 h" in reason
    assert "fix: set --data.retention" in reason


def test_loki_lookback_shorter_than_retention_is_flagged(static_run, tmp_path: Path) -> None:
    def lookback(doc: dict) -> None:
        doc["limits_config"]["max_query_lookback"] = "168h"

    config = edited(tmp_path, STACK / "loki" / "loki.yml", yaml_edit("", lookback))
    run = static_run(mount("loki", "/etc/loki/loki.yml", config))
    reason = only_failure(run, "test_loki_config_query_horizon_reaches_retention")
    assert "loki.yml:" in reason
    assert "limits_config.max_query_lookback: max_query_lookback 168h = 168 h < target retention_h 720 h" in reason
    assert "fix: set limits_config.max_query_lookback >= 720h" in reason


def test_repeat_interval_beyond_alertmanager_retention_is_flagged(static_run, tmp_path: Path) -> None:
    def weekly(doc: dict) -> None:
        doc["route"]["repeat_interval"] = "168h"

    config = edited(tmp_path, STACK / "alertmanager" / "alertmanager.yml", yaml_edit("", weekly))
    run = static_run(mount("alertmanager", "/etc/alertmanager/alertmanager.yml", config))
    reason = only_failure(run, "test_alertmanager_retention_meets_policy")
    assert "alertmanager.yml:" in reason
    assert "route.repeat_interval: repeat_interval 168 h is longer than --data.retention=120h" in reason
    assert "fix: raise --data.retention above 168 h" in reason


def test_running_prometheus_on_its_default_retention_is_flagged(variant, child_gate) -> None:
    def default_retention(doc: Compose) -> None:
        only("prometheus")(doc)
        command = doc["services"]["prometheus"]["command"]
        doc["services"]["prometheus"]["command"] = [a for a in command if not a.startswith("--storage.tsdb.retention")]

    check = "test_running_prometheus_retention_meets_policy"
    run = child_gate(f"tests/integration/test_effective_limits.py::{check}", compose=variant(default_retention))
    reason = failed_or_skip(run, check)
    failure = str(run.checks[check]["evidence"]["failure"])
    assert "running_prometheus_retention_h: 360 h < target 720 h" in reason
    assert "GET /api/v1/status/flags of " in failure and "no retention flag (Prometheus' default 15d) = 360 h" in failure
    assert "fix: set --storage.tsdb.retention.time" in failure


def test_running_loki_lookback_shorter_than_retention_is_flagged(variant, child_gate, tmp_path: Path) -> None:
    def lookback(doc: dict) -> None:
        doc["limits_config"]["max_query_lookback"] = "168h"

    config = edited(tmp_path, STACK / "loki" / "loki.yml", yaml_edit("", lookback))
    check = "test_loki_effective_config_meets_policy"
    run = child_gate(f"tests/config/test_acceptance.py::{check}", compose=variant(mount("loki", "/etc/loki/loki.yml", config)))
    failed_or_skip(run, check)
    failure = str(run.checks[check]["evidence"]["failure"])
    assert "GET /config of " in failure and "limits_config.max_query_lookback: max_query_lookback 1w = 168 h" in failure


def test_seed_memory_limits_leave_services_unbounded_and_exceed_the_budget(static_run) -> None:
    """Today's services with the seed compose's deploy sections: Loki and Prometheus 2G, Grafana 1G, the rest none."""
    seed = yaml.safe_load(SEED_COMPOSE.read_text())["services"]

    def seed_limits(doc: Compose) -> None:
        for name, svc in doc["services"].items():
            svc.pop("deploy", None)
            if "deploy" in seed.get(name, {}):
                svc["deploy"] = seed[name]["deploy"]

    run = static_run(seed_limits)
    assert set(failed(run)) == {"test_compose_services_have_memory_limits", "test_compose_memory_limits_fit_stack_budget"}
    unbounded = "\n".join(run.checks["test_compose_services_have_memory_limits"]["evidence"]["findings"])
    assert "alertmanager has no memory limit" in unbounded and "nginx has no memory limit" in unbounded
    budget = failure_text(run, "test_compose_memory_limits_fit_stack_budget")
    assert "loki 2 GiB + prometheus 2 GiB + grafana 1 GiB = 5 GiB (5,368,709,120 B)" in budget
    assert "(no limit, not counted: alertmanager, nginx)" in budget
