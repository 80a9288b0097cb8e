"""The alert path rule -> Prometheus -> Alertmanager -> Slack receiver, and Slack payloads.

``TestAlertPath`` runs a second, small stack of this run (Prometheus and Alertmanager
with their production configs and routing) whose rule directory holds the shipped
rule files plus one test rule. The test rule turns true at a moment we choose, and
the Slack webhook secret points to a receiver of its own: the delivery is timed from
that moment to the receiver, and its payload read as Slack would.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from obsgate.bringup.compose import ServiceSpec
from obsgate.bringup.overlay import overlay_stack, with_mount
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.checks.stackfiles import AlertmanagerConfig, PrometheusConfig, flag
from obsgate.clients import Endpoint, PrometheusAPI
from obsgate.clients.webhook import Delivery, WebhookReceiver
from obsgate.run import GateRun
from obsgate.wait import WaitTimeout, poll

TEST_ALERT = "ObsGateTestAlert"
TEST_GROUP = "obs-gate-test"
ARM_S = 2.0                      # the test rule turns true this long after it is written


def rfc3339(text: str) -> float:
    """Unix seconds of a Prometheus/Alertmanager timestamp (nanosecond fractions allowed)."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(trimmed).timestamp()


def readable_dir(path: Path) -> Path:
    """A new directory the containers' unprivileged users can read."""
    path.mkdir()
    path.chmod(0o755)
    return path


def attachments(delivery: Delivery) -> list[dict[str, Any]]:
    """The attachments of a Slack incoming-webhook payload (empty if it is not one)."""
    try:
        body = delivery.json()
    except ValueError:
        return []
    return [a for a in body.get("attachments") or [] if isinstance(a, dict)] if isinstance(body, dict) else []


def announces(delivery: Delivery, alertname: str, status: str = "FIRING", marker: str = "") -> bool:
    """Whether a Slack payload reports ``alertname`` in ``status`` (and carries ``marker`` in its text)."""
    return any(alertname in str(a.get("title", "")) and status in str(a.get("title", "")).upper()
               and marker in str(a.get("text", "")) for a in attachments(delivery))


def payload_summary(delivery: Delivery) -> dict[str, Any]:
    body = delivery.json()
    return {"path": delivery.path.rsplit("/", 1)[0] + "/<secret>", "channel": body.get("channel"),
            "username": body.get("username"),
            "attachments": [{"title": a.get("title"), "color": a.get("color"), "text": str(a.get("text"))[:400]}
                            for a in attachments(delivery)]}


@dataclass
class LokiOutage:
    """Loki stopped on demand (as a crash or an operator would leave it)."""

    loki: ServiceHandle
    stopped_at: float | None = None     # wall clock

    def begin(self) -> float:
        self.stopped_at = time.time()
        self.loki.stop()
        return self.stopped_at


@dataclass
class Delivered:
    """What the test alert's trip produced."""

    delivery: Delivery
    true_at: float                  # wall clock: the rule's condition turned true
    active_at: float | None         # Prometheus' activeAt for the alert
    receiver: str                   # the receiver Alertmanager's route tree picks for the (critical) test alert
    channels: list[str]             # that receiver's Slack channels
    warning_receiver: str           # the receiver the same alert would reach as a warning
    marker: str

    @property
    def latency_s(self) -> float:
        return self.delivery.received_at - self.true_at


class TestAlertPath:
    """One trip of a test alert through the production routing, on an overlay stack of this run."""

    __test__ = False    # not a pytest test class

    def __init__(self, run: GateRun, workdir: Path, timeout_s: float) -> None:
        self.run, self.workdir, self.timeout_s = run, workdir, timeout_s
        self.marker = f"obs-gate probe {uuid.uuid4().hex[:12]}"
        self.prometheus = PrometheusConfig.of_service(run.project.services["prometheus"])
        self.alertmanager = AlertmanagerConfig.of_service(run.project.services["alertmanager"])
        self.receiver: WebhookReceiver | None = None

    def _rules_dir(self) -> tuple[str, Path, str]:
        """(container dir, host copy of the shipped rules, file name the rule_files glob loads)."""
        pattern = str((self.prometheus.doc.get("rule_files") or ["/etc/prometheus/rules/*.yml"])[0])
        directory, _, glob = pattern.rpartition("/")
        copy = readable_dir(self.workdir / "rules")
        for path in self.prometheus.shipped_rule_files():
            shutil.copy(path, copy / path.name)
            (copy / path.name).chmod(0o644)
        return directory, copy, glob.replace("*", "zz-obs-gate-test", 1)

    def _secrets_dir(self) -> tuple[str, Path]:
        """(container dir, host dir) of the Slack webhook URL file Alertmanager reads."""
        url_file = str((self.alertmanager.doc.get("global") or {}).get(
            "slack_api_url_file", "/etc/alertmanager/secrets/slack_webhook_url"))
        return url_file, readable_dir(self.workdir / "alertmanager-secrets")

    def _services(self, rules: tuple[str, Path], secrets: tuple[str, Path]) -> dict[str, ServiceSpec]:
        specs = self.run.project.services
        return {"prometheus": with_mount(specs["prometheus"], rules[0], rules[1]),
                "alertmanager": with_mount(specs["alertmanager"], secrets[0].rpartition("/")[0], secrets[1])}

    def _rule(self, true_at: float) -> str:
        return yaml.safe_dump({"groups": [{"name": TEST_GROUP, "rules": [{
            "alert": TEST_ALERT,
            "expr": f"vector(time()) >= {true_at:.3f}",
            "labels": {"severity": "critical"},
            "annotations": {"summary": self.marker,
                            "description": "End-to-end test alert of the obs-gate release gate."},
        }]}]}, sort_keys=False)

    def _route(self, stack: Stack, severity: str) -> str:
        """The receiver the production route tree picks for the test alert at ``severity`` (amtool)."""
        spec = stack["alertmanager"].spec
        config = flag(spec, "config.file", "/etc/alertmanager/alertmanager.yml")
        code, out = stack["alertmanager"].exec(["amtool", "config", "routes", "test", f"--config.file={config}",
                                                f"alertname={TEST_ALERT}", f"severity={severity}"])
        lines = [line for line in out.splitlines() if line.strip() and not line.startswith("Warning")]
        if code != 0 or not lines:
            raise AssertionError(f"amtool could not resolve the route of the test alert ({code}): {out[-300:]}")
        return lines[-1].strip()

    def run_once(self) -> Delivered:
        """Bring the overlay up, arm the test rule, wait for its Slack post; the overlay is removed after."""
        container_rules, rules_copy, rule_file = self._rules_dir()
        url_file, secrets = self._secrets_dir()

        def start_receiver(stack: Stack) -> None:
            self.receiver = WebhookReceiver(stack.gateway_ip())
            url = secrets / url_file.rpartition("/")[2]
            url.write_text(self.receiver.url(f"/slack/{uuid.uuid4().hex}") + "\n")
            url.chmod(0o644)

        services = self._services((container_rules, rules_copy), (url_file, secrets))
        try:
            with overlay_stack(self.run, "alerts", services, start_receiver) as stack:
                prometheus = stack["prometheus"].require()
                stack["alertmanager"].require()
                receiver_name, warning_receiver = self._route(stack, "critical"), self._route(stack, "warning")
                api = PrometheusAPI(Endpoint.direct(prometheus, prometheus.spec.expose[0]))
                try:
                    true_at = time.time() + ARM_S
                    (rules_copy / rule_file).write_text(self._rule(true_at))
                    (rules_copy / rule_file).chmod(0o644)
                    prometheus.container.kill(signal="SIGHUP")      # Prometheus re-reads its rule files
                    poll(lambda: any(g["name"] == TEST_GROUP for g in api.rules()["groups"]), timeout_s=15,
                         what="Prometheus to load the test rule after SIGHUP", evidence=prometheus.log_tail)
                    assert self.receiver is not None
                    try:
                        delivery = self.receiver.wait_for(lambda d: announces(d, TEST_ALERT, marker=self.marker),
                                                          timeout_s=self.timeout_s,
                                                          what=f"{TEST_ALERT} at the Slack receiver")
                    except WaitTimeout as exc:
                        raise WaitTimeout(f"{exc}\n{stack['alertmanager'].log_tail(15)}") from None
                    active = next((a for a in api.alerts() if a["labels"].get("alertname") == TEST_ALERT), None)
                finally:
                    api.close()
                return Delivered(delivery, true_at, rfc3339(active["activeAt"]) if active else None, receiver_name,
                                 self.alertmanager.slack_channels(receiver_name), warning_receiver, self.marker)
        finally:
            if self.receiver is not None:
                self.receiver.close()
