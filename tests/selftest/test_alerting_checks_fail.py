"""The alerting and monitoring-the-monitor checks fail, naming the cause, on broken variants.

Child runs:
- a prometheus.yml that scrapes Alertmanager on a wrong port and whose rule_files glob no
  longer matches the shipped rule files;
- an alertmanager.yml whose Slack receivers post to an address where nothing listens (the
  receiver unreachable), which both the test alert (overlay stack) and the real LokiDown
  alert must run into, each naming the phase it is stuck in;
- an evaluation interval, a scrape interval and a group wait each too long for the policy:
  the budget checks and the live checks fail at once with the arithmetic, in seconds;
- Alertmanager frozen (docker pause) for a while after it received the test alert: the
  slowed phase is the one that blows its budget;
- the Alertmanager outage: Prometheus sending alerts to a path Alertmanager does not serve
  (nothing arrives after the return; the notifier's failing URL is named), and a resend
  delay of 5m (fails at once with the arithmetic while the test alert's trip still passes).
The LokiDown parts need Loki and are skipped where it cannot run. Grafana's provisioning
checks cannot run here: their logic is proven in tests/unit/test_grafana_checks.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
import yaml
from docker.errors import DockerException

from tests.selftest.conftest import STACK, Compose, failed_or_skip, mount, only, passed_or_skip

ALERTING = "tests/integration/alerting"
MONITOR, DELIVERY = f"{ALERTING}/test_alerting_monitor.py", f"{ALERTING}/test_alerting_notifications.py"
OUTAGE = "tests/integration/resilience/test_resilience_outage.py"
UNREACHABLE = "http://127.0.0.1:9/unreachable-slack-webhook"    # inside the Alertmanager container


def write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o644)
    return path


def test_target_and_rule_checks_fail_on_a_broken_prometheus_config(variant, child_gate, readable: Path) -> None:
    config = yaml.safe_load((STACK / "prometheus" / "prometheus.yml").read_text())
    for job in config["scrape_configs"]:
        if job["job_name"] == "alertmanager":
            job["static_configs"] = [{"targets": ["alertmanager:9094"]}]
    config["rule_files"] = ["/etc/prometheus/rules/*.rules"]
    path = write(readable / "prometheus.yml", config)

    def broken(doc: Compose) -> None:
        only("prometheus", "alertmanager", "grafana")(doc)
        mount("prometheus", "/etc/prometheus/prometheus.yml", path)(doc)

    run = child_gate(f"{MONITOR}::test_prometheus_scrapes_stack_target", f"{MONITOR}::test_prometheus_runs_every_shipped_rule",
                     compose=variant(broken))
    assert "alertmanager:9094" in failed_or_skip(run, "test_prometheus_scrapes_stack_target[alertmanager]")
    assert "connection refused" in run.checks["test_prometheus_scrapes_stack_target[alertmanager]"]["evidence"]["failure"]
    passed_or_skip(run, "test_prometheus_scrapes_stack_target[prometheus]")
    if run.checks["test_prometheus_scrapes_stack_target[grafana]"]["outcome"] != "passed":
        # A target whose service cannot run here is not evaluated, never failed.
        assert run.outcome("test_prometheus_scrapes_stack_target[grafana]") == "not_evaluated"
    assert "missing (group, rule)" in failed_or_skip(run, "test_prometheus_runs_every_shipped_rule")


def test_delivery_checks_fail_when_the_receiver_is_unreachable(variant, child_gate, readable: Path) -> None:
    config = yaml.safe_load((STACK / "alertmanager" / "alertmanager.yml").read_text())
    config["global"].pop("slack_api_url_file", None)
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            slack.pop("api_url_file", None)
            slack["api_url"] = UNREACHABLE
    path = write(readable / "alertmanager.yml", config)

    def broken(doc: Compose) -> None:
        only("prometheus", "alertmanager", "loki")(doc)
        mount("alertmanager", "/etc/alertmanager/alertmanager.yml", path)(doc)

    run = child_gate(f"{DELIVERY}::test_test_alert_reaches_critical_receiver",
                     f"{OUTAGE}::test_loki_down_alert_reaches_receiver", compose=variant(broken))
    reason = failed_or_skip(run, "test_test_alert_reaches_critical_receiver")
    assert "timed out" in reason and "ObsGateTestAlert at the Slack receiver" in reason
    stuck = "stuck in Alertmanager -> receiver"
    assert stuck in run.checks["test_test_alert_reaches_critical_receiver"]["evidence"]["failure"]
    loki_down = failed_or_skip(run, "test_loki_down_alert_reaches_receiver")
    assert "LokiDown at the Slack receiver" in loki_down
    assert stuck in run.checks["test_loki_down_alert_reaches_receiver"]["evidence"]["failure"]


BUDGETS = "tests/config/test_alerting_budget.py"
DELIVERY_BUDGET, OUTAGE_BUDGET = (f"{BUDGETS}::test_critical_routes_meet_alert_delivery_budget",
                                  f"{BUDGETS}::test_service_down_alerts_meet_outage_to_page_budget")
TRIP, LOKI_DOWN = "test_test_alert_reaches_critical_receiver", "test_loki_down_alert_reaches_receiver"
AT_ONCE_S = 10.0            # "fails in seconds": far below any interval the variants configure


def _slow(config: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], tuple[str, Path]]:
    """A variant writer: the shipped ``config`` (prometheus or alertmanager) with ``edit`` applied."""
    def make(readable: Path) -> tuple[str, Path]:
        name = "prometheus/prometheus.yml" if config == "prometheus" else "alertmanager/alertmanager.yml"
        doc = yaml.safe_load((STACK / name).read_text())
        edit(doc)
        return f"/etc/{name.split('/')[0]}/{name.split('/')[1]}", write(readable / name.split("/")[1], doc)
    return make


@pytest.mark.parametrize(("make", "delivery_too_slow", "arithmetic"), [
    pytest.param(_slow("prometheus", lambda d: d["global"].update(evaluation_interval="10m")), True,
                 "evaluation_interval 600 s", id="evaluation_interval-10m"),
    pytest.param(_slow("prometheus", lambda d: d["global"].update(scrape_interval="5m")), False,
                 "scrape_interval of job loki 300 s", id="scrape_interval-5m"),
    pytest.param(_slow("alertmanager", lambda d: d["route"]["routes"][0].update(group_wait="5m")), True,
                 "route.routes[0] (receiver slack-critical) 300 s", id="group_wait-5m"),
])
def test_intervals_too_long_for_the_policy_fail_at_once_with_the_arithmetic(
        variant, child_gate, readable: Path, make: Callable[[Path], tuple[str, Path]],
        delivery_too_slow: bool, arithmetic: str) -> None:
    target, path = make(readable)
    service = target.split("/")[2]

    def broken(doc: Compose) -> None:
        only("prometheus", "alertmanager", "loki")(doc)
        mount(service, target, path)(doc)

    run = child_gate(DELIVERY_BUDGET, OUTAGE_BUDGET, f"{DELIVERY}::{TRIP}", f"{OUTAGE}::{LOKI_DOWN}",
                     compose=variant(broken))
    def findings(check: str) -> str:
        failed_or_skip(run, check)
        return "\n".join(run.checks[check]["evidence"]["findings"])

    outage = findings("test_service_down_alerts_meet_outage_to_page_budget")
    assert arithmetic in outage and "> target 120 s" in outage
    if delivery_too_slow:
        assert arithmetic in findings("test_critical_routes_meet_alert_delivery_budget")
        assert "cannot meet alert_delivery_s whatever the stack does" in failed_or_skip(run, TRIP)
        assert run.checks[TRIP]["duration_s"] < AT_ONCE_S
    else:       # the scrape interval does not enter rule true -> receiver: that path still passes
        passed_or_skip(run, "test_critical_routes_meet_alert_delivery_budget")
        passed_or_skip(run, TRIP)
    if run.outcome(LOKI_DOWN) != "not_evaluated":      # needs Loki
        assert "cannot meet outage_to_page_s whatever the stack does" in run.reason(LOKI_DOWN)
        # The first check to ask for the stack waits for its bring-up: that is not the check waiting.
        assert run.checks[LOKI_DOWN]["duration_s"] - run.bring_up_s < AT_ONCE_S


def _freeze_alertmanager_after_it_receives(run_id: str, frozen_s: float, stop: threading.Event) -> list[str]:
    """In the background: pause the child's overlay Alertmanager once it holds the test alert, then resume it."""
    client, log = docker.from_env(), []

    def freeze() -> None:
        name = f"obsgate-{run_id}-alerts-alertmanager"
        deadline = time.monotonic() + 300
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                container = client.containers.get(name)
                ip = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
                alerts = httpx.get(f"http://{ip}:9093/api/v2/alerts", timeout=2).json()
            except (DockerException, httpx.HTTPError, ValueError, StopIteration):
                alerts = []
            if any(a["labels"].get("alertname", "").startswith("ObsGateTestAlert") for a in alerts):
                container.pause()
                log.append(f"paused {name}")
                stop.wait(frozen_s)
                try:
                    container.unpause()
                    log.append(f"resumed {name} after {frozen_s:g} s")
                except DockerException:     # the child run, done judging, removed it while paused
                    log.append(f"{name} was removed while paused")
                return
            stop.wait(0.2)

    threading.Thread(target=freeze, daemon=True, name="freeze-alertmanager").start()
    return log


def test_a_frozen_alertmanager_blows_the_dispatch_phase(child_gate, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = f"frz{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("OBSGATE_RUN_ID", run_id)
    stop = threading.Event()
    # group_wait is 10 s: a 22 s freeze leaves ~12 s of it to the stack, beyond the dispatch target's warn band.
    log = _freeze_alertmanager_after_it_receives(run_id, 22.0, stop)
    try:
        run = child_gate(f"{DELIVERY}::{TRIP}")
    finally:
        stop.set()
    reason = failed_or_skip(run, TRIP)
    assert log and log[0].startswith("paused"), f"the overlay Alertmanager was never paused: {reason}"
    # Either the phase judgement names it, or the wait ran out while the alert sat in Alertmanager.
    first = reason.removeprefix("AssertionError: ")
    assert first.startswith("test_alert_dispatch_s: ") or "stuck in Alertmanager -> receiver" in first, reason
    assert "test_alert_evaluation_s:" not in first              # the config-set phase was on time


RETURN = "test_alert_fired_during_alertmanager_outage_is_delivered_after_its_return"


def _wrong_alertmanager_path(readable: Path) -> Callable[[Compose], None]:
    config = yaml.safe_load((STACK / "prometheus" / "prometheus.yml").read_text())
    config["alerting"]["alertmanagers"][0]["path_prefix"] = "/wrong"
    path = write(readable / "prometheus.yml", config)
    return mount("prometheus", "/etc/prometheus/prometheus.yml", path)


def _slow_resend(readable: Path) -> Callable[[Compose], None]:
    def mutate(doc: Compose) -> None:
        doc["services"]["prometheus"]["command"].append("--rules.alert.resend-delay=5m")
    return mutate


@pytest.mark.parametrize(("make", "cause", "trip_passes"), [
    # Alerts go to a path Alertmanager does not serve: nothing arrives after the return, and the notifier names it.
    pytest.param(_wrong_alertmanager_path, "failed sends to http://alertmanager:9093/wrong/api/v2/alerts", False,
                 id="alertmanager-path-wrong"),
    # A fresh alert still goes at once (the trip passes); one whose send failed waits 5 min: fails at once.
    pytest.param(_slow_resend, "cannot meet alert_after_alertmanager_return_s whatever the stack does: worst case "
                 "320 s", True, id="resend-delay-5m"),
])
def test_alert_after_alertmanager_return_fails_naming_the_cause(
        variant, child_gate, readable: Path, make: Callable[[Path], Callable[[Compose], None]], cause: str,
        trip_passes: bool) -> None:
    broken = make(readable)

    def mutate(doc: Compose) -> None:
        only("prometheus", "alertmanager")(doc)
        broken(doc)

    run = child_gate(f"{DELIVERY}::{TRIP}", f"{DELIVERY}::{RETURN}", compose=variant(mutate))
    reason = failed_or_skip(run, RETURN)
    assert cause in reason, reason
    if trip_passes:
        passed_or_skip(run, TRIP)       # judged on its own: the other check's failure is not its own
        assert "resend delay 5m held to the first evaluation after it 315 s" in run.checks[RETURN]["evidence"]["failure"]
        assert run.checks[RETURN]["duration_s"] < AT_ONCE_S
    else:                               # nothing reaches Alertmanager: the trip fails too, for its own reason
        assert "ObsGateTestAlert at the Slack receiver" in failed_or_skip(run, TRIP)
