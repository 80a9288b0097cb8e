"""The stack's own config files as the compose file mounts them, read for facts checks need.

Checks never repeat what a config says (scrape jobs, rule names, ``for:`` durations,
receivers): they read it here from the files the containers really get.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgate.core.errors import InputError
from obsgate.core.yamlio import load_yaml
from obsgate.stackfiles.compose import ServiceSpec

# prometheus/common model.ParseDuration: each unit at most once, largest first.
_PROM_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
                            r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?")
_PROM_UNIT_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
_PROM_MAX_S = (2**63 - 1) / 1e9     # a time.Duration is int64 nanoseconds
_GLOB_META = "*?[\\"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
_PROM_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}


def mounted_path(spec: ServiceSpec, container_path: str) -> Path:
    """The host path behind ``container_path`` in ``spec``'s bind mounts (the file, or inside a mounted dir)."""
    path = container_path.rstrip("/")
    mount = spec.mount_over(path, "bind")
    if mount is None:
        raise InputError(spec.name, "volumes", f"nothing is bind-mounted at {container_path}",
                         f"mount the file the service reads at {container_path}")
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
    """A Prometheus duration (``1m``, ``1h30m``, ``15s``, a bare ``0``) in seconds.

    As prometheus/common ``model.ParseDuration``: units ``y w d h m s ms``, each at most once
    and largest first; ``0`` needs no unit.
    """
    if text == "0":
        return 0.0
    found = _PROM_DURATION.fullmatch(text)
    if not text or found is None:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    seconds = sum(int(n) * _PROM_UNITS[u] for n, u in zip(found.groups(), _PROM_UNIT_ORDER, strict=True) if n)
    if seconds > _PROM_MAX_S:
        raise ValueError(f"not a Prometheus duration: {text!r} is out of range")
    return seconds


def _directory_entries(spec: ServiceSpec, directory: str) -> dict[str, Path]:
    """What ``spec`` sees in container ``directory``: name -> host path, for the entries the host provides.

    The host directory behind a bind mount covering ``directory``, plus (over it) every file or
    directory bind-mounted on its own directly inside it. Raises InputError when neither exists.
    """
    directory = posixpath.normpath(directory)
    names: set[str] = set()
    try:
        host = mounted_path(spec, directory)
    except InputError:
        host = None
    if host is not None and host.is_dir():
        names.update(p.name for p in host.iterdir())
    singles = {posixpath.basename(target) for m in spec.mounts if m.kind == "bind"
               for target in [posixpath.normpath(m.target)] if posixpath.dirname(target) == directory}
    if host is None and not singles:
        mounted_path(spec, directory)       # raises: nothing is mounted at or in the directory
    entries = {name: mounted_path(spec, posixpath.join(directory, name)) for name in names | singles}
    return {name: path for name, path in entries.items() if path.exists()}


def mounted_entries(spec: ServiceSpec, directory: str) -> dict[str, Path]:
    """What ``spec`` sees in container ``directory`` (see _directory_entries), for any service's files."""
    return _directory_entries(spec, directory)


def mounted_glob(spec: ServiceSpec, pattern: str) -> list[Path]:
    """The host files a container glob (wildcards in its last element only) matches, as Go's filepath.Glob would."""
    directory, name = posixpath.split(posixpath.normpath(pattern))
    entries = _directory_entries(spec, directory)
    return [entries[n] for n in sorted(entries) if _glob_match(n, name)]


def _glob_match(name: str, pattern: str) -> bool:
    """Go's filepath.Match for one path element (``[^...]`` negates as ``[!...]`` does)."""
    return fnmatch.fnmatchcase(name, pattern.replace("[^", "[!"))


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
        path = mounted_path(spec, flag(spec, "config.file", PROMETHEUS_CONFIG))
        return cls(path, load_yaml(path, "Prometheus config") or {}, spec)

    @property
    def container_path(self) -> str:
        """Where Prometheus reads this config inside the container."""
        return flag(self.spec, "config.file", PROMETHEUS_CONFIG)

    def _rule_patterns(self) -> list[str]:
        """The ``rule_files`` entries as container paths: relative ones join the config file's directory."""
        base = posixpath.dirname(self.container_path)
        return [posixpath.normpath(posixpath.join(base, str(p))) for p in self.doc.get("rule_files") or []]

    def _global(self, key: str, default: str) -> float:
        return prom_duration_s(str((self.doc.get("global") or {}).get(key, default)))

    @property
    def scrape_interval_s(self) -> float:
        return self._global("scrape_interval", "1m")

    @property
    def evaluation_interval_s(self) -> float:
        return self._global("evaluation_interval", "1m")

    @property
    def scrape_timeout_s(self) -> float:
        return self._global("scrape_timeout", "10s")

    @property
    def external_labels(self) -> dict[str, str]:
        """Labels Prometheus adds to every alert it sends (Alertmanager routes on them too)."""
        return {str(k): str(v) for k, v in ((self.doc.get("global") or {}).get("external_labels") or {}).items()}

    def job_scrape_s(self, job: str) -> tuple[float, float]:
        """(scrape interval, scrape timeout) of one scrape job: its own settings, else the global ones."""
        entry: dict[str, Any] = next((j for j in self.doc.get("scrape_configs") or [] if j.get("job_name") == job), {})
        interval = prom_duration_s(str(entry["scrape_interval"])) if "scrape_interval" in entry else self.scrape_interval_s
        timeout = prom_duration_s(str(entry["scrape_timeout"])) if "scrape_timeout" in entry else self.scrape_timeout_s
        return interval, min(timeout, interval)     # Prometheus never lets a scrape outlast its interval

    def jobs(self) -> list[str]:
        return [str(j["job_name"]) for j in self.doc.get("scrape_configs") or [] if "job_name" in j]

    def targets(self) -> list[ScrapeTarget]:
        """Every static target of every scrape job."""
        return [ScrapeTarget(str(job["job_name"]), str(address))
                for job in self.doc.get("scrape_configs") or []
                for static in job.get("static_configs") or []
                for address in static.get("targets") or []]

    def rule_files(self) -> list[Path]:
        """The host files the ``rule_files`` globs match inside the container, as Prometheus globs them.

        A path without glob characters is resolved through the mounts on its own (a rule file may
        be bind-mounted alone); a glob lists its directory as the container sees it, the host
        directory mounted there and the files mounted into it one by one.
        """
        files: list[Path] = []
        for pattern in self._rule_patterns():
            directory, name = posixpath.split(pattern)
            if not any(c in name for c in _GLOB_META):
                path = mounted_path(self.spec, pattern)
                files += [path] if path.exists() else []
                continue
            entries = _directory_entries(self.spec, directory)
            files += [entries[n] for n in sorted(entries) if _glob_match(n, name)]
        return list(dict.fromkeys(files))

    def shipped_rule_files(self) -> list[Path]:
        """Every rule file in the directories ``rule_files`` points into, whether its glob matches or not."""
        found = {path for directory in {posixpath.dirname(p) for p in self._rule_patterns()}
                 for name, path in _directory_entries(self.spec, directory).items()
                 if name.endswith((".yml", ".yaml")) and path.is_file()}
        return sorted(found - {self.path})

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
