"""An alert trip's phases: when Prometheus fired is observed, and a busy machine makes a missed budget
inconclusive, never a failure of the stack, unless a service recorded a fault of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from obsgate.checks.alerting.phases import AlertTrace, Phase, TripLoad, TripWatch, judge_phases
from obsgate.clients import Endpoint, PrometheusAPI
from obsgate.core.errors import NotEvaluated
from obsgate.core.machine import CpuTimes
from obsgate.core.policy import load_policy
from obsgate.core.recorder import GateRecorder

ROOT = Path(__file__).resolve().parents[2]


def stat(tmp_path: Path, user: int, idle: int) -> Path:
    path = tmp_path / f"stat-{user}-{idle}"
    path.write_text(f"cpu  {user} 0 0 {idle} 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n")
    return path


def test_cpu_busy_share_between_two_moments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    before, after = CpuTimes.now(stat(tmp_path, 100, 100)), CpuTimes.now(stat(tmp_path, 190, 110))
    assert before is not None and before.busy_share_until(after) == pytest.approx(0.9)
    assert before.busy_share_until(before) is None


@pytest.mark.parametrize("host", ["tcp://build-host:2376", "ssh://me@elsewhere"])
def test_a_remote_engine_gets_no_cpu_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("DOCKER_HOST", host)
    assert CpuTimes.now(stat(tmp_path, 1, 1)) is None


def test_the_real_proc_stat_is_read() -> None:
    assert Path("/proc/stat").exists() and CpuTimes.now() is not None


@pytest.mark.parametrize(("load", "excused"), [
    (TripLoad(0.97, 2, {}), True),
    (TripLoad(0.97, 0, {}), True),
    (TripLoad(0.5, 2, {}), False),                                           # an idle machine excuses nothing
    (TripLoad(None, 2, {}), False),                                          # nor one that cannot be measured
    (TripLoad(0.97, 2, {"prometheus_notifications_dropped_total": 1}), False),  # a service's own fault
])
def test_only_a_busy_machine_without_service_faults_excuses(load: TripLoad, excused: bool) -> None:
    assert (load.excuse() is not None) is excused


def recorder() -> GateRecorder:
    return GateRecorder(load_policy(ROOT / "gate.yml"))


PHASES = [Phase("loki_down_firing_s", 90.0, 61.0, "for: 1m"),
          Phase("loki_down_dispatch_s", 0.2, target_key="notification_dispatch_s")]


def test_a_missed_budget_on_a_busy_machine_is_inconclusive_with_the_figures() -> None:
    gate = recorder()
    with pytest.raises(NotEvaluated, match=r"^inconclusive — the machine was busy: its CPUs 97% busy during the trip, "
                                           r"Prometheus missed 2 rule evaluations, .*loki_down_firing_s: 90.0 s > 61 s"):
        judge_phases(gate, PHASES, TripLoad(0.97, 2, {}))
    assert [m.name for m in gate.measurements] == ["loki_down_firing_s", "loki_down_dispatch_s"]
    assert gate.evidence["trip_load"]["prometheus_missed_iterations"] == 2


def test_a_missed_budget_with_a_service_fault_fails() -> None:
    with pytest.raises(AssertionError, match="loki_down_firing_s: 90.0 s > 61 s"):
        judge_phases(recorder(), PHASES, TripLoad(0.97, 2, {"prometheus_notifications_errors_total": 3}))


def test_met_budgets_pass_however_busy() -> None:
    judge_phases(recorder(), [Phase("x", 1.0, 2.0, "config")], TripLoad(1.0, 5, {}))


METRICS = """\
# TYPE prometheus_rule_group_iterations_missed_total counter
prometheus_rule_group_iterations_missed_total{rule_group="/etc/prometheus/rules/loki.yml;loki"} 2
prometheus_rule_group_iterations_missed_total{rule_group="/etc/prometheus/rules/stack.yml;stack"} 1
# TYPE prometheus_notifications_dropped_total counter
prometheus_notifications_dropped_total 0
"""
RULES = {"status": "success", "data": {"groups": [
    {"name": "loki", "interval": 15, "evaluationTime": 0.004, "lastEvaluation": "2026-12-04T10:00:30.002Z",
     "rules": [{"name": "LokiDown", "health": "ok"}]}]}}


def fake_prometheus(answers: dict[str, Any]) -> PrometheusAPI:
    """Prometheus answering from recorded bodies: a str for text, else JSON."""
    def handle(request: httpx.Request) -> httpx.Response:
        body = answers[request.url.path]
        return httpx.Response(200, text=body) if isinstance(body, str) else httpx.Response(200, json=body)

    api = PrometheusAPI(Endpoint(lambda: "http://prometheus:9090", service="prometheus"))
    api._client = httpx.Client(base_url="http://prometheus:9090", transport=httpx.MockTransport(handle))
    api._version = 0
    return api


def test_counters_sum_over_label_sets_and_absent_ones_are_zero() -> None:
    counters = fake_prometheus({"/metrics": METRICS}).counters(
        ("prometheus_rule_group_iterations_missed_total", "prometheus_notifications_dropped_total",
         "prometheus_notifications_errors_total"))
    assert counters == {"prometheus_rule_group_iterations_missed_total": 3.0,
                        "prometheus_notifications_dropped_total": 0.0, "prometheus_notifications_errors_total": 0.0}


def test_counters_by_a_label_keep_one_sum_per_value() -> None:
    text = ('# TYPE prometheus_notifications_errors_total counter\n'
            'prometheus_notifications_errors_total{alertmanager="http://am:9093/api/v2/alerts"} 3\n')
    counters = fake_prometheus({"/metrics": text}).counters(("prometheus_notifications_errors_total",), by="alertmanager")
    assert counters['prometheus_notifications_errors_total{alertmanager="http://am:9093/api/v2/alerts"}'] == 3.0


def test_a_watch_reports_what_grew_during_the_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: dict[str, Any] = {"/metrics": METRICS}
    watch = TripWatch.start(fake_prometheus(answers))
    answers["/metrics"] = METRICS.replace("} 2", "} 4").replace("dropped_total 0", "dropped_total 1")
    load = watch.load()
    assert load.missed_iterations == 2 and load.faults == {"prometheus_notifications_dropped_total": 1.0}


def test_the_firing_moment_is_the_evaluation_that_fired_not_active_plus_for() -> None:
    alert = {"labels": {"alertname": "LokiDown"}, "activeAt": "2026-12-04T09:59:00Z", "value": "1"}
    answers: dict[str, Any] = {"/api/v1/alerts": {"status": "success", "data": {"alerts": [{**alert, "state": "pending"}]}},
                               "/api/v1/rules": RULES}

    class NoAlertmanager:
        def alerts(self) -> list[Any]:
            return []

    class NoReceiver:
        deliveries: list[Any] = []

    trace = AlertTrace({"alertname": "LokiDown"}, fake_prometheus(answers), NoAlertmanager(),  # type: ignore[arg-type]
                       NoReceiver(), lambda d: True)  # type: ignore[arg-type]
    trace.sample()
    assert trace.active_at is not None and trace.fired_at is None
    answers["/api/v1/alerts"]["data"]["alerts"][0]["state"] = "firing"
    trace.sample()
    assert trace.fired_at is not None and trace.fired_at - trace.active_at == pytest.approx(90.002)
