"""The limit and retention facts (compose memory limits, command flags, route repeat intervals) and their
judgements, on small compose files and configs: defaults where a flag is absent, the key each finding cites."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from obsgate.checks.static import limits, loki
from obsgate.core.errors import InputError
from obsgate.core.findings import ConfigUnreadable
from obsgate.core.policy import load_policy
from obsgate.core.results import Judgement
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.alertmanager import data_retention, go_duration_s, repeat_intervals
from obsgate.stackfiles.compose import ComposeProject, load_compose, memory_bytes
from obsgate.stackfiles.mounts import given_flag
from obsgate.stackfiles.prometheus import running_tsdb_retention, tsdb_retention

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy(ROOT / "gate.yml")
GIB = 1024**3


def project(tmp_path: Path, services: str) -> ComposeProject:
    path = tmp_path / "docker-compose.yml"
    path.write_text("services:\n" + textwrap.indent(textwrap.dedent(services), "  "), encoding="utf-8")
    return load_compose(path, {})


def command(tmp_path: Path, *argv: str) -> ComposeProject:
    return project(tmp_path, f"prometheus:\n  image: prom/prometheus:v2.48.1\n  command: {list(argv)!r}\n")


# --- facts: memory sizes, flags, durations ---------------------------------------------------


@pytest.mark.parametrize(("text", "size"), [
    ("2g", 2 * GIB), ("512m", 512 * 1024**2), ("1gb", GIB), ("1G", GIB), ("256k", 256 * 1024),
    ("268435456", 268435456), (268435456, 268435456), ("1.5g", int(1.5 * GIB)),
])
def test_memory_sizes_read_as_docker_reads_them(text: str | int, size: int) -> None:
    assert memory_bytes(text) == size


def test_a_memory_size_docker_rejects_stops_the_load(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        memory_bytes("2 gigs")
    with pytest.raises(InputError) as err:
        project(tmp_path, "a:\n  image: busybox\n  deploy: {resources: {limits: {memory: lots}}}\n")
    assert err.value.key == "services.a.deploy.resources.limits.memory"


def test_mem_limit_is_the_same_limit_as_deploy_and_must_agree_with_it(tmp_path: Path) -> None:
    assert project(tmp_path, "a:\n  image: busybox\n  mem_limit: 1g\n").services["a"].mem_limit == "1g"
    same = "a:\n  image: busybox\n  mem_limit: 1024m\n  deploy: {resources: {limits: {memory: 1g}}}\n"
    assert memory_bytes(project(tmp_path, same).services["a"].mem_limit or "") == GIB
    with pytest.raises(InputError) as err:
        project(tmp_path, "a:\n  image: busybox\n  mem_limit: 2g\n  deploy: {resources: {limits: {memory: 1g}}}\n")
    assert err.value.key == "services.a.mem_limit" and "differs" in err.value.problem


def test_given_flag_tells_an_absent_flag_from_a_given_one(tmp_path: Path) -> None:
    argv = ("--config.file=/p.yml", "--storage.tsdb.retention.time", "30d", "-x=1", "-x=2")
    spec = command(tmp_path, *argv).services["prometheus"]
    found = given_flag(spec, "storage.tsdb.retention.time")
    assert found is not None and (found.value, found.index) == ("30d", 1)
    assert given_flag(spec, "storage.tsdb.retention.size") is None
    last = given_flag(spec, "x")
    assert last is not None and (last.value, last.index) == ("2", 4)


@pytest.mark.parametrize(("text", "seconds"), [("120h", 432000), ("1h30m", 5400), ("1.5h", 5400), ("0", 0), ("90s", 90)])
def test_go_durations(text: str, seconds: float) -> None:
    assert go_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["5d", "1w", "", "h", "10"])
def test_go_durations_refuse_what_alertmanager_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        go_duration_s(text)


# --- Prometheus TSDB retention -------------------------------------------------------------


@pytest.mark.parametrize(("argv", "hours", "flag"), [
    (["--storage.tsdb.retention.time=30d"], 720, "storage.tsdb.retention.time"),
    ([], 360, None),                                                            # the 15d default
    (["--storage.tsdb.retention=10d"], 240, "storage.tsdb.retention"),           # deprecated, still read
    (["--storage.tsdb.retention=10d", "--storage.tsdb.retention.time=2d"], 48, "storage.tsdb.retention.time"),
    (["--storage.tsdb.retention.time=0s"], 360, None),                          # 0 and no size: the default
    (["--storage.tsdb.retention.size=0"], 360, None),                           # a zero size is no size
])
def test_tsdb_retention_as_prometheus_resolves_its_flags(tmp_path: Path, argv: list[str], hours: float, flag: str | None) -> None:
    retention = tsdb_retention(command(tmp_path, *argv).services["prometheus"])
    assert retention.seconds == hours * 3600
    assert (retention.time_flag if retention.time else None) == flag


def test_a_size_cap_alone_promises_no_time(tmp_path: Path) -> None:
    compose = command(tmp_path, "--config.file=/p.yml", "--storage.tsdb.retention.size=10GB")
    retention = tsdb_retention(compose.services["prometheus"])
    assert retention.seconds is None
    measured = limits.metrics_retention(compose.doc, retention)
    assert measured.value == 0 and "--storage.tsdb.retention.size=10GB: the size cap alone decides" in measured.arithmetic


def test_metrics_retention_cites_the_argument_that_sets_it(tmp_path: Path) -> None:
    compose = command(tmp_path, "--config.file=/p.yml", "--storage.tsdb.retention.time=2d", "--storage.tsdb.retention.size=5GB")
    measured = limits.metrics_retention(compose.doc, tsdb_retention(compose.services["prometheus"]))
    assert (measured.key, measured.value) == ("services.prometheus.command[1]", 48)
    assert compose.doc.line(measured.key) == 4
    assert measured.arithmetic.endswith("=2d and --storage.tsdb.retention.size=5GB = 48 h (the size cap may delete earlier)")
    assert POLICY.target("metrics_retention_h").judge(48) is Judgement.MISSED


def test_running_retention_is_resolved_from_the_flags_prometheus_reports() -> None:
    """Recorded: every flag reported, unset ones as 0s / 0B; here a size cap alone, which promises no time."""
    flags = json.loads((ROOT / "tests/unit/fixtures/prometheus/status-flags-size-only.json").read_text())["data"]
    retention = running_tsdb_retention(flags)
    assert retention.seconds is None and retention.size is not None and retention.size.index is None
    measured = limits.running_metrics_retention(retention, "prom/prometheus:v2.48.1")
    assert measured.value == 0
    assert measured.arithmetic.startswith("GET /api/v1/status/flags of prom/prometheus:v2.48.1: no time limit and "
                                          "--storage.tsdb.retention.size=5GiB: the size cap alone decides")
    unset = running_tsdb_retention({**flags, "storage.tsdb.retention.size": "0B"})
    assert unset.seconds == 15 * 86400 and unset.time is None
    given = running_tsdb_retention({**flags, "storage.tsdb.retention.time": "30d"})
    assert limits.running_metrics_retention(given, "p").arithmetic.endswith(
        "--storage.tsdb.retention.time=30d and --storage.tsdb.retention.size=5GiB = 720 h (the size cap may delete earlier)")


# --- Alertmanager state retention --------------------------------------------------------


def test_alertmanager_retention_defaults_to_120h_and_reads_the_flag(tmp_path: Path) -> None:
    image = "alertmanager:\n  image: prom/alertmanager:v0.26.0\n"
    bare = project(tmp_path, image + "  command: [--storage.path=/a]\n")
    default = data_retention(bare.services["alertmanager"])
    assert default.seconds == 120 * 3600 and default.flag is None
    measured = limits.alert_state_retention(bare.doc, default)
    assert measured.key == "services.alertmanager.command"
    assert "(not given: Alertmanager's default) = 120 h" in measured.arithmetic
    short = project(tmp_path, image + "  command: [--storage.path=/a, --data.retention=1h]\n")
    measured = limits.alert_state_retention(short.doc, data_retention(short.services["alertmanager"]))
    assert (measured.key, measured.value) == ("services.alertmanager.command[1]", 1)


ROUTES = YamlDoc.parse(textwrap.dedent("""\
    route:
      receiver: a
      routes:
        - receiver: b
          repeat_interval: 1h
        - receiver: c
          routes:
            - receiver: d
              repeat_interval: 7d
    """), "alertmanager.yml")


def test_repeat_intervals_are_every_one_set_and_the_roots_default() -> None:
    assert repeat_intervals(ROUTES) == [("route", 4 * 3600), ("route.routes[0].repeat_interval", 3600),
                                        ("route.routes[1].routes[0].repeat_interval", 7 * 86400)]


def test_a_repeat_interval_beyond_the_retention_is_flagged_where_it_is_set(tmp_path: Path) -> None:
    compose = project(tmp_path, "alertmanager:\n  image: prom/alertmanager:v0.26.0\n  command: [--data.retention=120h]\n")
    retention = data_retention(compose.services["alertmanager"])
    findings = limits.repeats_within_retention(compose.doc, retention, ROUTES)
    assert [(f.key, f.line) for f in findings] == [("route.routes[1].routes[0].repeat_interval", 9)]
    assert "repeat_interval 168 h is longer than --data.retention=120h" in findings[0].problem
    assert "services.alertmanager.command[0]" in findings[0].problem and "raise --data.retention above 168 h" in findings[0].fix


def test_a_retention_the_program_refuses_is_the_checks_finding(tmp_path: Path) -> None:
    compose = project(tmp_path, "alertmanager:\n  image: prom/alertmanager:v0.26.0\n  command: [--data.retention=5d]\n")
    with pytest.raises(ConfigUnreadable) as raised:
        limits.alertmanager_retention(compose.doc, compose.services["alertmanager"])
    finding = raised.value.finding
    assert (finding.key, finding.line) == ("services.alertmanager.command", 4)
    assert "not a Go duration: '5d'" in finding.problem and "Alertmanager refuses to start" in finding.problem
    compose = command(tmp_path, "--storage.tsdb.retention.time=30 days")
    with pytest.raises(ConfigUnreadable) as raised:
        limits.prometheus_retention(compose.doc, compose.services["prometheus"])
    assert "not a Prometheus duration: '30 days'" in raised.value.finding.problem


# --- memory limits -------------------------------------------------------------------------


def test_every_service_needs_a_memory_limit_cited_where_it_belongs(tmp_path: Path) -> None:
    compose = project(tmp_path, """\
        a:
          image: busybox
          deploy: {resources: {limits: {memory: 1g}}}
        b:
          image: busybox
        c:
          image: busybox
          mem_limit: 512m
        """)
    findings = limits.memory_limits(compose.doc, compose.services)
    assert [f.key for f in findings] == ["services.b.deploy.resources.limits.memory"]
    assert findings[0].line == 5 and "b has no memory limit" in findings[0].problem
    assert limits.memory_key(compose.doc, "c") == "services.c.mem_limit"


def test_the_limits_sum_shows_each_service_and_leaves_out_the_unlimited(tmp_path: Path) -> None:
    compose = project(tmp_path, "a: {image: busybox, mem_limit: 3g}\nb: {image: busybox, mem_limit: 1536m}\nc: {image: x}\n")
    measured = limits.memory_budget(compose.services)
    assert measured.value == 4.5 * GIB
    assert "a 3 GiB + b 1.5 GiB = 4.5 GiB (4,831,838,208 B) (no limit, not counted: c)" in measured.arithmetic
    assert POLICY.target("stack_memory_limit_bytes").judge(measured.value) is Judgement.MISSED
    assert POLICY.target("stack_memory_limit_bytes").judge(4 * GIB) is Judgement.MET


# --- Loki query horizon --------------------------------------------------------------------


def horizon(limits_config: str) -> list[str]:
    doc = YamlDoc.parse("limits_config:\n" + textwrap.indent(textwrap.dedent(limits_config), "  "), "loki.yml")
    return [f"{f.key}: {f.problem} (fix: {f.fix})" for f in loki.query_horizon(doc, POLICY.target("retention_h"))]


def test_query_horizon_of_todays_loki_reaches_its_retention() -> None:
    doc = YamlDoc.load(ROOT / "stack" / "loki" / "loki.yml", "loki.yml")
    assert loki.query_horizon(doc, POLICY.target("retention_h")) == []


def test_lookback_shorter_than_the_policy_is_flagged() -> None:
    [found] = horizon("retention_period: 720h\nmax_query_lookback: 168h\nmax_query_length: 721h\n")
    assert found.startswith("limits_config.max_query_lookback: max_query_lookback 168h = 168 h < target retention_h 720 h")
    assert found.endswith("(fix: set limits_config.max_query_lookback >= 720h (or 0 for no limit))")


def test_horizon_must_reach_a_configured_retention_longer_than_the_policy() -> None:
    [found] = horizon("retention_period: 2160h\n")       # 90 days kept; lookback 0 (no limit), length 721h by default
    assert "max_query_length 721h (not set: Loki's default) = 721 h < retention_period 2160h = 2,160 h" in found


def test_loki_2_store_lookback_counts_too() -> None:
    doc = YamlDoc.parse("limits_config: {retention_period: 720h}\nchunk_store_config: {max_look_back_period: 336h}\n", "l.yml")
    [found] = loki.query_horizon(doc, POLICY.target("retention_h"))
    assert found.key == "chunk_store_config.max_look_back_period"
    assert "max_look_back_period 336h = 336 h < target" in found.problem


def test_zero_disables_a_horizon_limit() -> None:
    assert horizon("retention_period: 720h\nmax_query_lookback: 0s\nmax_query_length: 0\n") == []
