"""Static: every alert rule has promtool unit tests both ways (the tests themselves run in test_acceptance)."""

import pytest

from obsgate.checks.static.files import StackFiles, require_none
from obsgate.checks.static.prometheus import alert_coverage
from obsgate.core.findings import shown
from obsgate.core.recorder import GateRecorder
from obsgate.core.yamlio import YamlDoc


@pytest.mark.gate(category="Configuration", weight=1)
def test_alert_rules_each_have_firing_and_silent_tests(stack_files: StackFiles, gate: GateRecorder) -> None:
    """An alert never shown to fire may never fire; one never shown silent may page all night."""
    tests = [YamlDoc.load(p, shown(p)) for p in sorted(stack_files.promtool_tests.glob("*.test.yml"))]
    require_none(alert_coverage(stack_files.alert_rule_files, tests), gate)
