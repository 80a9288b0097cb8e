"""Not-evaluated reasons grouped by cause, and one-line text cut at word boundaries.

The reasons are recorded from real runs on a machine without a registry (the Docker
errors are what docker-py said there), so the grouping is tested on what a newcomer sees.
"""

from __future__ import annotations

import pytest

from obsgate.core.causes import Cause, diagnose
from obsgate.core.results import CheckResult, Outcome, cause_of, group_causes
from obsgate.core.text import one_line

PULL_ERROR = ('500 Server Error for http+docker://localhost/v1.41/images/create?tag=2.9.3&fromImage=grafana%2Floki: '
              'Internal Server Error ("Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.')
LOKI_UNAVAILABLE = f"image unavailable: grafana/loki:2.9.3 is not present locally and could not be pulled ({PULL_ERROR})"
RECORDED = {
    "loki": f"loki: {LOKI_UNAVAILABLE}",
    "grafana": f"grafana: depends on loki, which cannot run here ({LOKI_UNAVAILABLE})",
    "nginx": "nginx: depends on grafana, which cannot run here (depends on loki, which cannot run here "
             f"({LOKI_UNAVAILABLE}))",
    "never": "alertmanager: image unavailable: prom/alertmanager:v0.26.0 is not present locally (--pull never)",
    "docker": "Docker engine unavailable: Error while fetching server API version: ('Connection aborted.', "
              "FileNotFoundError(2, 'No such file or directory'))",
    "candidate": "candidate loki=grafana/loki:3.0.0: image unavailable: grafana/loki:3.0.0 is not present "
                 "locally (--pull never)",
    "browser": "no headless browser here (Debian's chromium is not installed)",
}
NO_REGISTRY = "grafana/loki:2.9.3 not present locally and no registry reachable"


def not_evaluated(check_id: str, reason: str) -> CheckResult:
    return CheckResult(check_id, f"tests/integration/test_x.py::{check_id}", "Functionality", 1,
                       Outcome.NOT_EVALUATED, reason=reason)


def test_unavailable_image_is_a_short_reason_and_a_cause_keeping_the_raw_error() -> None:
    reason, cause = diagnose(RECORDED["loki"])
    assert reason == f"loki: image unavailable: {NO_REGISTRY}"
    assert cause == Cause("image:grafana/loki:2.9.3", NO_REGISTRY, "pass --image loki=REF", PULL_ERROR, ("loki",))


def test_dependency_on_an_unavailable_image_is_that_image_s_cause() -> None:
    reason, cause = diagnose(RECORDED["grafana"])
    assert reason == f"grafana: depends on loki, which cannot run here (image unavailable: {NO_REGISTRY})"
    assert cause.key == "image:grafana/loki:2.9.3" and cause.detail == PULL_ERROR
    assert cause.services == ("loki", "grafana")
    assert diagnose(RECORDED["nginx"])[1].services == ("loki", "grafana", "nginx")


def test_a_check_s_own_wording_around_the_image_clause_keeps_its_words() -> None:
    reason, cause = diagnose(f"target loki:3100 (job loki): loki cannot run here ({LOKI_UNAVAILABLE})")
    assert reason == f"target loki:3100 (job loki): loki cannot run here (image unavailable: {NO_REGISTRY})"
    assert (cause.key, cause.services, cause.detail) == ("image:grafana/loki:2.9.3", ("loki",), PULL_ERROR)
    reason, bare = diagnose("image unavailable: grafana/loki:2.9.3 is not present locally (--pull never)")
    assert bare.services == () and bare.hint == "pass --image SERVICE=REF, or --pull missing to pull it"


def test_a_reason_cut_inside_the_raw_error_still_finds_its_image() -> None:
    """Reasons recorded before this grouping were cut at 300 characters, mid-error."""
    cut = RECORDED["grafana"][:300]
    assert diagnose(cut)[1].key == "image:grafana/loki:2.9.3"


@pytest.mark.parametrize(("error", "words", "hint"), [
    ("manifest unknown: manifest unknown", "and not found in its registry", "check the reference, or pass --image loki=REF"),
    ("401 Client Error: unauthorized: authentication required", "and the registry refused the pull",
     "docker login to the registry, or pass --image loki=REF"),
    ("500 Server Error: disk full", "and could not be pulled", "pass --image loki=REF (the pull error is in gate.json)"),
])
def test_pull_errors_in_words_a_person_acts_on(error: str, words: str, hint: str) -> None:
    reason = f"loki: image unavailable: grafana/loki:2.9.3 is not present locally and could not be pulled ({error})"
    cause = diagnose(reason)[1]
    assert (cause.text, cause.hint, cause.detail) == (f"grafana/loki:2.9.3 not present locally {words}", hint, error)


def test_pull_never_docker_candidate_and_other_causes() -> None:
    never = diagnose(RECORDED["never"])[1]
    assert never.text == "prom/alertmanager:v0.26.0 not present locally (--pull never)"
    assert never.hint == "pass --image alertmanager=REF, or --pull missing to pull it" and never.detail == ""
    reason, docker = diagnose(RECORDED["docker"])
    assert reason == "Docker engine unavailable" and docker.key == "docker"
    assert docker.detail.startswith("Error while fetching server API version")
    reason, candidate = diagnose(RECORDED["candidate"])
    assert reason == ("candidate loki=grafana/loki:3.0.0: image unavailable: grafana/loki:3.0.0 not present locally "
                      "(--pull never)")
    assert candidate.key == "candidate:grafana/loki:3.0.0" and candidate.hint.startswith("pass --candidate loki=REF")
    reason, other = diagnose(RECORDED["browser"] + "\nmore lines")
    assert reason == other.key == other.text == RECORDED["browser"] and other.hint == other.detail == ""


def test_checks_are_grouped_by_cause_biggest_first() -> None:
    results = [not_evaluated("test_browser", RECORDED["browser"]),
               not_evaluated("test_loki_ready", RECORDED["loki"]),
               not_evaluated("test_grafana_ready", RECORDED["grafana"]),
               not_evaluated("test_nginx_ready", RECORDED["nginx"]),
               not_evaluated("test_am_ready", RECORDED["never"])]
    groups = group_causes(results)
    assert [(g.count, g.cause.key) for g in groups] == [
        (3, "image:grafana/loki:2.9.3"), (1, RECORDED["browser"]), (1, "image:prom/alertmanager:v0.26.0")]
    loki = groups[0]
    assert loki.cause.services == ("loki", "grafana", "nginx") and loki.cause.detail == PULL_ERROR
    assert [r.check_id for r in loki.results] == ["test_loki_ready", "test_grafana_ready", "test_nginx_ready"]


def test_a_recorded_cause_wins_over_one_diagnosed_from_the_reason() -> None:
    reason, cause = diagnose(RECORDED["loki"])
    recorded = CheckResult("t", "t.py::t", "Functionality", 1, Outcome.NOT_EVALUATED, reason=reason, cause=cause)
    assert cause_of(recorded) == cause
    assert cause_of(not_evaluated("t", reason)).detail == ""   # the short reason alone no longer has it


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
