"""alertmanager.yml as the compose alertmanager service mounts it: the one reader of the file, parsed once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from obsgate.core.yamlio import YamlDoc, YamlFile
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import GivenFlag, flag_value, given_flag, mounted_path
from obsgate.stackfiles.prometheus import prom_duration_s

CONFIG_FLAGS = ("--config.file", "-config.file")
DEFAULT_CONFIG = "/etc/alertmanager/alertmanager.yml"
# cmd/alertmanager/main.go: kingpin.Flag("data.retention", "How long to keep data for.").Default("120h").Duration()
RETENTION_FLAG, DEFAULT_RETENTION = "data.retention", "120h"
# config/config.go DefaultRouteOpts: a root route without repeat_interval repeats every 4h.
DEFAULT_REPEAT_INTERVAL = "4h"
# Go's time.ParseDuration (the flag is a time.Duration, not Prometheus' model.Duration: no d, w or y).
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_duration_s(text: str) -> float:
    """A Go duration (``120h``, ``1h30m``, ``1.5h``, a bare ``0``) in seconds; ValueError on anything else (``5d``)."""
    body = text.lstrip("+")
    if body == "0":
        return 0.0
    parts = _GO_DURATION.findall(body)
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"not a Go duration: {text!r} (units ns, us, ms, s, m, h)")
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class DataRetention:
    """How long Alertmanager keeps expired silences and its notification log (``--data.retention``)."""

    flag: GivenFlag | None          # None: not given, the default applies
    seconds: float

    @property
    def shown(self) -> str:
        given = self.flag.value if self.flag else f"{DEFAULT_RETENTION} (not given: Alertmanager's default)"
        return f"--{RETENTION_FLAG}={given}"


def data_retention(spec: ServiceSpec) -> DataRetention:
    """The retention the alertmanager service's command sets (a value Alertmanager rejects raises ValueError)."""
    given = given_flag(spec, RETENTION_FLAG)
    return DataRetention(given, go_duration_s(given.value if given else DEFAULT_RETENTION))


def repeat_intervals(doc: YamlDoc) -> list[tuple[str, float]]:
    """(dotted key, seconds) of every repeat_interval the route tree sets; the root's default when it sets none
    (children inherit, so these are all the values in force)."""
    found: list[tuple[str, float]] = []

    def walk(node: Mapping[str, Any], key: str) -> None:
        if "repeat_interval" in node:
            found.append((f"{key}.repeat_interval", prom_duration_s(str(node["repeat_interval"]))))
        for i, child in enumerate(node.get("routes") or []):
            if isinstance(child, Mapping):
                walk(child, f"{key}.routes[{i}]")

    root = doc.get("route") or {}
    if "repeat_interval" not in root:
        found.append(("route", prom_duration_s(DEFAULT_REPEAT_INTERVAL)))
    walk(root, "route")
    return found


@dataclass(frozen=True)
class AlertmanagerConfig(YamlFile):
    """alertmanager.yml as the compose alertmanager service mounts it."""

    what = "Alertmanager config"

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> AlertmanagerConfig:
        return cls.load(mounted_path(spec, flag_value(spec.command or (), CONFIG_FLAGS, DEFAULT_CONFIG)))

    def slack_channels(self, receiver: str) -> list[str]:
        """The Slack channels a receiver posts to (empty for an unknown receiver)."""
        for entry in self.doc.get("receivers") or []:
            if entry.get("name") == receiver:
                return [str(c.get("channel", "")) for c in entry.get("slack_configs") or []]
        return []
