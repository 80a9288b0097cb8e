"""The stack's own config files as the compose file mounts them, read for facts checks need.

Checks never repeat what a config says (scrape jobs, rule names, ``for:`` durations,
receivers): they read it here from the files the containers really get.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgate.compose import ServiceSpec
from obsgate.errors import InputError
from obsgate.yamlio import load_yaml

_PROM_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_PROM_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def mounted_path(spec: ServiceSpec, container_path: str) -> Path:
    """The host path behind ``container_path`` in ``spec``'s bind mounts (the file, or inside a mounted dir)."""
    path = container_path.rstrip("/")
    candidates = [m for m in spec.mounts if m.kind == "bind"
                  and (path == m.target.rstrip("/") or path.startswith(m.target.rstrip("/") + "/"))]
    if not candidates:
        raise InputError(spec.name, "volumes", f"nothing is bind-mounted at {container_path}",
                         f"mount the file the service reads at {container_path}")
    mount = max(candidates, key=lambda m: len(m.target))
    rest = path[len(mount.target.rstrip("/")):].lstrip("/")
    return Path(mount.source) / rest if rest else Path(mount.source)


def flag_value(argv: Sequence[str], names: Iterable[str], default: str) -> str:
    """The value of a ``-flag=v`` / ``--flag v`` style option in ``argv``, else ``default``."""
    wanted = tuple(names)
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in wanted:
            if eq:
                return value
            if i + 1 < len(argv):
                return argv[i + 1]
    return default


def flag(spec: ServiceSpec, name: str, default: str) -> str:
    """The value of flag ``name`` (``-name``/``--name``, ``=v`` or `` v``) in the service's command."""
    return flag_value(spec.command or (), (f"--{name}", f"-{name}"), default)


def prom_duration_s(text: str) -> float:
    """A Prometheus duration (``1m``, ``1h30m``, ``15s``) in seconds."""
    parts = _PROM_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _PROM_UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    address: str             # host:port as configured

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]


@dataclass(frozen=True)
class AlertRule:
    group: str
    name: str
    expr: str
    for_s: float
    labels: dict[str, str]
    file: Path


@dataclass(frozen=True)
class PrometheusConfig:
    """prometheus.yml as the compose prometheus service mounts it, and its rule files."""

    path: Path
    doc: dict[str, Any]
    spec: ServiceSpec

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> PrometheusConfig:
        path = mounted_path(spec, flag(spec, "config.file", "/etc/prometheus/prometheus.yml"))
        return cls(path, load_yaml(path, "Prometheus config") or {}, spec)

    def _global(self, key: str, default: str) -> float:
        return prom_duration_s(str((self.doc.get("global") or {}).get(key, default)))

    @property
    def scrape_interval_s(self) -> float:
        return self._global("scrape_interval", "1m")

    @property
    def evaluation_interval_s(self) -> float:
        return self._global("evaluation_interval", "1m")

    def targets(self) -> list[ScrapeTarget]:
        """Every static target of every scrape job."""
        return [ScrapeTarget(str(job["job_name"]), str(address))
                for job in self.doc.get("scrape_configs") or []
                for static in job.get("static_configs") or []
                for address in static.get("targets") or []]

    def rule_files(self) -> list[Path]:
        """The host files the ``rule_files`` globs match inside the container."""
        files: list[Path] = []
        for pattern in self.doc.get("rule_files") or []:
            directory, _, glob = str(pattern).rpartition("/")
            files += sorted(mounted_path(self.spec, directory).glob(glob))
        return files

    def shipped_rule_files(self) -> list[Path]:
        """Every rule file in the directories ``rule_files`` points into, whether its glob matches or not."""
        directories = {mounted_path(self.spec, str(p).rpartition("/")[0]) for p in self.doc.get("rule_files") or []}
        return sorted(f for d in directories for f in [*d.glob("*.yml"), *d.glob("*.yaml")])

    def alert_rules(self) -> list[AlertRule]:
        """Every alerting rule the mounted rule files define."""
        return [rule for path in self.rule_files() for rule in alert_rules(path)]


def alert_rules(path: Path) -> list[AlertRule]:
    doc = load_yaml(path, "Prometheus rule file") or {}
    return [AlertRule(str(group["name"]), str(rule["alert"]), str(rule["expr"]),
                      prom_duration_s(str(rule.get("for", "0s"))), dict(rule.get("labels") or {}), path)
            for group in doc.get("groups") or [] for rule in group.get("rules") or [] if "alert" in rule]


def recording_and_alerting_rules(path: Path) -> list[tuple[str, str]]:
    """(group, rule name) for every rule in a rule file, alerting and recording alike."""
    doc = load_yaml(path, "Prometheus rule file") or {}
    return [(str(group["name"]), str(rule.get("alert") or rule.get("record")))
            for group in doc.get("groups") or [] for rule in group.get("rules") or []]


@dataclass(frozen=True)
class AlertmanagerConfig:
    path: Path
    doc: dict[str, Any]

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> AlertmanagerConfig:
        path = mounted_path(spec, flag(spec, "config.file", "/etc/alertmanager/alertmanager.yml"))
        return cls(path, load_yaml(path, "Alertmanager config") or {})

    def slack_channels(self, receiver: str) -> list[str]:
        """The Slack channels a receiver posts to (empty for an unknown receiver)."""
        for entry in self.doc.get("receivers") or []:
            if entry.get("name") == receiver:
                return [str(c.get("channel", "")) for c in entry.get("slack_configs") or []]
        return []
