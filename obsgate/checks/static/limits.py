"""The limits and retentions the compose file declares, held to the policy: every service's memory limit
and their sum (the seed's < 4 GB stack), how long Prometheus keeps metrics and Alertmanager its
alert state. Loki's retention and query horizon are judged in obsgate.checks.static.loki, for the file
and the effective config alike.

The facts come from the readers (obsgate.stackfiles): compose for memory limits, the services'
command flags for the retentions, with each program's default where a flag is absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from obsgate.checks.static.loki import Measured
from obsgate.core.findings import ConfigUnreadable, Finding
from obsgate.core.policy import format_number
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.alertmanager import RETENTION_FLAG, DataRetention, data_retention, repeat_intervals
from obsgate.stackfiles.compose import ServiceSpec, memory_bytes
from obsgate.stackfiles.mounts import GivenFlag
from obsgate.stackfiles.prometheus import RETENTION_TIME, TsdbRetention, tsdb_retention

R = TypeVar("R")

GIB = 1024**3
MEMORY_FIX = ("lower the services' deploy.resources.limits.memory until they add up to targets.stack_memory_limit_bytes "
              "(or raise the budget with the seed review)")
METRICS_FIX = f"set --{RETENTION_TIME} in services.prometheus.command to at least targets.metrics_retention_h"
ALERT_STATE_FIX = (f"set --{RETENTION_FLAG} in services.alertmanager.command to at least "
                   "targets.alert_state_retention_h (a Go duration such as 120h: no d)")


def _gib(size: float) -> str:
    return f"{size / GIB:.2f}".rstrip("0").rstrip(".") + " GiB"


def memory_key(doc: YamlDoc, service: str) -> str:
    """Where the service's memory limit is written (or belongs): ``mem_limit`` or ``deploy.resources.limits.memory``."""
    if doc.get(f"services.{service}.mem_limit") is not None:
        return f"services.{service}.mem_limit"
    return f"services.{service}.deploy.resources.limits.memory"


def command_key(doc: YamlDoc, service: str, given: GivenFlag | None) -> str:
    """The command argument that holds a flag, to cite its line (the command itself when absent or a string)."""
    key = f"services.{service}.command"
    if given is None or given.index is None or not isinstance(doc.get(key), list):
        return key
    return f"{key}[{given.index}]"


def _as_started(compose: YamlDoc, spec: ServiceSpec, read: Callable[[ServiceSpec], R], program: str, fix: str) -> R:
    """``read(spec)``; a value the program refuses at start is the check's finding, not a crash of the check."""
    try:
        return read(spec)
    except ValueError as exc:
        raise ConfigUnreadable(compose.finding(f"services.{spec.name}.command", f"{exc}: {program} refuses to start",
                                               fix)) from None


def prometheus_retention(compose: YamlDoc, spec: ServiceSpec) -> TsdbRetention:
    """The TSDB retention of the prometheus service."""
    return _as_started(compose, spec, tsdb_retention, "Prometheus", METRICS_FIX)


def alertmanager_retention(compose: YamlDoc, spec: ServiceSpec) -> DataRetention:
    """The data retention of the alertmanager service."""
    return _as_started(compose, spec, data_retention, "Alertmanager", ALERT_STATE_FIX)


def memory_limits(doc: YamlDoc, services: Mapping[str, ServiceSpec]) -> list[Finding]:
    """Every service has a memory limit: without one a leak or a query storm takes the whole host."""
    return [
        doc.finding(memory_key(doc, name), f"{name} has no memory limit: it may take all of the host's memory "
                    "(and the other services with it)",
                    f"set services.{name}.deploy.resources.limits.memory (the services' sum within targets "
                    "stack_memory_limit_bytes)")
        for name, spec in services.items() if spec.mem_limit is None
    ]


def memory_budget(services: Mapping[str, ServiceSpec]) -> Measured:
    """The sum of the services' memory limits: the most the stack can take, held to the seed's stack budget.

    A service without a limit adds nothing here; test_compose_services_have_memory_limits fails it.
    """
    limited = {name: memory_bytes(spec.mem_limit) for name, spec in services.items() if spec.mem_limit is not None}
    total = sum(limited.values())
    terms = " + ".join(f"{name} {_gib(size)}" for name, size in limited.items()) or "no limits"
    unlimited = [name for name, spec in services.items() if spec.mem_limit is None]
    note = f" (no limit, not counted: {', '.join(unlimited)})" if unlimited else ""
    arithmetic = f"services.*.deploy.resources.limits.memory: {terms} = {_gib(total)} ({format_number(total)} B){note}"
    return Measured("services", total, arithmetic)


def metrics_retention(compose: YamlDoc, retention: TsdbRetention) -> Measured:
    """How long Prometheus keeps metrics, in hours, as its compose command sets it."""
    key = command_key(compose, "prometheus", retention.time)
    return _metrics_hours(key, key, retention)


def running_metrics_retention(retention: TsdbRetention, source: str) -> Measured:
    """How long a running Prometheus keeps metrics, in hours, from the flags it reports (``source`` names it)."""
    return _metrics_hours(f"--{retention.time_flag}", f"GET /api/v1/status/flags of {source}", retention)


def _metrics_hours(key: str, where: str, retention: TsdbRetention) -> Measured:
    """A size cap alone keeps no promised time at all: 0 h."""
    if retention.seconds is None:
        return Measured(key, 0.0, f"{where}: {retention.shown}: the size cap alone decides how long metrics last (that "
                        "depends on the series ingested), so no time is promised: 0 h")
    hours = retention.seconds / 3600
    note = " (the size cap may delete earlier)" if retention.size else ""
    return Measured(key, hours, f"{where}: {retention.shown} = {format_number(hours)} h{note}")


def alert_state_retention(compose: YamlDoc, retention: DataRetention) -> Measured:
    """How long Alertmanager keeps expired silences and its notification log, in hours."""
    hours = retention.seconds / 3600
    key = command_key(compose, "alertmanager", retention.flag)
    return Measured(key, hours, f"{key}: {retention.shown} = {format_number(hours)} h")


def repeats_within_retention(compose: YamlDoc, retention: DataRetention, config: YamlDoc) -> list[Finding]:
    """No route repeats less often than Alertmanager remembers it notified: past the retention the
    notification log has forgotten, and Alertmanager says so at start ("repeat_interval is greater than
    the data retention period")."""
    key = command_key(compose, "alertmanager", retention.flag)
    return [
        config.finding(route, f"repeat_interval {format_number(seconds / 3600)} h is longer than {retention.shown} "
                       f"({compose.name}:{compose.line(key)} {key}): the notification log forgets before the repeat, "
                       "so notifications repeat more often than configured",
                       f"raise --{RETENTION_FLAG} above {format_number(seconds / 3600)} h or shorten repeat_interval")
        for route, seconds in repeat_intervals(config) if seconds > retention.seconds
    ]
