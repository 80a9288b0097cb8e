"""The outage drill's bookkeeping: each check gets its own part's outcome, never another's failure."""

from __future__ import annotations

import pytest

from obsgate.checks.resilience.outage import OutageDrill, attempt
from obsgate.core.errors import NotEvaluated


def test_attempt_keeps_a_value_or_the_exception() -> None:
    assert attempt(lambda: 3).get() == 3

    def broken() -> int:
        raise AssertionError("nginx answered 204")

    with pytest.raises(AssertionError, match="nginx answered 204"):
        attempt(broken).get()


def test_fail_all_fills_only_the_parts_not_yet_settled() -> None:
    drill = OutageDrill(origin="https://pos.retail.example")
    drill.answers = attempt(lambda: [])
    drill.page.error = AssertionError("LokiDown: worst case 200 s > target 120 s")
    drill.fail_all(NotEvaluated("the outage stack did not come up"))
    assert drill.answers.get() == []
    with pytest.raises(AssertionError, match="worst case"):
        drill.page.get()
    for part in (drill.recovery, drill.grafana):
        with pytest.raises(NotEvaluated, match="did not come up"):
            part.get()
