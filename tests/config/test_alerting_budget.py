"""Static: the alerting config can page within the policy's budgets at all (each worst case by arithmetic).

The live alerting checks measure what the stack does; these judge what the config allows
before anything runs, in seconds, and name the key to shorten.
"""

import pytest

from obsgate.checks.alerting.alertpath import TEST_ALERT
from obsgate.checks.alerting.routing import CRITICAL
from obsgate.checks.static import alerting
from obsgate.checks.static.files import require_none
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun


@pytest.mark.gate(category="Configuration", weight=2)
def test_critical_routes_meet_alert_delivery_budget(gate_run: GateRun, policy: Policy, gate: GateRecorder) -> None:
    """Rule true -> receiver on each critical route: evaluation interval + group_wait + dispatch <= alert_delivery_s."""
    config = alerting.load(gate_run.project, policy)
    budgets = alerting.delivery_budgets(config, (TEST_ALERT, CRITICAL))
    require_none(alerting.judge(budgets, "alert_delivery_s", gate, "worst_rule_true_to_receiver_s"), gate)


@pytest.mark.gate(category="Configuration", weight=2)
def test_service_down_alerts_meet_outage_to_page_budget(gate_run: GateRun, policy: Policy, gate: GateRecorder) -> None:
    """A target down -> its page: scrape interval + timeout + evaluation + for + group_wait + dispatch <= outage_to_page_s."""
    config = alerting.load(gate_run.project, policy)
    findings = alerting.no_outage_alert(config)
    findings += alerting.judge(alerting.outage_budgets(config), "outage_to_page_s", gate, "worst_outage_to_page_s")
    require_none(findings, gate)
