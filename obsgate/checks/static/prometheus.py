"""promtool unit-test coverage of Prometheus alert rules."""

from __future__ import annotations

from collections.abc import Sequence

from obsgate.core.findings import Finding
from obsgate.core.yamlio import YamlDoc


def alert_coverage(rules: Sequence[YamlDoc], tests: Sequence[YamlDoc]) -> list[Finding]:
    """Every alert has a promtool case where it fires and one where it stays silent."""
    fires: set[str] = set()
    silent: set[str] = set()
    for test_doc in tests:
        for case in test_doc.get("tests") or []:
            for check in case.get("alert_rule_test") or []:
                (fires if check.get("exp_alerts") else silent).add(check.get("alertname"))
    out = []
    for doc in rules:
        for g, group in enumerate(doc.get("groups") or []):
            for r, rule in enumerate(group.get("rules") or []):
                name = rule.get("alert")
                missing = [what for what, seen in (("fires", fires), ("stays silent", silent)) if name and name not in seen]
                if missing:
                    out.append(
                        doc.finding(
                            f"groups[{g}].rules[{r}].alert",
                            f"alert {name} has no promtool test case where it {' or '.join(missing)}",
                            "add alert_rule_test cases with synthetic series to tests/config/promtool/*.test.yml",
                        )
                    )
    return out
