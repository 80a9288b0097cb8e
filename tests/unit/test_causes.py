"""Why checks were not evaluated: a Cause built where the failure is known, grouped, never parsed back.

The Docker errors are what docker-py said on a machine without a registry, so the words and
fixes are tested on what a newcomer sees.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound

from obsgate.bringup.images import ImageChoice, resolve, unavailable
from obsgate.bringup.stack import Stack
from obsgate.core import causes
from obsgate.core.causes import Cause
from obsgate.core.errors import NotEvaluated
from obsgate.core.results import CheckResult, Outcome, cause_of, group_causes
from obsgate.core.text import one_line
from obsgate.gate.candidates import Candidate
from obsgate.run import GateRun
from obsgate.stackfiles.compose import ComposeProject, Dependency, ServiceSpec

PULL_ERROR = ('500 Server Error for http+docker://localhost/v1.41/images/create?tag=2.9.3&fromImage=grafana%2Floki: '
              'Internal Server Error ("Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.')
NO_REGISTRY = "grafana/loki:2.9.3 not present locally and no registry reachable"
BROWSER = "no headless browser here (Debian's chromium is not installed)"


class NoImages:
    """A Docker client without images or a registry: every image is missing, every pull fails with ``error``."""

    def __init__(self, error: str = PULL_ERROR) -> None:
        self.images, self.error = self, error

    def get(self, ref: str) -> None:
        raise ImageNotFound(f"No such image: {ref}")

    def pull(self, ref: str) -> None:
        raise APIError(self.error)


def not_evaluated(check_id: str, raised: NotEvaluated) -> CheckResult:
    """The result the plugin records for a check that raised ``raised``."""
    return CheckResult(check_id, f"tests/integration/test_x.py::{check_id}", "Functionality", 1,
                       Outcome.NOT_EVALUATED, reason=raised.reason, cause=raised.cause)


def raised_by(action: Any) -> NotEvaluated:
    with pytest.raises(NotEvaluated) as caught:
        action()
    return caught.value


def test_a_missing_image_is_one_cause_for_its_service_and_those_depending_on_it() -> None:
    services = {"loki": ServiceSpec("loki", "grafana/loki:2.9.3"),
                "grafana": ServiceSpec("grafana", "grafana/grafana:10.2.3", depends_on=(Dependency("loki"),)),
                "nginx": ServiceSpec("nginx", "nginx:1.25.3-alpine", depends_on=(Dependency("grafana"),))}
    client: Any = NoImages()
    images = resolve(client, {"loki": "grafana/loki:2.9.3"}, {}, "missing")
    images |= {name: ImageChoice(name, s.image, s.image, False, True) for name, s in services.items() if name != "loki"}
    stack = Stack(ComposeProject(Path("docker-compose.yml"), "mini", services, (), (), {}), "unit", images, client)
    stack.up()      # no network or volume to create: every service settles on its dependencies alone
    stack.halt()
    raised = {name: raised_by(stack[name].require) for name in services}
    assert raised["loki"].reason == f"loki: image unavailable: {NO_REGISTRY}"
    assert raised["grafana"].reason == f"grafana: depends on loki, which cannot run here (image unavailable: {NO_REGISTRY})"
    assert raised["nginx"].reason == ("nginx: depends on grafana, which cannot run here (depends on loki, which cannot run "
                                      f"here (image unavailable: {NO_REGISTRY}))")
    assert raised["loki"].cause == Cause("image:grafana/loki:2.9.3", NO_REGISTRY, "pass --image loki=REF", PULL_ERROR,
                                         ("loki",))
    groups = group_causes(not_evaluated(f"test_{name}_ready", exc) for name, exc in raised.items())
    assert [(g.count, g.cause.key, g.cause.services, g.cause.detail) for g in groups] == [
        (3, "image:grafana/loki:2.9.3", ("loki", "grafana", "nginx"), PULL_ERROR)]


def test_docker_unavailable_is_one_cause_keeping_docker_s_error_for_the_whole_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent.sock")
    run: Any = SimpleNamespace(_unavailable=None, _client=None)
    first, again = raised_by(lambda: GateRun.docker(run)), raised_by(lambda: GateRun.docker(run))
    assert first.reason == again.reason == "Docker engine unavailable"
    assert first.cause == again.cause == Cause(
        "docker", "Docker engine unavailable", "start Docker, or point DOCKER_HOST at a running engine",
        "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))")


def test_ryuk_unavailable_is_its_own_cause_with_the_way_round_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("obsgate.run.docker.from_env", lambda: SimpleNamespace(ping=lambda: True))

    def no_ryuk() -> None:
        raise OSError("pull access denied for testcontainers/ryuk\nmore")

    monkeypatch.setattr("obsgate.run.start_reaper", no_ryuk)
    cause = raised_by(lambda: GateRun.docker(SimpleNamespace(_unavailable=None, _client=None))).cause
    assert (cause.key, cause.detail) == ("ryuk", "pull access denied for testcontainers/ryuk")
    assert "TESTCONTAINERS_RYUK_DISABLED=true" in cause.hint


def test_a_candidate_that_cannot_be_had_names_the_candidate_option() -> None:
    run: Any = SimpleNamespace(project=SimpleNamespace(services={"loki": SimpleNamespace(image="grafana/loki:2.9.3")}),
                               docker=NoImages, options=SimpleNamespace(pull="never"))
    raised = raised_by(lambda: Candidate("loki", "grafana/loki:3.0.0").image(run))
    assert raised.reason == ("candidate loki=grafana/loki:3.0.0: image unavailable: grafana/loki:3.0.0 not present locally "
                             "(--pull never)")
    assert raised.cause == Cause("candidate:grafana/loki:3.0.0", "grafana/loki:3.0.0 not present locally (--pull never)",
                                 "pass --candidate loki=REF, or --pull missing to pull it", "", ("loki",))


@pytest.mark.parametrize(("error", "words", "hint"), [
    (PULL_ERROR, "and no registry reachable", "pass --image loki=REF"),
    ("manifest unknown: manifest unknown", "and not found in its registry", "check the reference, or pass --image loki=REF"),
    ("401 Client Error: unauthorized: authentication required", "and the registry refused the pull",
     "docker login to the registry, or pass --image loki=REF"),
    ("500 Server Error: disk full", "and could not be pulled", "pass --image loki=REF (the pull error is in gate.json)"),
])
def test_pull_errors_in_words_a_person_acts_on(error: str, words: str, hint: str) -> None:
    """Docker's pull error is read once, where the pull fails; the check's reason keeps only the words."""
    client: Any = NoImages(error)
    choice = resolve(client, {"loki": "grafana/loki:2.9.3"}, {}, "missing")["loki"]
    assert choice.cause == Cause("image:grafana/loki:2.9.3", f"grafana/loki:2.9.3 not present locally {words}", hint,
                                 error[:200], ("loki",))
    assert choice.reason == f"image unavailable: grafana/loki:2.9.3 not present locally {words}"


def test_pull_never_says_how_to_pull() -> None:
    cause = unavailable("alertmanager", "prom/alertmanager:v0.26.0", None)
    assert cause.text == "prom/alertmanager:v0.26.0 not present locally (--pull never)"
    assert cause.hint == "pass --image alertmanager=REF, or --pull missing to pull it" and cause.detail == ""


def test_a_reason_without_a_cause_is_its_own_cause() -> None:
    raised = NotEvaluated(BROWSER + "\nmore lines")
    assert raised.cause == Cause(BROWSER, BROWSER)
    assert NotEvaluated("").cause.key == "no reason given"
    assert Cause.of_reason("x " * 200).key == one_line("x " * 200, causes.MAX_CAUSE)


def test_checks_are_grouped_by_cause_biggest_first() -> None:
    loki = unavailable("loki", "grafana/loki:2.9.3", PULL_ERROR)
    never = unavailable("alertmanager", "prom/alertmanager:v0.26.0", None)
    results = [not_evaluated("test_browser", NotEvaluated(BROWSER)),
               not_evaluated("test_loki_ready", NotEvaluated("loki: …", loki)),
               not_evaluated("test_grafana_ready", NotEvaluated("grafana: …", loki.hitting("grafana"))),
               not_evaluated("test_nginx_ready", NotEvaluated("nginx: …", loki.hitting("nginx"))),
               not_evaluated("test_am_ready", NotEvaluated("alertmanager: …", never))]
    groups = group_causes(results)
    assert [(g.count, g.cause.key) for g in groups] == [
        (3, "image:grafana/loki:2.9.3"), (1, BROWSER), (1, "image:prom/alertmanager:v0.26.0")]
    assert groups[0].cause.services == ("loki", "grafana", "nginx") and groups[0].cause.detail == PULL_ERROR
    assert [r.check_id for r in groups[0].results] == ["test_loki_ready", "test_grafana_ready", "test_nginx_ready"]


def test_a_result_recorded_without_a_cause_is_grouped_by_its_reason() -> None:
    """Results read back from an older gate.json, or made by hand, carry only a reason."""
    recorded = CheckResult("t", "t.py::t", "Functionality", 1, Outcome.NOT_EVALUATED, reason=BROWSER + "\nmore")
    assert cause_of(recorded) == Cause(BROWSER, BROWSER)


def test_no_regular_expression_reads_obs_gate_s_own_messages_back() -> None:
    """Causes travel structured: the module that groups them does not import re."""
    tree = ast.parse(inspect.getsource(causes))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "re" not in imported


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("short enough", 20, "short enough"),
    ("blocker test_loki_is_ready not evaluated: loki image", 30, "blocker test_loki_is_ready…"),
    ("cut exactly at the end of a word here", 21, "cut exactly at the…"),
    ("one, two; three: four", 17, "one, two; three…"),
    ("a" * 50, 10, "a" * 9 + "…"),              # a single word: nothing else to cut at
    ("first line\nsecond line", 100, "first line"),
    ("", 10, ""),
])
def test_one_line_cuts_at_a_word_boundary(text: str, limit: int, expected: str) -> None:
    assert one_line(text, limit) == expected
    assert len(one_line(text, limit)) <= limit
