"""The plugin's rules, run in throwaway pytest projects (pytester); no container starts.

Each project has a one-service compose file and a small policy, and gate checks that
pass, fail, skip or xfail on their own, so outcomes, exit codes and reports can be asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ("pytester",)

POLICY = """\
schema_version: 1
thresholds: {pass: 80, warn: 60}
categories:
  Functionality: {weight: 60}
  Security: {weight: 40}
blockers: [test_blocker]
targets:
  latency_s: {value: 1.0, warn: 2.0, better: lower, unit: s, description: query latency}
"""
COMPOSE = "services:\n  app:\n    image: obsgate-unit/never-started:1\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yml", gate=POLICY)
    (pytester.path / "stack").mkdir()
    (pytester.path / "stack" / "docker-compose.yml").write_text(COMPOSE)
    (pytester.path / "tests" / "integration").mkdir(parents=True)
    return pytester


def checks(pytester: pytest.Pytester, body: str) -> None:
    header = "import pytest\nfrom obsgate.core.errors import NotEvaluated\n"
    (pytester.path / "tests" / "integration" / "test_checks.py").write_text(header + body)


def gate_json(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports" / "latest" / "gate.json").read_text())


def outcomes(pytester: pytest.Pytester) -> dict[str, str]:
    return {c["check_id"]: c["outcome"] for c in gate_json(pytester)["checks"]}


PASSING = """
@pytest.mark.gate(category="Functionality", weight=5)
def test_blocker():
    pass

@pytest.mark.gate(category="Security", weight=5)
def test_secure():
    pass
"""


def test_gate_mode_exits_zero_on_pass(project: pytest.Pytester) -> None:
    checks(project, PASSING)
    result = project.runpytest_subprocess("-m", "gate")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*obs-gate verdict: PASS*"])


def test_gate_check_without_marker_is_a_collection_error(project: pytest.Pytester) -> None:
    checks(project, PASSING + "\ndef test_unmarked():\n    pass\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_unmarked*without @pytest.mark.gate*"])


def test_unknown_category_is_a_collection_error(project: pytest.Pytester) -> None:
    checks(project, PASSING + '\n@pytest.mark.gate(category="Vibes", weight=1)\ndef test_x():\n    pass\n')
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x*unknown category 'Vibes'*"])


def test_missing_weight_is_a_collection_error(project: pytest.Pytester) -> None:
    checks(project, PASSING + '\n@pytest.mark.gate(category="Security")\ndef test_x():\n    pass\n')
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_x*weight must be a positive number*"])


def test_blocker_naming_no_check_stops_the_run(project: pytest.Pytester) -> None:
    checks(project, PASSING.replace("def test_blocker", "def test_renamed"))
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gate.yml*blockers*test_blocker*"])


def test_skip_and_xfail_are_not_evaluated_and_fail_the_gate(project: pytest.Pytester) -> None:
    checks(project, PASSING + """
@pytest.mark.gate(category="Security", weight=5)
def test_skipped():
    pytest.skip("no browser")

@pytest.mark.gate(category="Security", weight=5)
@pytest.mark.xfail(reason="known broken")
def test_xfailed():
    assert False
""")
    result = project.runpytest_subprocess("-m", "gate")
    assert outcomes(project) == {"test_blocker": "passed", "test_secure": "passed",
                                 "test_skipped": "not_evaluated", "test_xfailed": "not_evaluated"}
    assert result.ret != 0   # Security 1/3 evaluated: 60 + 40/3 = 73.3 -> CONDITIONAL PASS, not PASS


def test_not_evaluated_exception_becomes_not_evaluated_with_reason(project: pytest.Pytester) -> None:
    checks(project, PASSING + """
@pytest.mark.gate(category="Security", weight=5)
def test_needs_grafana():
    raise NotEvaluated("grafana: image unavailable")
""")
    result = project.runpytest_subprocess()
    assert result.ret == 0          # self-test mode: exit on test outcomes, a skip is not a failure
    check = next(c for c in gate_json(project)["checks"] if c["check_id"] == "test_needs_grafana")
    assert check["outcome"] == "not_evaluated"
    assert "grafana: image unavailable" in check["reason"]


def test_blocker_failure_fails_the_gate_even_with_high_total(project: pytest.Pytester) -> None:
    checks(project, PASSING.replace("    pass\n", "    assert 1 == 2, 'loki not ready'\n", 1))
    result = project.runpytest_subprocess("-m", "gate")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*obs-gate verdict: FAIL*test_blocker*"])


def test_measurement_in_warning_band_is_a_soft_miss(project: pytest.Pytester) -> None:
    checks(project, PASSING + """
@pytest.mark.gate(category="Security", weight=5)
def test_fast_enough(gate):
    gate.measure("latency_s", 1.5)
""")
    project.runpytest_subprocess()
    check = next(c for c in gate_json(project)["checks"] if c["check_id"] == "test_fast_enough")
    assert check["outcome"] == "soft_miss"
    assert check["measurements"][0]["value"] == 1.5


def test_measurement_beyond_warning_fails_with_the_arithmetic(project: pytest.Pytester) -> None:
    checks(project, PASSING + """
@pytest.mark.gate(category="Security", weight=5)
def test_fast_enough(gate):
    gate.measure("latency_s", 3.0)
""")
    project.runpytest_subprocess()
    check = next(c for c in gate_json(project)["checks"] if c["check_id"] == "test_fast_enough")
    assert check["outcome"] == "failed"
    assert "latency_s" in check["reason"] and "1" in check["reason"]


def test_unknown_target_fails_the_check_naming_the_policy_key(project: pytest.Pytester) -> None:
    checks(project, PASSING + """
@pytest.mark.gate(category="Security", weight=5)
def test_uses_missing_target(gate):
    gate.measure("no_such_target", 1)
""")
    project.runpytest_subprocess()
    check = next(c for c in gate_json(project)["checks"] if c["check_id"] == "test_uses_missing_target")
    assert check["outcome"] == "failed"
    assert "targets.no_such_target" in check["reason"]


def test_malformed_compose_stops_the_run_before_tests(project: pytest.Pytester) -> None:
    checks(project, PASSING)
    (project.path / "stack" / "docker-compose.yml").write_text("services:\n  app:\n    build: .\n")
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*docker-compose.yml: services.app.build: compose key not supported*"])


def test_malformed_policy_stops_the_run_before_tests(project: pytest.Pytester) -> None:
    checks(project, PASSING)
    (project.path / "gate.yml").write_text(POLICY.replace("weight: 40", "weight: 30"))
    result = project.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gate.yml*"])


def test_no_gate_checks_means_no_report(project: pytest.Pytester) -> None:
    (project.path / "tests" / "unit").mkdir()
    (project.path / "tests" / "unit" / "test_u.py").write_text("def test_u():\n    pass\n")
    project.runpytest_subprocess("tests/unit")
    assert not (project.path / "reports" / "latest").exists()


def test_reports_written_and_secrets_absent(project: pytest.Pytester) -> None:
    checks(project, PASSING + """
@pytest.mark.gate(category="Security", weight=5)
def test_leaky(run_secrets, gate):
    gate.evidence["oops"] = run_secrets.grafana_admin_password
    assert False, "password was " + run_secrets.read.password
""")
    project.runpytest_subprocess()
    run_dir = (project.path / "reports" / "latest").resolve()
    names = {p.name for p in run_dir.iterdir()}
    assert {"gate.json", "summary.md", "report.html", "junit.xml"} <= names
    text = "".join(p.read_text(errors="replace") for p in run_dir.iterdir() if p.is_file())
    assert "password was ***" in text
    assert Path(project.path / "reports" / "history.jsonl").is_file()


def test_not_evaluated_checks_are_counted_as_such_and_keep_the_raw_error_once(project: pytest.Pytester) -> None:
    raw = "500 Server Error: dial tcp: lookup registry-1.docker.io: no such host"
    checks(project, PASSING + f"""
from obsgate.bringup.images import unavailable

@pytest.mark.gate(category="Security", weight=5)
@pytest.mark.parametrize("n", range(3))
def test_needs_app(n):
    cause = unavailable("app", "obsgate-unit/never-started:1", {raw!r})
    raise NotEvaluated(f"app: image unavailable: {{cause.text}}", cause)
""")
    result = project.runpytest_subprocess()
    result.stdout.fnmatch_lines([
        "*3 checks (app): obsgate-unit/never-started:1 not present locally and no registry reachable"
        " — pass --image app=REF",
        "*2 passed, 3 not evaluated in*"])
    assert "SKIPPED" not in result.stdout.str()   # no per-check skip lines: the causes above say it once
    document = gate_json(project)
    reasons = {c["reason"] for c in document["checks"] if c["outcome"] == "not_evaluated"}
    assert reasons == {"app: image unavailable: obsgate-unit/never-started:1 not present locally and no registry reachable"}
    assert [(c["count"], c["detail"]) for c in document["not_evaluated_causes"]] == [(3, raw)]
    junit = (project.path / "reports" / "latest" / "junit.xml").read_text()
    assert raw not in junit and "no registry reachable" in junit


def test_compose_file_elsewhere_keeps_the_project_rootdir(project: pytest.Pytester,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    """pytest picks the rootdir before plugins load, taking --compose's value for a test path."""
    checks(project, PASSING)
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "docker-compose.yml"
    elsewhere.write_text(COMPOSE)
    result = project.runpytest_subprocess("-m", "gate", "--compose", str(elsewhere))
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([f"rootdir: {project.path}", "*obs-gate verdict: PASS*"])
    assert gate_json(project)["metadata"]["compose_file"] == str(elsewhere)


def test_compose_elsewhere_without_a_policy_names_the_option(pytester: pytest.Pytester,
                                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "docker-compose.yml"
    elsewhere.write_text(COMPOSE)
    result = pytester.runpytest_subprocess("--compose", str(elsewhere))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*no gate policy: {pytester.path / 'gate.yml'} does not exist (pass --policy FILE)*"])


def test_plugin_is_inert_in_a_project_without_a_gate(pytester: pytest.Pytester) -> None:
    """Installed plugins load in every pytest run: another project must not notice this one."""
    pytester.makepyfile(test_other="""
        import pytest

        @pytest.fixture(params=["a", "b"])
        def candidate(request):
            return request.param

        @pytest.mark.gate
        def test_uses_its_own_candidate(candidate):
            assert candidate in ("a", "b")

        def test_has_no_gate_fixtures(request):
            for name in ("stack", "gate_run", "gate"):
                with pytest.raises(pytest.FixtureLookupError):
                    request.getfixturevalue(name)

        def test_skips_as_usual():
            pytest.skip("not here")
    """)
    result = pytester.runpytest_subprocess("-m", "gate or not gate", "-W", "error::pytest.PytestUnknownMarkWarning")
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=3, skipped=1)
    assert "obs-gate verdict" not in result.stdout.str() and not (pytester.path / "reports").exists()


def test_inert_plugin_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    """Every pytest run of the environment imports the plugin: it must cost no docker, httpx, crypto..."""
    pytester.makepyfile(test_other="""
        import sys

        HEAVY = ("docker", "testcontainers", "httpx", "cryptography", "bcrypt", "jsonschema", "yaml",
                 "obsgate.gate.hooks", "obsgate.run")

        def test_plugin_loaded_but_nothing_heavy(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("obsgate")
            assert [m for m in HEAVY if m in sys.modules] == []
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


# --- the log tails of the services a failing check used (obsgate.gate.evidence) -------------------------------
# The services are fakes with a ``name`` and a ``log_tail``, as ServiceHandle has.

EVIDENCE_CONFTEST = """
import pytest

class Service:
    def __init__(self, name, secret=""):
        self.name, self.secret = name, secret

    def log_tail(self, tail=60):
        return f"--- last {tail} log lines of {self.name} ---\\n{self.name} log line, password {self.secret}"

class Door:
    def __init__(self, handle):
        self.handle = handle

@pytest.fixture
def loki(run_secrets):
    return Service("loki", run_secrets.read.password)

@pytest.fixture
def logs(loki):
    return object()

@pytest.fixture
def door():
    return Door(Service("nginx"))
"""
EVIDENCE_CHECKS = """
@pytest.mark.gate(category="Functionality", weight=1)
def test_fails_with_logs(logs, door, gate):
    assert False, "nothing came back"

@pytest.mark.gate(category="Functionality", weight=1)
def test_fails_without_recorder(loki):
    assert False, "no gate fixture"

@pytest.mark.gate(category="Functionality", weight=1)
def test_passes(loki, gate):
    pass

@pytest.mark.gate(category="Functionality", weight=1)
def test_not_evaluated(loki, gate):
    raise NotEvaluated("loki: cannot run here")

@pytest.mark.gate(category="Functionality", weight=1)
def test_carries_its_own_excerpt(loki, door, gate):
    assert False, loki.log_tail(5)
"""


@pytest.fixture
def evidence_run(project: pytest.Pytester) -> tuple[pytest.RunResult, dict[str, dict]]:
    (project.path / "tests" / "integration" / "conftest.py").write_text(EVIDENCE_CONFTEST)
    checks(project, PASSING + EVIDENCE_CHECKS)
    result = project.runpytest_subprocess()
    return result, {c["check_id"]: c for c in gate_json(project)["checks"]}


def test_a_failing_check_shows_the_tails_of_the_services_it_used(
        evidence_run: tuple[pytest.RunResult, dict[str, dict]]) -> None:
    result, checks = evidence_run
    assert checks["test_fails_with_logs"]["evidence"]["log_tails"] == {
        "loki": "--- last 20 log lines of loki ---\nloki log line, password ***",
        "nginx": "--- last 20 log lines of nginx ---\nnginx log line, password "}
    result.stdout.fnmatch_lines(["*_ test_fails_with_logs _*", "E * AssertionError: nothing came back",
                                 "*- obs-gate: log tails of nginx, loki -*", "--- last 20 log lines of nginx ---",
                                 "nginx log line, password*", "--- last 20 log lines of loki ---",
                                 "loki log line, password ***", "*_ test_fails_without_recorder _*"])
    assert checks["test_fails_without_recorder"]["evidence"]["log_tails"].keys() == {"loki"}


def test_a_passing_or_not_evaluated_check_gets_no_tails(evidence_run: tuple[pytest.RunResult, dict[str, dict]]) -> None:
    result, checks = evidence_run
    assert (checks["test_passes"]["outcome"], checks["test_not_evaluated"]["outcome"]) == ("passed", "not_evaluated")
    assert "log_tails" not in checks["test_passes"]["evidence"] and "log_tails" not in checks["test_not_evaluated"]["evidence"]
    assert result.stdout.str().count("log tails of") == 3


def test_a_tail_the_failure_already_carries_is_not_shown_again(
        evidence_run: tuple[pytest.RunResult, dict[str, dict]]) -> None:
    result, checks = evidence_run
    assert checks["test_carries_its_own_excerpt"]["evidence"]["log_tails"].keys() == {"nginx"}
    assert result.stdout.str().count("last 20 log lines of loki ---") == 2     # the two checks above only


TARGET_ENV = {"OBSGATE_PUSH_USER": "pos-push", "OBSGATE_PUSH_PASSWORD": "p", "OBSGATE_READ_USER": "sre-read",
              "OBSGATE_READ_PASSWORD": "r"}


def test_target_run_states_its_target(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TARGET_ENV.items():
        monkeypatch.setenv(name, value)
    checks(project, PASSING)
    result = project.runpytest_subprocess("-m", "gate", "--target", "https://127.0.0.1:8443")
    result.assert_outcomes(passed=2)
    assert gate_json(project)["metadata"]["target"] == {"url": "https://127.0.0.1:8443", "external": True,
                                                        "ca_file": None, "verify": True, "load": False}
    assert "Judged: the external target https://127.0.0.1:8443" in (project.path / "reports" / "latest" /
                                                                     "summary.md").read_text()


@pytest.mark.parametrize(("args", "unset", "named"), [
    (["--target", "http://127.0.0.1:8080"], None, "--target-allow-http"),
    (["--target", "https://127.0.0.1:8443"], "OBSGATE_READ_PASSWORD", "OBSGATE_READ_PASSWORD"),
    (["--target-load"], None, "--target-load without --target"),
])
def test_bad_target_input_stops_the_run_naming_it(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                  args: list[str], unset: str | None, named: str) -> None:
    for name, value in TARGET_ENV.items():
        if name != unset:
            monkeypatch.setenv(name, value)
    if unset:
        monkeypatch.delenv(unset, raising=False)
    checks(project, PASSING)
    result = project.runpytest_subprocess("-m", "gate", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert named in result.stderr.str()
