"""Shared by the config checks: the run's stack files (parsed once) and how findings fail a check."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path, PurePosixPath

from obsgate.bringup.compose import ServiceSpec
from obsgate.checks.stackfiles import PrometheusConfig
from obsgate.checks.static import Finding, YamlDoc, loki, nginx
from obsgate.checks.static.base import image_version, persistent_dirs, service_config, shown
from obsgate.checks.static.loki import Measured
from obsgate.checks.static.nginx import NginxConf
from obsgate.gate.recorder import GateRecorder
from obsgate.run import GateRun

# Where each program reads its config: the command-line flags that name it, and the image default.
CONFIG_LOCATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "loki": (loki.CONFIG_FLAGS, loki.DEFAULT_CONFIG),
    "prometheus": (("--config.file",), "/etc/prometheus/prometheus.yml"),
    "alertmanager": (("--config.file",), "/etc/alertmanager/alertmanager.yml"),
    "nginx": (nginx.CONFIG_FLAGS, nginx.DEFAULT_CONFIG),
}


class StackFiles:
    """The files the run's compose project mounts into each service, as the checks read them."""

    def __init__(self, run: GateRun, promtool_tests: Path) -> None:
        self.project = run.project
        self.promtool_tests = promtool_tests   # the rule files' promtool unit tests

    def spec(self, service: str) -> ServiceSpec:
        if service not in self.project.services:
            raise AssertionError(f"{shown(self.project.path)}: services.{service}: no such service (the policy needs it)")
        return self.project.services[service]

    def config(self, service: str) -> tuple[str, Path]:
        """(container path, host path) of ``service``'s config file; ConfigUnreadable if not mounted."""
        flags, default = CONFIG_LOCATIONS[service]
        return service_config(self.spec(service), self.project.path, flags, default)

    def persistent(self, service: str) -> list[PurePosixPath]:
        return persistent_dirs(self.spec(service))

    @cached_property
    def compose(self) -> YamlDoc:
        return YamlDoc.load(self.project.path, shown(self.project.path))

    @cached_property
    def loki(self) -> YamlDoc:
        host = self.config("loki")[1]
        return YamlDoc.load(host, shown(host))

    @property
    def loki_version(self) -> tuple[int, int, int] | None:
        """The Loki version the compose file pins (what production runs)."""
        return image_version(self.spec("loki").image)

    @cached_property
    def nginx(self) -> NginxConf:
        host = self.config("nginx")[1]
        return NginxConf.load(host, shown(host))

    @cached_property
    def prometheus(self) -> PrometheusConfig:
        self.config("prometheus")  # a missing mount is a finding, not a crash
        return PrometheusConfig.of_service(self.spec("prometheus"))

    @cached_property
    def alert_rule_files(self) -> list[YamlDoc]:
        return [YamlDoc.load(path, shown(path)) for path in self.prometheus.rule_files()]


def require_none(findings: Sequence[Finding], gate: GateRecorder) -> None:
    """Record the findings as evidence; fail naming the first (file:line key: problem, fix)."""
    gate.evidence["findings"] = [str(f) for f in findings]
    if findings:
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        rest = "".join(f"\n{f}" for f in findings[1:])
        raise AssertionError(f"{findings[0]}{more}{rest}")


def measure(gate: GateRecorder, doc: YamlDoc, target_key: str, measured: Measured, name: str) -> None:
    """Judge a config-derived number against its gate.yml target; a miss shows the arithmetic."""
    gate.evidence[name] = f"{doc.name}:{doc.line(measured.key)}: {measured.arithmetic}"
    try:
        gate.measure(target_key, measured.value, name=name)
    except AssertionError as exc:
        raise AssertionError(f"{gate.evidence[name]}: {exc}") from None
