"""Shared by the config checks: the run's stack files (each read once, obsgate.stackfiles.project), the links
between them, and how findings fail a check."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from pathlib import Path, PurePosixPath

from obsgate.bringup.context import RunContext
from obsgate.bringup.secrets import PUBLIC_URL
from obsgate.checks.static import references as refs
from obsgate.checks.static import wiring
from obsgate.checks.static.base import persistent_dirs
from obsgate.checks.static.compose import EDGE_SERVICE
from obsgate.checks.static.loki import Measured
from obsgate.core.findings import Finding
from obsgate.core.recorder import GateRecorder
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import image_repository
from obsgate.stackfiles.project import ProjectFiles

# The YAML configs: service -> the StackFiles attribute holding it with line numbers.
YAML_CONFIGS = {"loki": "loki", "prometheus": "prometheus_doc", "alertmanager": "alertmanager"}


class StackFiles(ProjectFiles):
    """The files the run's compose project mounts into each service, as the checks read them."""

    def __init__(self, run: RunContext, promtool_tests: Path) -> None:
        super().__init__(run.project)
        self.promtool_tests = promtool_tests   # the rule files' promtool unit tests

    def persistent(self, service: str) -> list[PurePosixPath]:
        return persistent_dirs(self.spec(service))

    @property
    def public_url(self) -> str:
        """The stack's public base URL this run gives OBS_PUBLIC_URL (what nginx serves)."""
        return PUBLIC_URL

    # --- the links between the files (see checks/static/wiring.py) ---------------------

    @cached_property
    def addresses(self) -> list[refs.Address]:
        """Every address a service's config or healthcheck connects to."""
        has = self.project.services
        out = [a for spec in has.values() for a in refs.healthcheck_addresses(spec, self.compose)]
        out += refs.grafana_addresses(self.grafana) if "grafana" in has else []
        out += refs.prometheus_addresses(self.prometheus_doc, "prometheus") if "prometheus" in has else []
        out += refs.alertmanager_addresses(self.alertmanager, "alertmanager") if "alertmanager" in has else []
        out += refs.loki_addresses(self.loki, "loki") if "loki" in has else []
        out += refs.nginx_addresses(self.nginx, "nginx") if "nginx" in has else []
        return out

    def served_by_proxy(self, service: str) -> list[refs.Address]:
        """The edge proxy's addresses to ``service`` (each with the location it serves)."""
        return [a for a in self.addresses if a.client == EDGE_SERVICE and a.host == service]

    @cached_property
    def listeners(self) -> dict[str, list[wiring.Listener]]:
        """What each service listens on, from its own config or command line (else compose's expose)."""
        readers = {"loki": lambda: wiring.loki_listeners(self.loki), "nginx": lambda: wiring.nginx_listeners(self.nginx),
                   "grafana": lambda: wiring.grafana_listeners(self.grafana)}
        out = {}
        for name, spec in self.project.services.items():
            if name in readers:
                out[name] = readers[name]()
            elif image_repository(spec.image) in wiring.LISTEN_FLAGS:
                out[name] = wiring.flag_listeners(spec, self.compose)
            else:
                out[name] = wiring.compose_listeners(spec, self.compose)
        return out

    @cached_property
    def file_refs(self) -> list[refs.FileRef]:
        """Every file a service's config opens: rule files, templates, secrets, certificates."""
        has = self.project.services
        out = [ref for service, attribute in YAML_CONFIGS.items() if service in has
               for ref in refs.config_file_refs(getattr(self, attribute), service, self.config(service)[0])]
        out += refs.nginx_file_refs(self.nginx, "nginx") if "nginx" in has else []
        out += refs.grafana_file_refs(self.grafana) if "grafana" in has else []
        return out

    @cached_property
    def written_dirs(self) -> list[refs.WrittenDir]:
        """Every directory a service writes its state to."""
        has = self.project.services
        out = [d for spec in has.values() for d in refs.flag_writes(spec, self.compose)]
        out += refs.loki_writes(self.loki, "loki") if "loki" in has else []
        out += refs.grafana_writes(self.grafana) if "grafana" in has else []
        return out


def require_none(findings: Sequence[Finding], gate: GateRecorder) -> None:
    """Record the findings as evidence; fail naming the first (file:line key: problem, fix)."""
    gate.evidence["findings"] = [str(f) for f in findings]
    if findings:
        more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
        rest = "".join(f"\n{f}" for f in findings[1:])
        raise AssertionError(f"{findings[0]}{more}{rest}")


def measure(gate: GateRecorder, doc: YamlDoc, target_key: str, measured: Measured, name: str,
            fix: str | None = None) -> None:
    """Judge a config-derived number against its gate.yml target; a miss shows the arithmetic (and the fix)."""
    gate.evidence[name] = f"{doc.name}:{doc.line(measured.key)}: {measured.arithmetic}"
    try:
        gate.measure(target_key, measured.value, name=name, context=None if fix is None else f"fix: {fix}")
    except AssertionError as exc:
        raise AssertionError(f"{gate.evidence[name]}: {exc}") from None
