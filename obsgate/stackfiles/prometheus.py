"""prometheus.yml and its rule files as the compose prometheus service mounts them: the one reader of both.

Checks never repeat what the config says (scrape jobs, rule names, ``for:`` durations): the
static judgements and the live alerting checks read it here, each file parsed once, with the
line of every key for the findings that cite it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from obsgate.core.findings import shown
from obsgate.core.yamlio import YamlDoc, YamlFile
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import GivenFlag, flag, flag_value, given_flag, mounted_entries, mounted_glob, mounted_path

CONFIG_FLAGS = ("--config.file", "-config.file")
DEFAULT_CONFIG = "/etc/prometheus/prometheus.yml"
QUERY_TIMEOUT_DEFAULT = "2m"    # --query.timeout's default (cmd/prometheus/main.go)
# prometheus/common model.ParseDuration: each unit at most once, largest first.
_PROM_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
                            r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?")
_PROM_UNIT_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
_PROM_MAX_S = (2**63 - 1) / 1e9     # a time.Duration is int64 nanoseconds
_PROM_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_GLOB_META = "*?[\\"
# cmd/prometheus/main.go (2.x): defaultRetentionString = "15d", applied when no retention flag is given.
DEFAULT_RETENTION = "15d"
RETENTION_TIME, RETENTION_OLD, RETENTION_SIZE = (
    "storage.tsdb.retention.time", "storage.tsdb.retention", "storage.tsdb.retention.size")
_ZERO_SIZE = re.compile(r"^0+(?:\.0*)?[A-Za-z]*$")


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


@dataclass(frozen=True)
class TsdbRetention:
    """How long Prometheus keeps its TSDB blocks, from the flags of its command.

    As cmd/prometheus/main.go: ``retention.time`` wins over the deprecated ``retention``; with
    neither (or 0) and no ``retention.size`` the time defaults to 15d; with only a size there is
    no time limit at all (``seconds`` None) and the size alone decides.
    """

    time_flag: str                  # the flag that set the time: retention.time or the deprecated retention
    time: GivenFlag | None          # None: no time flag given (or 0)
    size: GivenFlag | None          # retention.size, when given and not 0
    seconds: float | None           # the time limit in force; None: none, only the size cap

    @property
    def shown(self) -> str:
        """The retention as a reader checks it: the flag or the default, and any size cap."""
        time = (f"--{self.time_flag}={self.time.value}" if self.time else
                f"no retention flag (Prometheus' default {DEFAULT_RETENTION})" if self.seconds is not None
                else "no time limit")
        return time + (f" and --{RETENTION_SIZE}={self.size.value}" if self.size else "")


def tsdb_retention(spec: ServiceSpec) -> TsdbRetention:
    """The TSDB retention the prometheus service's command sets (a value Prometheus rejects raises ValueError)."""
    return _resolved(lambda name: given_flag(spec, name))


def running_tsdb_retention(flags: Mapping[str, str]) -> TsdbRetention:
    """The TSDB retention a running Prometheus applies, from its flags (``GET /api/v1/status/flags``: every
    flag, unset ones as 0s / 0B), resolved as its main.go resolves them."""
    return _resolved(lambda name: GivenFlag(flags[name], None) if name in flags else None)


def _resolved(flag: Callable[[str], GivenFlag | None]) -> TsdbRetention:
    size = flag(RETENTION_SIZE)
    size = None if size is None or _ZERO_SIZE.match(size.value) else size
    for name in (RETENTION_TIME, RETENTION_OLD):
        chosen = flag(name)
        if chosen is not None and prom_duration_s(chosen.value) > 0:
            return TsdbRetention(name, chosen, size, prom_duration_s(chosen.value))
    return TsdbRetention(RETENTION_TIME, None, size, None if size else prom_duration_s(DEFAULT_RETENTION))


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
class DefinedRule:
    """A rule as its file defines it, alerting or recording (what ``GET /api/v1/rules`` must show loaded)."""

    kind: str                   # alerting | recording
    name: str                   # the alert's or the recorded series' name
    expr: str
    for_s: float                # 0 for a recording rule
    labels: dict[str, str]


@dataclass(frozen=True)
class DefinedGroup:
    name: str
    interval_s: float | None    # its own ``interval``; None: the global evaluation_interval applies
    rules: tuple[DefinedRule, ...]
    file: Path


@dataclass(frozen=True)
class RuleFile(YamlFile):
    """One Prometheus rule file, parsed once."""

    what = "Prometheus rule file"

    def _groups(self) -> list[dict[str, Any]]:
        return list(self.doc.get("groups") or [])

    def alert_rules(self) -> list[AlertRule]:
        """Every alerting rule of the file."""
        return [AlertRule(str(group["name"]), str(rule["alert"]), str(rule["expr"]),
                          prom_duration_s(str(rule.get("for", "0s"))), dict(rule.get("labels") or {}), self.path)
                for group in self._groups() for rule in group.get("rules") or [] if "alert" in rule]

    def groups(self) -> list[DefinedGroup]:
        """Every group with every rule, in file order (Prometheus evaluates them in this order)."""
        return [DefinedGroup(str(group["name"]),
                             prom_duration_s(str(group["interval"])) if group.get("interval") else None,
                             tuple(DefinedRule("alerting" if "alert" in rule else "recording",
                                               str(rule.get("alert") or rule.get("record")), str(rule.get("expr", "")),
                                               prom_duration_s(str(rule.get("for", "0s"))),
                                               {str(k): str(v) for k, v in (rule.get("labels") or {}).items()})
                                   for rule in group.get("rules") or []), self.path)
                for group in self._groups()]

    def rule_names(self) -> list[tuple[str, str]]:
        """(group, rule name) for every rule, alerting and recording alike."""
        return [(str(group["name"]), str(rule.get("alert") or rule.get("record")))
                for group in self._groups() for rule in group.get("rules") or []]


@dataclass(frozen=True)
class PrometheusConfig:
    """prometheus.yml as the compose prometheus service mounts it, and the rule files it loads."""

    path: Path
    doc: YamlDoc
    spec: ServiceSpec

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> PrometheusConfig:
        return cls.load(mounted_path(spec, flag_value(spec.command or (), CONFIG_FLAGS, DEFAULT_CONFIG)), spec)

    @classmethod
    def load(cls, path: Path, spec: ServiceSpec) -> PrometheusConfig:
        """The config at ``path`` on the host, which ``spec`` mounts."""
        return cls(path, YamlDoc.load(path, shown(path), "Prometheus config"), spec)

    @classmethod
    def loaded(cls, text: str, spec: ServiceSpec) -> PrometheusConfig:
        """The config a running Prometheus has loaded (``GET /api/v1/status/config``: its YAML, defaults filled in,
        relative paths joined to the config's directory), read by this same reader so both sides compare fact by fact."""
        container = flag_value(spec.command or (), CONFIG_FLAGS, DEFAULT_CONFIG)
        return cls(Path(container), YamlDoc.parse(text, "GET /api/v1/status/config"), spec)

    @property
    def container_path(self) -> str:
        """Where Prometheus reads this config inside the container."""
        return flag_value(self.spec.command or (), CONFIG_FLAGS, DEFAULT_CONFIG)

    @property
    def query_timeout(self) -> str | None:
        """``--query.timeout`` as the service's command gives it; None when unset (then 2m applies)."""
        return flag(self.spec, "query.timeout", "") or None

    def _rule_patterns(self) -> list[str]:
        """The ``rule_files`` entries as container paths: relative ones join the config file's directory."""
        base = posixpath.dirname(self.container_path)
        return [posixpath.normpath(posixpath.join(base, str(p))) for p in self.doc.get("rule_files") or []]

    def rule_file_patterns(self) -> list[str]:
        """The ``rule_files`` entries as Prometheus resolves them (container paths, globs kept)."""
        return self._rule_patterns()

    def alertmanager_urls(self) -> list[str]:
        """Where the notifier posts alerts, as ``GET /api/v1/alertmanagers`` lists them: per static target
        ``scheme://target/path_prefix/api/<api_version>/alerts`` (defaults http, /, v2)."""
        urls = []
        for am in (self.doc.get("alerting") or {}).get("alertmanagers") or []:
            prefix = posixpath.join("/", str(am.get("path_prefix") or "/"), f"api/{am.get('api_version') or 'v2'}/alerts")
            urls += [f"{am.get('scheme') or 'http'}://{target}{prefix}"
                     for static in am.get("static_configs") or [] for target in static.get("targets") or []]
        return urls

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
            if not any(c in posixpath.basename(pattern) for c in _GLOB_META):
                path = mounted_path(self.spec, pattern)
                files += [path] if path.exists() else []
                continue
            files += mounted_glob(self.spec, pattern)
        return list(dict.fromkeys(files))

    @cached_property
    def rules(self) -> tuple[RuleFile, ...]:
        """The rule files Prometheus loads, each parsed once."""
        return tuple(RuleFile.load(path) for path in self.rule_files())

    def shipped_rule_files(self) -> list[Path]:
        """Every rule file in the directories ``rule_files`` points into, whether its glob matches or not."""
        found = {path for directory in {posixpath.dirname(p) for p in self._rule_patterns()}
                 for name, path in mounted_entries(self.spec, directory).items()
                 if name.endswith((".yml", ".yaml")) and path.is_file()}
        return sorted(found - {self.path})

    def rule_groups(self) -> list[DefinedGroup]:
        """Every rule group the mounted rule files define, file by file."""
        return [group for file in self.rules for group in file.groups()]

    def alert_rules(self) -> list[AlertRule]:
        """Every alerting rule the mounted rule files define."""
        return [rule for file in self.rules for rule in file.alert_rules()]
