"""A service's permanent answer ends a wait at once, is quoted, and names one cause for every check it failed.

Loki refusing a query over a limit answers 400 with its reason; waiting cannot change that, so
polling on it for 20 s and then reporting "timed out … 400 Bad Request" hides the cause behind
as many symptoms as checks asked. These tests use recorded answers (httpx responses) and a
throwaway gate project; the self-test tests/selftest/test_logs_checks_fail.py shows it on a real Loki.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from obsgate.clients.http import ServiceError
from obsgate.core.wait import WaitTimeout, poll
from tests.unit.gateproject import project_with_checks

pytest_plugins = ("pytester",)

LIMIT = "max entries limit per query exceeded, limit > max_entries_limit (1000 > 10)"


def answer(status: int, body: str = "", path: str = "/loki/api/v1/query_range", service: str = "loki") -> ServiceError:
    request = httpx.Request("GET", f"http://loki:3100{path}?query=%7Bjob%3D%22x%22%7D")
    return ServiceError(service, httpx.Response(status, text=body, request=request))


@pytest.mark.parametrize("status", [400, 401, 403, 405, 413, 422, 501])
def test_a_refusal_is_permanent(status: int) -> None:
    assert answer(status).permanent


@pytest.mark.parametrize("status", [404, 408, 425, 429, 500, 502, 503, 504])
def test_not_found_yet_too_early_too_many_and_outages_are_worth_waiting_for(status: int) -> None:
    assert not answer(status).permanent


def test_a_permanent_answer_ends_the_wait_at_once_quoting_the_service() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)
        raise answer(400, LIMIT)

    started = time.monotonic()
    with pytest.raises(ServiceError) as raised:
        poll(probe, timeout_s=30, what="3 pushed entries", interval_s=0.01)
    assert time.monotonic() - started < 1 and len(calls) == 1
    assert str(raised.value) == f"loki: GET /loki/api/v1/query_range -> 400: {LIMIT}"
    assert raised.value.__notes__ == ["(a permanent answer: ended the wait for 3 pushed entries after 0.0s of 30s)"]


def test_a_transient_answer_is_waited_out_and_then_named() -> None:
    with pytest.raises(WaitTimeout, match=r"last error: ServiceError: loki: GET /loki/api/v1/query_range -> 503: "
                                          r"Ingester not ready"):
        poll(lambda: (_ for _ in ()).throw(answer(503, "Ingester not ready")), timeout_s=0.05, what="x",
             interval_s=0.01)


def test_a_json_answer_is_quoted_by_its_error_member() -> None:
    error = answer(400, json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at line 1"}))
    assert error.reason == "parse error at line 1"


def test_the_same_status_and_reason_is_one_cause_whatever_was_asked_and_whichever_way() -> None:
    first, second = answer(400, LIMIT).answer(), answer(400, LIMIT, path="/loki/api/v1/query").answer()
    assert first.key == second.key and first.services == ("loki",)
    assert first.text == f"loki answered 400: {LIMIT}"
    assert "/loki/api/v1/query_range" in first.detail       # the first request asked is kept as the raw error
    assert answer(400, "another reason").answer().key != first.key
    assert answer(422, LIMIT).answer().key != first.key
    # Loki's refusal through nginx is the same answer as Loki's own.
    assert answer(400, LIMIT, service="loki via nginx").answer().key == first.key


CHECKS = f'''
import httpx
import pytest
from obsgate.clients.http import ServiceError
from obsgate.core.wait import poll


def refused():
    request = httpx.Request("GET", "http://loki:3100/loki/api/v1/query_range")
    raise ServiceError("loki", httpx.Response(400, text="{LIMIT}", request=request))


@pytest.mark.gate(category="Functionality", weight=1)
@pytest.mark.parametrize("n", range(3))
def test_entries_arrive(n):
    poll(refused, timeout_s=30, what="pushed entries")


@pytest.mark.gate(category="Functionality", weight=1)
def test_wrapped_answer():
    try:
        refused()
    except ServiceError as error:
        raise AssertionError("no entries") from error


@pytest.mark.gate(category="Functionality", weight=1)
def test_something_else():
    assert False, "headers missing"
'''


@pytest.fixture
def gate_project(pytester: pytest.Pytester) -> pytest.Pytester:
    return project_with_checks(pytester, CHECKS)


def test_checks_failing_on_one_answer_share_one_cause_in_every_report(gate_project: pytest.Pytester) -> None:
    result = gate_project.runpytest_subprocess("-m", "gate", "-p", "no:cacheprovider", "--reports-dir", "reports")
    gate = json.loads((gate_project.path / "reports" / "latest" / "gate.json").read_text())
    checks = {c["nodeid"].rpartition("::")[2]: c for c in gate["checks"]}
    assert all(c["outcome"] == "failed" for c in checks.values())
    assert max(c["duration_s"] for c in checks.values()) < 5      # none waited its 30 s out
    [shared] = gate["failure_causes"]
    assert shared["count"] == 4 and shared["text"] == f"loki answered 400: {LIMIT}"
    assert checks["test_something_else"]["cause"] is None
    assert {checks[n]["cause"] for n in checks if n != "test_something_else"} == {shared["key"]}

    line = f"4 checks (loki): loki answered 400: {LIMIT} — test_entries_arrive[0], test_entries_arrive[1], " \
           "test_entries_arrive[2], test_wrapped_answer"
    result.stdout.fnmatch_lines(["Failing (5):", f"  - {line}", "  - *test_something_else [[]failed]: *headers missing"])
    summary = (gate_project.path / "reports" / "latest" / "summary.md").read_text()
    assert f"- {line}" in summary and "4 of them on one answer: loki answered 400" in summary
    html = (gate_project.path / "reports" / "latest" / "report.html").read_text()
    assert "Failing on one answer (4 of 5 failing)" in html
