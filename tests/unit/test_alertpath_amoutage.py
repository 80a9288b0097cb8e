"""obsgate.checks.alerting.amoutage and the overlay's drills: the Alertmanager-return arithmetic, Prometheus'
notifier counters and rule group state from recorded answers, and each drill settled on its own."""

from __future__ import annotations

import dataclasses
import shutil
from concurrent.futures import Future
from pathlib import Path

import httpx
import pytest

from obsgate.checks.alerting import alertpath
from obsgate.checks.alerting.amoutage import describe, grown, last_evaluation, notifier_failures, return_budget
from obsgate.checks.alerting.phases import feasible
from obsgate.checks.alerting.routing import CRITICAL
from obsgate.checks.static import alerting
from obsgate.clients import Endpoint, PrometheusAPI
from obsgate.core.policy import Policy, load_policy
from obsgate.stackfiles.compose import ComposeProject, load_compose

ROOT = Path(__file__).resolve().parents[2]
TARGET = "alert_after_alertmanager_return_s"

METRICS = """# HELP prometheus_notifications_errors_total Total number of errors sending alert notifications.
# TYPE prometheus_notifications_errors_total counter
prometheus_notifications_errors_total{alertmanager="http://alertmanager:9093/api/v2/alerts"} 3
# HELP prometheus_notifications_dropped_total Total number of alerts dropped due to errors.
# TYPE prometheus_notifications_dropped_total counter
prometheus_notifications_dropped_total 2
# HELP prometheus_notifications_sent_total Total number of alerts sent.
# TYPE prometheus_notifications_sent_total counter
prometheus_notifications_sent_total{alertmanager="http://alertmanager:9093/api/v2/alerts"} 7
"""


@pytest.fixture
def policy() -> Policy:
    return load_policy(ROOT / "gate.yml")


@pytest.fixture
def project(tmp_path: Path) -> ComposeProject:
    copy = tmp_path / "stack"
    shutil.copytree(ROOT / "stack", copy)
    for sub in ("nginx", "alertmanager"):
        (tmp_path / "secrets" / sub).mkdir(parents=True)
    env = {"OBS_SECRETS_DIR": str(tmp_path / "secrets"), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y",
           "OBS_PUBLIC_URL": "https://obs.example"}
    return load_compose(copy / "docker-compose.yml", env)


def _budget(project: ComposeProject, policy: Policy, *flags: str) -> alerting.Budget:
    spec = project.services["prometheus"]
    spec = dataclasses.replace(spec, command=(*(spec.command or ()), *flags))
    delivery = alerting.probe_budget(alerting.load(project, policy), "ObsGateTestAlert", CRITICAL)
    return return_budget(delivery, spec, project.path)


def test_shipped_stack_resend_default_held_to_the_next_slot_group_wait_already_over(
        project: ComposeProject, policy: Policy) -> None:
    budget = _budget(project, policy)
    assert [t.seconds for t in budget.terms] == [75.0, 0.0, 5.0]        # floor(60/15)+1 slots, no group_wait left
    assert "resend delay 1m (default)" in budget.arithmetic and budget.arithmetic.endswith("= 80 s")
    assert feasible(policy, budget, TARGET) == 85.0                      # 80 - 5 + the dispatch warn band 10


def test_a_resend_delay_too_long_for_the_target_fails_at_once_with_the_arithmetic(
        project: ComposeProject, policy: Policy) -> None:
    budget = _budget(project, policy, "--rules.alert.resend-delay=5m")
    with pytest.raises(AssertionError, match=r"cannot meet alert_after_alertmanager_return_s.*resend delay 5m .*315 s"):
        feasible(policy, budget, TARGET)


def test_a_short_resend_delay_leaves_part_of_group_wait(project: ComposeProject, policy: Policy) -> None:
    budget = _budget(project, policy, "--rules.alert.resend-delay=1s")
    assert [t.seconds for t in budget.terms] == [15.0, 0.0, 5.0]         # the first evaluation after 1 s: 15 s
    alerting_doc = (Path(project.path).parent / "alertmanager" / "alertmanager.yml")
    alerting_doc.write_text(alerting_doc.read_text().replace("group_wait: 10s", "group_wait: 40s"))
    reloaded = load_compose(project.path, {"OBS_SECRETS_DIR": str(Path(project.path).parents[1] / "secrets"),
                                           "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y",
                                           "OBS_PUBLIC_URL": "https://obs.example"})
    assert [t.seconds for t in _budget(reloaded, policy, "--rules.alert.resend-delay=1s").terms] == [15.0, 25.0, 5.0]


def _api(monkeypatch: pytest.MonkeyPatch, answers: dict[str, httpx.Response]) -> PrometheusAPI:
    real = httpx.Client
    transport = httpx.MockTransport(lambda request: answers[request.url.path])
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=transport, **kw))
    return PrometheusAPI(Endpoint(lambda: "http://prometheus.test"))


def test_notifier_failures_per_alertmanager_and_what_grew(monkeypatch: pytest.MonkeyPatch) -> None:
    api = _api(monkeypatch, {"/metrics": httpx.Response(200, text=METRICS)})
    counts = notifier_failures(api)
    errors = 'prometheus_notifications_errors_total{alertmanager="http://alertmanager:9093/api/v2/alerts"}'
    assert counts == {errors: 3.0, "prometheus_notifications_dropped_total": 2.0}      # sent_total is no failure
    assert grown({errors: 3.0, "prometheus_notifications_dropped_total": 1.0}, counts) == {
        "prometheus_notifications_dropped_total": 1.0}
    assert grown(counts, counts) == {}


def test_last_evaluation_of_a_group_none_before_its_first(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = [{"name": "obs-gate-test", "lastEvaluation": "2026-12-02T00:06:33.123456789Z", "rules": []},
              {"name": "fresh", "lastEvaluation": "0001-01-01T00:00:00Z", "rules": []}]
    api = _api(monkeypatch, {"/api/v1/rules": httpx.Response(200, json={"status": "success",
                                                                           "data": {"groups": groups}})})
    assert last_evaluation(api, "obs-gate-test") == pytest.approx(1796169993.123456, abs=1e-3)
    assert last_evaluation(api, "fresh") is None
    assert last_evaluation(api, "absent") is None


def test_one_drill_failing_leaves_the_other_its_own_outcome() -> None:
    trip: Future[int] = Future()
    outage: Future[int] = Future()
    alertpath._settle(trip, lambda: 1 // 0)
    alertpath._settle(outage, lambda: 42)
    assert isinstance(trip.exception(), ZeroDivisionError) and outage.result() == 42


def test_a_failure_before_the_drills_reaches_both_checks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class Broken:
        def __init__(self, *args: object) -> None:
            raise AssertionError("prometheus.yml: unreadable")

    monkeypatch.setattr(alertpath, "TestAlertPath", Broken)
    drills = alertpath.Drills()
    alertpath.run_drills(None, tmp_path, None, drills)  # type: ignore[arg-type]
    assert str(drills.trip.exception()) == str(drills.outage.exception()) == "prometheus.yml: unreadable"


def test_a_drill_already_settled_keeps_its_outcome(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class TripThenBreak:
        def __init__(self, *args: object) -> None:
            pass

        def drill(self, drills: alertpath.Drills) -> None:
            drills.trip.set_result("delivered")     # type: ignore[arg-type]
            raise RuntimeError("overlay removal failed")

    monkeypatch.setattr(alertpath, "TestAlertPath", TripThenBreak)
    drills = alertpath.Drills()
    alertpath.run_drills(None, tmp_path, None, drills)  # type: ignore[arg-type]
    assert drills.trip.result() == "delivered"
    assert isinstance(drills.outage.exception(), RuntimeError)


def test_notifier_failures_in_words() -> None:
    errors = 'prometheus_notifications_errors_total{alertmanager="http://alertmanager:9093/wrong/api/v2/alerts"}'
    assert describe({errors: 3.0, "prometheus_notifications_dropped_total": 2.0}) == (
        "3 failed sends to http://alertmanager:9093/wrong/api/v2/alerts, 2 alerts dropped")
    assert describe({}) == "no failed send"
