"""gate.yml loading: every malformed policy is one InputError naming file, key and fix."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsgate.core.errors import InputError
from obsgate.core.policy import SaturationSettings, Target, format_number, load_policy
from obsgate.core.results import Judgement

FIXTURE = Path(__file__).parent / "fixtures" / "policy.yml"
REPO_POLICY = Path(__file__).resolve().parents[2] / "gate.yml"


def base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(FIXTURE.read_text())
    return data


def write(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "gate.yml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def expect_error(path: Path, key: str) -> InputError:
    with pytest.raises(InputError) as caught:
        load_policy(path)
    error = caught.value
    assert error.file == str(path)
    assert error.key == key
    assert str(path) in str(error) and key in str(error) and "fix:" in str(error)
    assert error.fix
    return error


def test_fixture_policy_loads() -> None:
    policy = load_policy(FIXTURE)
    assert policy.pass_threshold == 80 and policy.warn_threshold == 60
    assert sum(c.weight for c in policy.categories.values() if not c.advisory) == 100
    assert policy.categories["Upgrade readiness"].advisory
    assert policy.blockers == ("test_loki_is_ready", "test_nginx_is_ready")
    assert policy.target("freshness_p95_s").description == "push-to-queryable latency, p95"
    assert policy.target("avg_line_bytes").warn is None


def test_repository_gate_yml_is_valid() -> None:
    policy = load_policy(REPO_POLICY)
    assert policy.warn_threshold < policy.pass_threshold
    assert set(load_policy(FIXTURE).targets) <= set(policy.targets)


def mutate(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(base())
    change(data)
    return data


def _del(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(data: dict[str, Any]) -> None:
        for p in parents:
            data = data[p]
        del data[last]
    return change


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def change(data: dict[str, Any]) -> None:
        for p in parents:
            data = data[p]
        data[last] = value
    return change


CASES = {
    # name: (change, key the error must name)
    "unknown top-level key": (_set("treshold", 1), "treshold"),
    "schema_version missing": (_del("schema_version"), "schema_version"),
    "schema_version not 1": (_set("schema_version", 2), "schema_version"),
    "schema_version a string": (_set("schema_version", "1"), "schema_version"),
    "thresholds missing": (_del("thresholds"), "thresholds"),
    "pass threshold missing": (_del("thresholds.pass"), "thresholds.pass"),
    "warn threshold missing": (_del("thresholds.warn"), "thresholds.warn"),
    "threshold not a number": (_set("thresholds.pass", "eighty"), "thresholds.pass"),
    "pass above 100": (_set("thresholds.pass", 120), "thresholds.pass"),
    "warn equal to pass": (_set("thresholds.warn", 80), "thresholds.warn"),
    "warn above pass": (_set("thresholds.warn", 90), "thresholds.warn"),
    "warn negative": (_set("thresholds.warn", -1), "thresholds.warn"),
    "unknown threshold": (_set("thresholds.fail", 10), "thresholds.fail"),
    "categories missing": (_del("categories"), "categories"),
    "weights sum to 95": (_set("categories.Security.weight", 20), "categories"),
    "weight missing": (_del("categories.Security.weight"), "categories.Security.weight"),
    "weight negative": (_set("categories.Security.weight", -25), "categories.Security.weight"),
    "weight not a number": (_set("categories.Security.weight", True),
                            "categories.Security.weight"),
    "advisory with weight": (_set("categories.Upgrade readiness.weight", 5),
                             "categories.Upgrade readiness.weight"),
    "advisory not a bool": (_set("categories.Security.advisory", "yes"),
                            "categories.Security.advisory"),
    "unknown category key": (_set("categories.Security.wieght", 1), "categories.Security.wieght"),
    "category not a mapping": (_set("categories.Security", 25), "categories.Security"),
    "blockers not a list": (_set("blockers", "test_loki_is_ready"), "blockers"),
    "blocker duplicated": (_set("blockers", ["test_a", "test_a"]), "blockers[1]"),
    "blocker not a name": (_set("blockers", ["test_a", 3]), "blockers[1]"),
    "targets not a mapping": (_set("targets", ["x"]), "targets"),
    "target not a mapping": (_set("targets.retention_h", 720), "targets.retention_h"),
    "target missing value": (_del("targets.retention_h.value"), "targets.retention_h.value"),
    "target missing better": (_del("targets.retention_h.better"), "targets.retention_h.better"),
    "target missing unit": (_del("targets.retention_h.unit"), "targets.retention_h.unit"),
    "target missing description": (_del("targets.retention_h.description"),
                                   "targets.retention_h.description"),
    "target value not a number": (_set("targets.retention_h.value", "720h"),
                                  "targets.retention_h.value"),
    "target bad better": (_set("targets.retention_h.better", "more"),
                          "targets.retention_h.better"),
    "target unit not a string": (_set("targets.retention_h.unit", 3), "targets.retention_h.unit"),
    "target unknown field": (_set("targets.retention_h.target", 3), "targets.retention_h.target"),
    "warn above value for higher": (_set("targets.ingest_lines_per_s.warn", 12000),
                                    "targets.ingest_lines_per_s.warn"),
    "warn equal to value": (_set("targets.ingest_lines_per_s.warn", 10000),
                            "targets.ingest_lines_per_s.warn"),
    "warn below value for lower": (_set("targets.query_latency_s.warn", 0.5),
                                   "targets.query_latency_s.warn"),
    "load not a mapping": (_set("load", [15, 60]), "load"),
    "load empty": (_set("load", {}), "load"),
    "load unknown key": (_set("load.ramp_seconds", 15), "load.ramp_seconds"),
    "load setting missing": (_del("load.steady_s"), "load.steady_s"),
    "load duration zero": (_set("load.ramp_s", 0), "load.ramp_s"),
    "load duration negative": (_set("load.steady_s", -60), "load.steady_s"),
    "load duration a string": (_set("load.steady_s", "60s"), "load.steady_s"),
    "load duration a bool": (_set("load.query_interval_s", True), "load.query_interval_s"),
    "load query interval zero": (_set("load.query_interval_s", 0), "load.query_interval_s"),
    "load lines per push fractional": (_set("load.lines_per_push", 999.5), "load.lines_per_push"),
    "load lines per push zero": (_set("load.lines_per_push", 0), "load.lines_per_push"),
    "load as an old target": (_set("load.ramp_s", {"value": 15, "unit": "s"}), "load.ramp_s"),
    "saturation missing": (_del("load.saturation"), "load.saturation"),
    "saturation not a mapping": (_set("load.saturation", 5000), "load.saturation"),
    "saturation unknown key": (_set("load.saturation.stop_lines_per_s", 1), "load.saturation.stop_lines_per_s"),
    "saturation setting missing": (_del("load.saturation.step_s"), "load.saturation.step_s"),
    "saturation step zero": (_set("load.saturation.step_lines_per_s", 0), "load.saturation.step_lines_per_s"),
    "saturation step_s negative": (_set("load.saturation.step_s", -20), "load.saturation.step_s"),
    "saturation max below start": (_set("load.saturation.max_lines_per_s", 1000), "load.saturation.max_lines_per_s"),
    "processes zero": (_set("load.processes", 0), "load.processes"),
    "processes fractional": (_set("load.processes", 1.5), "load.processes"),
    "expect_workers negative": (_set("load.expect_workers", -1), "load.expect_workers"),
    "workers deadline zero": (_set("load.workers_deadline_s", 0), "load.workers_deadline_s"),
    "soak_s negative": (_set("load.soak_s", -600), "load.soak_s"),
}


@pytest.mark.parametrize(("change", "key"), CASES.values(), ids=CASES.keys())
def test_malformed_policy_names_file_and_key(
        tmp_path: Path, change: Callable[[dict[str, Any]], None], key: str) -> None:
    expect_error(write(tmp_path, mutate(change)), key)


def test_weights_error_lists_the_weights(tmp_path: Path) -> None:
    error = expect_error(write(tmp_path, mutate(_set("categories.Security.weight", 20))),
                         "categories")
    assert "sum to 95" in error.problem and "Security 20" in error.problem


def test_warn_on_wrong_side_says_which_side(tmp_path: Path) -> None:
    error = expect_error(write(tmp_path, mutate(_set("targets.query_latency_s.warn", 0.5))),
                         "targets.query_latency_s.warn")
    assert "wrong side" in error.problem and "above" in error.fix


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "schema_version: 1\nthresholds:\n  pass: [80\n  warn: 60\n")
    with pytest.raises(InputError) as caught:
        load_policy(path)
    assert caught.value.file == str(path)
    assert (caught.value.key, caught.value.line, caught.value.column) == ("(document)", 4, 7)
    assert "invalid YAML" in caught.value.problem


def test_document_not_a_mapping(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "- schema_version\n- 1\n"), "(document)")


def test_empty_document(tmp_path: Path) -> None:
    expect_error(write(tmp_path, ""), "(document)")


def test_duplicate_category(tmp_path: Path) -> None:
    text = FIXTURE.read_text().replace(
        "  Security:\n", "  Performance:\n    weight: 1\n  Security:\n", 1)
    error = expect_error(write(tmp_path, text), "categories.Performance")
    assert "duplicate key 'Performance'" in error.problem
    lines = text.splitlines()
    assert error.line == 1 + lines.index("  Performance:", lines.index("  Performance:") + 1)


def test_duplicate_top_level_key(tmp_path: Path) -> None:
    expect_error(write(tmp_path, FIXTURE.read_text() + "\nblockers: []\n"), "blockers")


def test_unquoted_comma_in_flow_mapping_gets_a_hint(tmp_path: Path) -> None:
    text = FIXTURE.read_text().replace('"push-to-queryable latency, p95"',
                                       "push-to-queryable latency, p95")
    error = expect_error(write(tmp_path, text), "targets.freshness_p95_s.p95")
    assert "quote that value" in error.fix


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "gate.yml", "(file)")


def test_blockers_and_targets_are_optional(tmp_path: Path) -> None:
    def drop(data: dict[str, Any]) -> None:
        del data["blockers"], data["targets"]

    policy = load_policy(write(tmp_path, mutate(drop)))
    assert policy.blockers == () and policy.targets == {}


def test_load_settings_are_read_as_settings() -> None:
    load = load_policy(FIXTURE).load()
    assert (load.ramp_s, load.steady_s, load.lines_per_push, load.query_interval_s) == (15, 60, 1000, 2)
    assert isinstance(load.lines_per_push, int)
    assert load.saturation == SaturationSettings(5000, 5000, 60000, 20)
    # the generator settings are optional: one process, no remote workers, no soak
    assert (load.processes, load.expect_workers, load.workers_deadline_s, load.soak_s) == (1, 0, 60.0, None)


def test_repository_policy_sets_the_generators_and_the_soak() -> None:
    load = load_policy(REPO_POLICY).load()
    assert (load.processes, load.expect_workers, load.soak_s) == (1, 0, 600)
    assert isinstance(load.processes, int) and isinstance(load.expect_workers, int)


def test_repository_load_settings_are_not_targets() -> None:
    """gate.yml's targets are judged figures; the profile's settings live under load: only."""
    policy = load_policy(REPO_POLICY)
    assert policy.load().saturation.max_lines_per_s >= policy.load().saturation.start_lines_per_s
    settings = [k for k, t in policy.targets.items() if "(a setting" in t.description]
    assert settings == [] and not any(k.startswith(("load_ramp", "load_steady", "saturation_st", "saturation_max"))
                                      for k in policy.targets)


def test_load_error_says_what_the_setting_is(tmp_path: Path) -> None:
    error = expect_error(write(tmp_path, mutate(_set("load.steady_s", 0))), "load.steady_s")
    assert "must be > 0, got 0" in error.problem and "seconds measured at the target rate" in error.fix
    error = expect_error(write(tmp_path, mutate(_set("load.saturation.max_lines_per_s", 1000))),
                         "load.saturation.max_lines_per_s")
    assert "below start 5,000" in error.problem


def test_load_is_optional_until_a_load_check_asks(tmp_path: Path) -> None:
    path = write(tmp_path, mutate(_del("load")))
    policy = load_policy(path)
    assert policy.load_settings is None
    with pytest.raises(InputError) as caught:
        policy.load()
    assert caught.value.file == str(path) and caught.value.key == "load"
    assert "load: {ramp_s:" in caught.value.fix


def test_asking_for_a_missing_target_names_it(tmp_path: Path) -> None:
    policy = load_policy(FIXTURE)
    with pytest.raises(InputError) as caught:
        policy.target("p99_latency_s")
    assert caught.value.file == str(FIXTURE)
    assert caught.value.key == "targets.p99_latency_s"
    assert "a target missing" in caught.value.problem


def test_unknown_category_is_an_input_error() -> None:
    policy = load_policy(FIXTURE)
    assert policy.category("Security").weight == 25
    with pytest.raises(InputError) as caught:
        policy.category("Securty")
    assert caught.value.key == "categories.Securty"
    assert "Security" in caught.value.fix


def test_check_blockers_against_collected_checks() -> None:
    policy = load_policy(FIXTURE)
    policy.check_blockers({"test_loki_is_ready", "test_nginx_is_ready", "test_other"})
    policy.check_blockers({"test_loki_is_ready[tls]", "test_nginx_is_ready"})  # parametrized
    with pytest.raises(InputError) as caught:
        policy.check_blockers({"test_loki_is_ready"})
    assert caught.value.file == str(FIXTURE)
    assert caught.value.key == "blockers[1]"
    assert "test_nginx_is_ready" in caught.value.problem


HIGHER = Target("ingest_lines_per_s", 10000, 8000, "higher", "lines/s", "")
LOWER = Target("query_latency_s", 1.0, 1.5, "lower", "s", "")
NO_WARN = Target("retention_h", 720, None, "higher", "h", "")


@pytest.mark.parametrize(("target", "measured", "judgement"), [
    (HIGHER, 10000, Judgement.MET), (HIGHER, 12000, Judgement.MET),
    (HIGHER, 9999.9, Judgement.SOFT), (HIGHER, 8000, Judgement.SOFT),
    (HIGHER, 7999, Judgement.MISSED), (HIGHER, math.nan, Judgement.MISSED),
    (LOWER, 1.0, Judgement.MET), (LOWER, 0.2, Judgement.MET), (LOWER, 1.2, Judgement.SOFT),
    (LOWER, 1.5, Judgement.SOFT), (LOWER, 1.51, Judgement.MISSED),
    (NO_WARN, 720, Judgement.MET), (NO_WARN, 719, Judgement.MISSED),
])
def test_target_judge(target: Target, measured: float, judgement: Judgement) -> None:
    assert target.judge(measured) is judgement


@pytest.mark.parametrize(("target", "measured", "text"), [
    (HIGHER, 8200, "8,200 lines/s < target 10,000 lines/s (soft-miss band >= 8,000)"),
    (HIGHER, 10500, "10,500 lines/s >= target 10,000 lines/s"),
    (HIGHER, 7000, "7,000 lines/s < target 10,000 lines/s (outside soft-miss band >= 8,000)"),
    (LOWER, 1.2, "1.2 s > target 1 s (soft-miss band <= 1.5)"),
    (LOWER, 0.25, "0.25 s <= target 1 s"),
    (NO_WARN, 700, "700 h < target 720 h"),
])
def test_target_explain(target: Target, measured: float, text: str) -> None:
    assert target.explain(measured) == text


@pytest.mark.parametrize(("value", "text"), [
    (10000.0, "10,000"), (0.015, "0.015"), (1.5, "1.5"), (123456.78, "123,456.8"),
    (2_500_000.0, "2,500,000"),
])
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text
