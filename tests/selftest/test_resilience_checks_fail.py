"""The resilience checks fail, naming what was lost, on deliberately broken stacks.

One child run covers the crash checks: Loki with its ingester WAL disabled and Prometheus
with its TSDB (WAL included) on a tmpfs instead of its volume. Both still answer every
push and scrape; a SIGKILL takes what they held in memory. Where Loki cannot run (as in
CI) its check is not evaluated and that part skips with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from obsgate.run import GateRun
from tests.selftest.conftest import (
    STACK,
    Compose,
    built_image,
    failed_or_skip,
    mount,
    nginx_conf,
    only,
    passed_or_skip,
    with_nginx,
)

CRASH = "tests/integration/resilience/test_resilience_crash.py"
RETENTION = "tests/integration/resilience/test_resilience_retention.py"
LIFECYCLE = "tests/integration/resilience/test_resilience_lifecycle.py"
LOKI_CONF = "/etc/loki/loki.yml"


def test_crash_checks_fail_without_a_durable_wal(variant, child_gate, tmp_path: Path) -> None:
    config = yaml.safe_load((STACK / "loki" / "loki.yml").read_text())
    config["ingester"]["wal"]["enabled"] = False
    loki_yml = tmp_path / "loki.yml"
    loki_yml.write_text(yaml.safe_dump(config, sort_keys=False))

    def broken(doc: Compose) -> None:
        only("loki", "prometheus")(doc)
        mount("loki", LOKI_CONF, loki_yml)(doc)
        prometheus = doc["services"]["prometheus"]
        prometheus["volumes"] = [v for v in prometheus["volumes"] if not v.startswith("prometheus-data:")]
        prometheus["tmpfs"] = ["/prometheus"]
        prometheus["user"] = "0"   # a fresh tmpfs is root's (mode 755); the image's user could not write it

    run = child_gate(CRASH, compose=variant(broken))
    prometheus = failed_or_skip(run, "test_prometheus_scraped_samples_survive_sigkill")
    assert "(the last scrape before SIGKILL), 0 are left after the restart" in prometheus
    loki = failed_or_skip(run, "test_loki_acknowledged_lines_survive_sigkill")
    assert "waiting for 50 pushed entries" in loki
    assert "50 of 50 entries missing" in run.checks["test_loki_acknowledged_lines_survive_sigkill"]["evidence"]["failure"]


def test_retention_check_fails_with_compactor_retention_off(variant, child_gate, tmp_path: Path) -> None:
    config = yaml.safe_load((STACK / "loki" / "loki.yml").read_text())
    config["compactor"]["retention_enabled"] = False   # retention_period stays set: a silent no-op
    loki_yml = tmp_path / "loki.yml"
    loki_yml.write_text(yaml.safe_dump(config, sort_keys=False))

    def broken(doc: Compose) -> None:
        only("loki")(doc)
        mount("loki", LOKI_CONF, loki_yml)(doc)

    check = "test_loki_retention_deletes_expired_lines_and_keeps_recent"
    run = child_gate(f"{RETENTION}::{check}", compose=variant(broken))
    assert "waiting for the compactor to mark expired chunks for deletion" in failed_or_skip(run, check)
    assert "0 chunks marked for deletion" in run.checks[check]["evidence"]["failure"]


@pytest.fixture
def retention_off_candidate(gate_run: GateRun) -> Iterator[str]:
    """The run's Loki as an "upgrade" whose entrypoint switches compactor retention off.

    Stands for a release that stops deleting on today's config (a changed default, a
    renamed key): the config file stays the production one, the candidate just ignores it.
    """
    choice = gate_run.image_choices()["loki"]
    if not choice.available:
        pytest.skip(f"loki: {choice.reason}")
    entrypoint = gate_run.docker().images.get(choice.ref).attrs["Config"].get("Entrypoint") or ["/usr/bin/loki"]
    dockerfile = f"FROM {choice.ref}\nENTRYPOINT {json.dumps([*entrypoint, '-compactor.retention-enabled=false'])}\n"
    with built_image(gate_run, f"obsgate-selftest/loki-retention-off:{gate_run.run_id}", dockerfile,
                     f"a retention-off candidate from {choice.ref}") as tag:
        yield tag


def test_candidate_retention_check_fails_on_a_candidate_that_stops_deleting(retention_off_candidate: str,
                                                                           child_gate) -> None:
    candidate = f"loki={retention_off_candidate}"
    compaction = f"test_candidate_loki_compactor_compacts_shipped_tables[{candidate}]"
    retention = f"test_candidate_loki_retention_deletes_expired_lines_and_keeps_recent[{candidate}]"
    run = child_gate(f"{RETENTION}::test_candidate_loki_compactor_compacts_shipped_tables",
                     f"{RETENTION}::test_candidate_loki_retention_deletes_expired_lines_and_keeps_recent",
                     extra=("--candidate", candidate))
    assert "waiting for the compactor to mark expired chunks for deletion" in failed_or_skip(run, retention)
    assert run.checks[retention]["category"] == "Upgrade readiness"
    passed_or_skip(run, compaction)   # it still compacts: only the deleting is gone


# Loki's compaction interval appended after every other flag (the drill's accelerated 1s included): the last one
# wins, so this Loki's compactor waits 10 minutes before its first run, as the production file's does.
SLOW_COMPACTOR = "-compactor.compaction-interval=10m"
COMPACTION_TIMED_OUT = "timed out after 20s waiting for a successful compaction of the shipped tables"


def test_compaction_check_fails_when_the_compactor_does_not_run_in_the_wait(variant, child_gate) -> None:
    def broken(doc: Compose) -> None:
        only("loki")(doc)
        # $$ is compose's literal $: the shell passes the command's flags on, then appends the slow interval.
        doc["services"]["loki"]["entrypoint"] = ["/bin/sh", "-c", f'exec /usr/bin/loki "$$@" {SLOW_COMPACTOR}', "loki"]

    check = "test_loki_compactor_compacts_shipped_tables"
    run = child_gate(f"{RETENTION}::{check}", compose=variant(broken))
    reason = failed_or_skip(run, check)
    assert COMPACTION_TIMED_OUT in reason, reason
    assert "0 successful / 0 failed compactions" in reason + run.checks[check]["evidence"].get("failure", ""), reason


@pytest.fixture
def slow_compactor_candidate(gate_run: GateRun) -> Iterator[str]:
    """The run's Loki as an "upgrade" that compacts only every 10 minutes whatever its command says."""
    choice = gate_run.image_choices()["loki"]
    if not choice.available:
        pytest.skip(f"loki: {choice.reason}")
    entrypoint = ["/bin/sh", "-c", f'exec /usr/bin/loki "$@" {SLOW_COMPACTOR}', "loki"]
    with built_image(gate_run, f"obsgate-selftest/loki-slow-compactor:{gate_run.run_id}",
                     f"FROM {choice.ref}\nENTRYPOINT {json.dumps(entrypoint)}\n",
                     f"a slow-compactor candidate from {choice.ref}") as tag:
        yield tag


def test_candidate_compaction_check_fails_on_a_candidate_that_does_not_compact_in_the_wait(
        slow_compactor_candidate: str, child_gate) -> None:
    candidate = f"loki={slow_compactor_candidate}"
    compaction = f"test_candidate_loki_compactor_compacts_shipped_tables[{candidate}]"
    run = child_gate(f"{RETENTION}::test_candidate_loki_compactor_compacts_shipped_tables",
                     extra=("--candidate", candidate))
    assert COMPACTION_TIMED_OUT in failed_or_skip(run, compaction)
    assert run.checks[compaction]["category"] == "Upgrade readiness"


def test_lifecycle_checks_fail_without_named_volumes(variant, child_gate) -> None:
    def broken(doc: Compose) -> None:
        only("prometheus", "alertmanager", "nginx")(doc)
        for name, volume in (("prometheus", "prometheus-data:"), ("alertmanager", "alertmanager-data:")):
            service = doc["services"][name]
            service["volumes"] = [v for v in service["volumes"] if not v.startswith(volume)]

    run = child_gate(LIFECYCLE, compose=variant(broken))
    prometheus = failed_or_skip(run, "test_prometheus_series_survive_restart_stop_start_and_recreation")
    assert "after recreate of prometheus: 0 of" in prometheus
    alertmanager = failed_or_skip(run, "test_alertmanager_silences_survive_restart_stop_start_and_recreation")
    assert "after recreate of alertmanager: silence" in alertmanager
    assert "after restart" not in prometheus + alertmanager   # the container's own layer survives a restart


def test_nginx_recreation_check_fails_when_nginx_resolves_prometheus_only_at_start(variant, child_gate,
                                                                                 readable: Path) -> None:
    """nginx with a fixed upstream (proxy_pass to the name, no variable): it resolves Prometheus once, at its
    start, and keeps sending to the old address after Prometheus is re-created on a new one."""
    conf = nginx_conf(readable, ("set $prometheus_upstream http://prometheus:9090;", ""),
                      ("proxy_pass $prometheus_upstream;", "proxy_pass http://prometheus:9090;"))

    def prometheus_first(doc: Compose) -> None:
        # A fixed upstream must resolve when nginx starts: Prometheus has to be up by then.
        doc["services"]["nginx"]["depends_on"] = {"prometheus": {"condition": "service_healthy"}}

    check = "test_nginx_serves_prometheus_again_after_its_recreation_without_restart"
    run = child_gate(f"{LIFECYCLE}::{check}", compose=variant(with_nginx(conf, "prometheus", more=prometheus_first)))
    reason = failed_or_skip(run, check)
    assert "nginx to serve the re-created Prometheus (/prometheus/-/ready 200)" in reason, reason
    assert "timed out" in reason and "nginx was restarted" not in reason, reason
