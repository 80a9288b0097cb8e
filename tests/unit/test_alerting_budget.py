"""obsgate.checks.static.alerting and .alerting.routing: the alert budgets' worst-case arithmetic.

Each case copies stack/ to tmp_path, changes one key of the shipped configs, and loads it with
the real compose reader: the same files the gate would judge, no containers.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsgate.checks.alerting.monitor import first_pass_wait, unknowable
from obsgate.checks.alerting.phases import feasible
from obsgate.checks.alerting.routing import CRITICAL, parse_matcher, routes_for
from obsgate.checks.static import alerting
from obsgate.core.policy import Policy, load_policy
from obsgate.core.recorder import GateRecorder
from obsgate.core.results import Judgement
from obsgate.stackfiles.compose import ComposeProject, load_compose

ROOT = Path(__file__).resolve().parents[2]
Doc = dict[str, Any]


@pytest.fixture
def policy() -> Policy:
    return load_policy(ROOT / "gate.yml")


@pytest.fixture
def stack(tmp_path: Path) -> Callable[..., ComposeProject]:
    """The shipped stack with optional edits to prometheus.yml, alertmanager.yml or rules/loki.yml."""

    def make(prometheus: Callable[[Doc], None] | None = None, alertmanager: Callable[[Doc], None] | None = None,
             loki_rules: Callable[[Doc], None] | None = None) -> ComposeProject:
        copy = tmp_path / "stack"
        shutil.copytree(ROOT / "stack", copy, dirs_exist_ok=True)
        for edit, path in ((prometheus, "prometheus/prometheus.yml"), (alertmanager, "alertmanager/alertmanager.yml"),
                           (loki_rules, "prometheus/rules/loki.yml")):
            if edit is not None:
                doc = yaml.safe_load((copy / path).read_text())
                edit(doc)
                (copy / path).write_text(yaml.safe_dump(doc, sort_keys=False))
        secrets = tmp_path / "secrets"
        for sub in ("nginx", "alertmanager"):
            (secrets / sub).mkdir(parents=True, exist_ok=True)
        env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y",
               "OBS_PUBLIC_URL": "https://obs.example"}
        return load_compose(copy / "docker-compose.yml", env)

    return make


def config(project: ComposeProject, policy: Policy) -> alerting.AlertingConfig:
    return alerting.load(project, policy)


def delivery(project: ComposeProject, policy: Policy) -> list[alerting.Budget]:
    return alerting.delivery_budgets(config(project, policy), ("ObsGateTestAlert", CRITICAL))


# --- routing ------------------------------------------------------------------------------------


def test_matcher_forms() -> None:
    assert parse_matcher('severity="critical"').matches({"severity": "critical"})
    assert parse_matcher("severity = critical").matches({"severity": "critical"})
    assert parse_matcher('alertname=~"Loki.*"').matches({"alertname": "LokiDown"})
    assert not parse_matcher('alertname=~"Loki"').matches({"alertname": "LokiDown"})     # anchored
    assert parse_matcher('team!="db"').matches({})
    assert parse_matcher('team!~"db|web"').matches({"team": "ops"})
    with pytest.raises(ValueError):
        parse_matcher("severity")


def test_routes_inherit_group_wait_and_stop_at_the_first_match_unless_continue() -> None:
    tree = {"route": {"receiver": "default", "group_wait": "20s", "routes": [
        {"receiver": "pager", "matchers": ['severity="critical"'], "continue": True},
        {"receiver": "chat", "match": {"severity": "critical"}, "group_wait": "1m"},
        {"receiver": "never", "match_re": {"severity": ".*"}},
    ]}}
    found = routes_for(tree, {"severity": "critical"})
    assert [(r.receiver, r.group_wait_s, r.group_wait_key) for r in found] == [
        ("pager", 20.0, "route.group_wait"), ("chat", 60.0, "route.routes[1].group_wait")]
    assert [(r.receiver, r.key) for r in routes_for(tree, {"severity": "info"})] == [("never", "route.routes[2]")]


def test_root_route_without_group_wait_uses_alertmanagers_default() -> None:
    [route] = routes_for({"route": {"receiver": "default"}}, {"severity": "critical"})
    assert (route.receiver, route.group_wait_s, route.key) == ("default", 30.0, "route")


# --- the shipped stack ----------------------------------------------------------------------------


def test_shipped_stack_meets_both_budgets_with_the_arithmetic(stack: Callable[..., ComposeProject],
                                                              policy: Policy) -> None:
    project = stack()
    [route] = delivery(project, policy)
    assert route.seconds == 30.0 and route.key == "route.routes[0]"
    assert "evaluation_interval 15 s" in route.arithmetic and "group_wait of route.routes[0]" in route.arithmetic
    outages = {b.key: b for b in alerting.outage_budgets(config(project, policy))}
    assert set(outages) == {"LokiDown@route.routes[0]", "TargetDown@route.routes[0]"}
    assert outages["LokiDown@route.routes[0]"].arithmetic.endswith("= 115 s")
    assert [t.seconds for t in outages["LokiDown@route.routes[0]"].terms] == [15, 10, 15, 60, 10, 5]


def test_shipped_stack_bounds_the_live_waits_below_the_policy(stack: Callable[..., ComposeProject],
                                                              policy: Policy) -> None:
    project = stack()
    [route] = delivery(project, policy)
    assert feasible(policy, route, "alert_delivery_s") == 35.0           # 30 - 5 allowance + 10 warn band, < 45
    loki = max(alerting.outage_budget(config(project, policy), next(
        r for r in config(project, policy).alert_rules() if r.name == "LokiDown"), jobs=["loki"]),
        key=lambda b: b.seconds)
    assert feasible(policy, loki, "outage_to_page_s") == 120.0           # 115 - 5 + 10, < 150


# --- the three bad intervals fail at once, with the arithmetic -------------------------------------


def judged(budgets: list[alerting.Budget], key: str, policy: Policy) -> tuple[GateRecorder, list[str]]:
    gate = GateRecorder(policy)
    return gate, [str(f) for f in alerting.judge(budgets, key, gate, "worst")]


def test_long_evaluation_interval_misses_the_delivery_budget(stack: Callable[..., ComposeProject],
                                                             policy: Policy) -> None:
    project = stack(prometheus=lambda d: d["global"].update(evaluation_interval="10m"))
    gate, findings = judged(delivery(project, policy), "alert_delivery_s", policy)
    [finding] = findings
    assert "prometheus.yml:" in finding and "global.evaluation_interval" in finding
    assert "evaluation_interval 600 s" in finding and "= 615 s" in finding and "target 30 s" in finding
    assert gate.measurements[0].judgement is Judgement.MISSED
    with pytest.raises(AssertionError, match="cannot meet alert_delivery_s whatever the stack does"):
        feasible(policy, delivery(project, policy)[0], "alert_delivery_s")


def test_long_group_wait_misses_the_delivery_budget(stack: Callable[..., ComposeProject], policy: Policy) -> None:
    project = stack(alertmanager=lambda d: d["route"]["routes"][0].update(group_wait="5m"))
    [finding] = judged(delivery(project, policy), "alert_delivery_s", policy)[1]
    assert "alertmanager.yml:" in finding and "route.routes[0].group_wait" in finding and "= 320 s" in finding


def test_long_scrape_interval_misses_the_outage_budget(stack: Callable[..., ComposeProject], policy: Policy) -> None:
    project = stack(prometheus=lambda d: d["global"].update(scrape_interval="5m"))
    findings = judged(alerting.outage_budgets(config(project, policy)), "outage_to_page_s", policy)[1]
    assert len(findings) == 2 and all("global.scrape_interval" in f and "= 400 s" in f for f in findings)
    # ... while rule true -> receiver does not depend on it
    assert judged(delivery(project, policy), "alert_delivery_s", policy)[1] == []


def test_job_and_group_settings_override_the_global_ones(stack: Callable[..., ComposeProject], policy: Policy) -> None:
    def slow_loki_job(doc: Doc) -> None:
        next(j for j in doc["scrape_configs"] if j["job_name"] == "loki").update(scrape_interval="2m",
                                                                                   scrape_timeout="30s")

    def slow_group(doc: Doc) -> None:
        doc["groups"][0]["interval"] = "40s"
        doc["groups"][0]["rules"][1]["for"] = "50s"

    project = stack(prometheus=slow_loki_job, loki_rules=slow_group)
    loki = next(b for b in alerting.outage_budgets(config(project, policy)) if b.key.startswith("LokiDown@"))
    assert [t.seconds for t in loki.terms] == [120, 30, 40, 80, 10, 5]    # for 50 s held to the 2nd 40 s slot
    assert loki.terms[0].key.endswith(".scrape_interval") and loki.terms[0].key.startswith("scrape_configs[")
    assert loki.terms[2].key == "groups[0].interval" and "loki.yml" in loki.terms[2].file
    [route] = delivery(project, policy)
    assert route.terms[0].seconds == 40                                 # the slowest critical group on the route


def test_no_critical_alert_on_up_is_a_finding(stack: Callable[..., ComposeProject], policy: Policy) -> None:
    def drop_up_rules(doc: Doc) -> None:
        doc["groups"][0]["rules"] = [r for r in doc["groups"][0]["rules"] if "up" not in r["expr"]]

    project = stack(loki_rules=drop_up_rules)
    for path in (project.path.parent / "prometheus" / "rules").glob("stack.yml"):
        doc = yaml.safe_load(path.read_text())
        drop_up_rules(doc)
        path.write_text(yaml.safe_dump(doc))
    [finding] = alerting.no_outage_alert(config(project, policy))
    assert "pages nobody" in str(finding)


def test_monitor_waits_are_bounded_by_the_policy_and_longer_intervals_not_evaluated(policy: Policy) -> None:
    assert first_pass_wait(policy, 15.0) == 35.0                      # two scrapes and a margin
    assert first_pass_wait(policy, 600.0) == 150.0                    # outage_to_page_s' warn bound, not 20 min
    assert unknowable(policy, 15.0, "rule health", "global evaluation_interval") is None
    late = unknowable(policy, 600.0, "rule health", "global evaluation_interval")
    assert late is not None and "global evaluation_interval 600 s is too long" in str(late)
