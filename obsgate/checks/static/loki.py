"""Loki config policy: storage schema, retention by the compactor, ingestion sizing, query limits.

The same functions judge the file in the repository and the effective config a running
Loki reports on ``GET /config`` (there every value is explicit, defaults included), both read
by obsgate.stackfiles.loki.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from obsgate.checks.static.base import on_persistent
from obsgate.core.findings import Finding
from obsgate.core.policy import Target, format_number
from obsgate.core.results import Judgement
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.loki import value
from obsgate.stackfiles.prometheus import prom_duration_s

MIB = 1_048_576  # Loki's *_mb limits are MiB (bytesInMB = 1048576 in pkg/validation)
DELETE_STORE_SINCE = (3, 0, 0)
QUERY_LIMITS = ("max_query_length", "max_query_series", "max_entries_limit_per_query", "query_timeout")
# How far back a query can reach: lookback from now, the length of its range, and 2.x's store-wide
# lookback (removed in 3.0; this stack does not set it, a variant might). 0 = no limit.
HORIZON_LIMITS = ("limits_config.max_query_lookback", "limits_config.max_query_length",
                  "chunk_store_config.max_look_back_period")
# Keys whose effective value (GET /config) must equal what the file says.
POLICY_KEYS = (
    "compactor.retention_enabled",
    "compactor.working_directory",
    "compactor.delete_request_store",
    "limits_config.retention_period",
    "limits_config.reject_old_samples",
    "limits_config.reject_old_samples_max_age",
    "limits_config.ingestion_rate_mb",
    "limits_config.ingestion_burst_size_mb",
    *(f"limits_config.{k}" for k in QUERY_LIMITS),
    "limits_config.max_query_lookback",
)


def parse_duration(raw: Any) -> float | None:
    """Seconds in a Loki duration (``720h``, ``30d``, ``1w``); None when ``raw`` is not one."""
    try:
        return prom_duration_s(str(raw))
    except ValueError:
        return None


def _seconds(doc: YamlDoc, key: str) -> float:
    seconds = parse_duration(value(doc, key))
    return 0.0 if seconds is None else seconds


@dataclass(frozen=True)
class Measured:
    """A number the policy judges, the config key it comes from and how it was derived."""

    key: str
    value: float
    arithmetic: str


def schema(doc: YamlDoc) -> list[Finding]:
    """The period in force from now on stores with tsdb, schema v13, 24h index tables."""
    configs = doc.get("schema_config.configs")
    if not isinstance(configs, list) or not configs:
        return [
            doc.finding(
                "schema_config.configs",
                "no schema period defined",
                "add a period with store: tsdb, schema: v13, index.period: 24h",
            )
        ]
    i, latest = max(enumerate(configs), key=lambda e: str(e[1].get("from", "")) if isinstance(e[1], dict) else "")
    key = f"schema_config.configs[{i}]"
    out = []
    store, version = latest.get("store"), latest.get("schema")
    if store != "tsdb" or version != "v13":
        out.append(
            doc.finding(
                f"{key}.store",
                f"latest schema period uses store {store!r} with schema "
                f"{version!r}: deprecated, and Loki 3.x needs tsdb + v13 for "
                "structured metadata",
                "add a new period from a future date with store: tsdb, schema: v13 (keep the old period for existing data)",
            )
        )
    period = (latest.get("index") or {}).get("period")
    if parse_duration(period or "") != 86400:
        out.append(
            doc.finding(
                f"{key}.index.period",
                f"index period {period or 'unset'} is not 24h: Loki rejects it for boltdb-shipper/tsdb retention",
                "set index: {prefix: index_, period: 24h}",
            )
        )
    return out


def compactor(doc: YamlDoc, persistent: Sequence[PurePosixPath], version: tuple[int, int, int] | None) -> list[Finding]:
    """Retention is applied by the compactor, working on the volume, with a delete-request store."""
    out = []
    if value(doc, "compactor.retention_enabled") is not True:
        out.append(
            doc.finding(
                "compactor.retention_enabled",
                "retention is off: retention_period is never applied and the disk fills",
                "set compactor.retention_enabled: true",
            )
        )
    workdir = doc.get("compactor.working_directory") or (
        f"{doc.get('common.path_prefix')}/compactor" if doc.get("common.path_prefix") else None
    )
    if not workdir:
        out.append(
            doc.finding(
                "compactor.working_directory",
                "no compactor working directory",
                "set compactor.working_directory under the data volume",
            )
        )
    elif not on_persistent(str(workdir), persistent):
        out.append(
            doc.finding(
                "compactor.working_directory",
                f"{workdir} is not on a persistent volume: pending deletes and marks are lost on re-creation",
                "put it under the directory the data volume is mounted at",
            )
        )
    needs_store = version is None or version >= DELETE_STORE_SINCE
    if needs_store and value(doc, "compactor.retention_enabled") is True and not doc.get("compactor.delete_request_store"):
        shown_version = ".".join(map(str, version)) if version else "an unknown version"
        out.append(
            doc.finding(
                "compactor.delete_request_store",
                f"retention on {shown_version} without delete_request_store: Loki >= 3.0 refuses to start",
                "set compactor.delete_request_store to the object store (e.g. filesystem)",
            )
        )
    return out


def data_dirs(doc: YamlDoc, persistent: Sequence[PurePosixPath]) -> list[Finding]:
    """Chunks, index, WAL and the compactor all live on the persistent volume."""
    keys = (
        "common.path_prefix",
        "common.storage.filesystem.chunks_directory",
        "storage_config.filesystem.directory",
        "storage_config.tsdb_shipper.active_index_directory",
        "ingester.wal.dir",
    )
    return [
        doc.finding(
            k,
            f"{doc.get(k)} is not on a persistent volume: lost when the container is re-created",
            "move it under the directory the data volume is mounted at",
        )
        for k in keys
        if doc.get(k) and not on_persistent(str(doc.get(k)), persistent)
    ]


def retention(doc: YamlDoc) -> Measured:
    """Configured retention in hours (0 = retention off: logs are never deleted)."""
    raw = value(doc, "limits_config.retention_period")
    hours = _seconds(doc, "limits_config.retention_period") / 3600
    note = " (0 disables deletion: logs are kept until the disk fills)" if hours == 0 else ""
    return Measured("limits_config.retention_period", hours, f"retention_period {raw} = {format_number(hours)} h{note}")


def ingestion_rate(doc: YamlDoc, line_bytes: float) -> Measured:
    """Lines per second the sustained ingestion limit admits at the policy's average line size."""
    mib = float(value(doc, "limits_config.ingestion_rate_mb"))
    lines = mib * MIB / line_bytes
    return Measured(
        "limits_config.ingestion_rate_mb",
        lines,
        f"ingestion_rate_mb {format_number(mib)} x {MIB:,} B/MiB / {format_number(line_bytes)} B/line "
        f"= {format_number(round(lines))} lines/s",
    )


def ingestion_burst(doc: YamlDoc, lines_per_s: float, line_bytes: float) -> Measured:
    """How many seconds of the target throughput the burst bucket holds (the burst factor)."""
    mib = float(value(doc, "limits_config.ingestion_burst_size_mb"))
    need = lines_per_s * line_bytes
    factor = mib * MIB / need
    return Measured(
        "limits_config.ingestion_burst_size_mb",
        factor,
        f"ingestion_burst_size_mb {format_number(mib)} x {MIB:,} B/MiB / ({format_number(lines_per_s)} "
        f"lines/s x {format_number(line_bytes)} B/line = {format_number(need)} B/s) "
        f"= {factor:.2f}x the target rate",
    )


def judged(doc: YamlDoc, measured: Measured, target: Target, fix: str) -> list[Finding]:
    """A finding when ``measured`` misses ``target`` (soft misses included: this is strict mode)."""
    if target.judge(measured.value) is Judgement.MET:
        return []
    return [doc.finding(measured.key, f"{measured.arithmetic}: {target.explain(measured.value)}", fix)]


def old_samples(doc: YamlDoc) -> list[Finding]:
    """Old samples are rejected, and never older than what retention keeps."""
    if value(doc, "limits_config.reject_old_samples") is not True:
        return [
            doc.finding(
                "limits_config.reject_old_samples",
                "old samples are accepted at any age",
                "set reject_old_samples: true with reject_old_samples_max_age <= retention_period",
            )
        ]
    max_age, kept = _seconds(doc, "limits_config.reject_old_samples_max_age"), _seconds(doc, "limits_config.retention_period")
    if kept and max_age > kept:
        return [
            doc.finding(
                "limits_config.reject_old_samples_max_age",
                f"accepts samples {format_number(max_age / 3600)} h old but retention keeps only "
                f"{format_number(kept / 3600)} h: they are written and then deleted",
                "set reject_old_samples_max_age <= retention_period",
            )
        ]
    return []


def query_limits(doc: YamlDoc) -> list[Finding]:
    """Query length, series, entries and timeout are bounded explicitly (0 = unlimited)."""
    out = []
    for name in QUERY_LIMITS:
        key = f"limits_config.{name}"
        raw = doc.get(key)
        number = parse_duration(raw) if raw is not None else None
        if raw is None or number == 0:
            problem = "not set (Loki's default applies unreviewed)" if raw is None else "0 disables the limit"
            out.append(doc.finding(key, problem, f"set {key} to a reviewed bound"))
    return out


def query_horizon(doc: YamlDoc, retention_target: Target) -> list[Finding]:
    """Queries reach back as far as logs are kept: neither the lookback nor the query length may be shorter
    than the policy's retention (retention_h) or the retention_period configured, whichever is longer;
    otherwise logs are kept (and paid for) that no query can read. 0 disables a limit (no bound)."""
    kept = _seconds(doc, "limits_config.retention_period") / 3600
    need = max(retention_target.value, kept)
    why = (f"retention_period {value(doc, 'limits_config.retention_period')} = {format_number(kept)} h"
           if kept > retention_target.value else f"target retention_h {format_number(retention_target.value)} h")
    out = []
    for key in HORIZON_LIMITS:
        name = key.rpartition(".")[2]
        raw = value(doc, key)
        hours = _seconds(doc, key) / 3600
        if hours == 0 or hours >= need:
            continue
        shown_raw = raw if doc.get(key) is not None else f"{raw} (not set: Loki's default)"
        out.append(doc.finding(
            key, f"{name} {shown_raw} = {format_number(hours)} h < {why}: logs older than that are kept but no "
                 "query can reach them",
            f"set {key} >= {format_number(need)}h (or 0 for no limit)"))
    return out


def _normalised(raw: Any) -> Any:
    if isinstance(raw, bool) or raw is None:
        return raw
    seconds = parse_duration(raw)
    return seconds if seconds is not None else str(raw)


def took_effect(file: YamlDoc, effective: YamlDoc) -> list[Finding]:
    """Each policy key the file sets has the same value in the running Loki."""
    out = []
    for key in POLICY_KEYS:
        wanted = file.get(key)
        if wanted is None:
            continue
        got = effective.get(key)
        if _normalised(wanted) != _normalised(got):
            out.append(
                file.finding(
                    key,
                    f"the file says {wanted!r} but the running Loki uses {got!r}",
                    "move the key to where this Loki version reads it (see GET /config)",
                )
            )
    return out
