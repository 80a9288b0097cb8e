"""Loki's config: where the compose loki service reads its file, the values Loki uses where a config is
silent, and the effective config a running Loki reports (``GET /config``), read by the one YAML loader.

The static judgements read the mounted file (obsgate.stackfiles.project) and the effective config
with the same functions; the live checks read the limits a running Loki uses from its ``/config``.
"""

from __future__ import annotations

from typing import Any

from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.prometheus import prom_duration_s

CONFIG_FLAGS = ("-config.file", "--config.file")
DEFAULT_CONFIG = "/etc/loki/local-config.yaml"  # the official image's CMD
# Loki's built-in values for keys a file may leave out (2.9 and 3.x agree on these).
DEFAULTS: dict[str, Any] = {
    "limits_config.ingestion_rate_mb": 4,
    "limits_config.ingestion_burst_size_mb": 6,
    "limits_config.retention_period": "0s",
    "limits_config.reject_old_samples": True,
    "limits_config.reject_old_samples_max_age": "168h",
    "compactor.retention_enabled": False,
    "limits_config.deletion_mode": "filter-and-delete",     # delete requests are served once retention is on
    "ruler.enable_api": True,
    # Timeouts on the request paths (configuration reference, 2.9.x and 3.x alike; see docs/timeouts.md).
    "server.http_server_read_timeout": "30s",
    "server.http_server_write_timeout": "30s",
    "limits_config.query_timeout": "1m",
    "querier.engine.timeout": "5m",        # 2.x only: the LogQL engine's own timeout
    "querier.tail_max_duration": "1h",
    "ingester_client.remote_timeout": "5s",
    # pkg/validation/limits.go: l.MaxQueryLookback.Set("0s") (0 = no limit), l.MaxQueryLength.Set("721h").
    "limits_config.max_query_lookback": "0s",
    "limits_config.max_query_length": "721h",
    # pkg/validation/limits.go (2.9.3, 3.4.6): -validation.max-entries-limit, 5000.
    "limits_config.max_entries_limit_per_query": 5000,
}
# Loki writes a websocket ping to every live tail each second (pkg/querier/http.go wsPingPeriod, hard-coded).
TAIL_PING = "1s"
UNIFIED_TIMEOUT_SINCE = (3, 0, 0)


def value(doc: YamlDoc, key: str) -> Any:
    """``key`` as Loki runs it: the config's value, else Loki's built-in one."""
    return doc.get(key, DEFAULTS.get(key))


def effective(text: str, source: str) -> YamlDoc:
    """The body of a running Loki's ``GET /config`` (every value explicit, defaults included); ``source`` names it."""
    return YamlDoc.parse(text, f"GET /config of {source}")


def seconds(raw: Any) -> float:
    """A Loki duration (``70s``, ``1m10s``, ``720h``) in seconds; ValueError when ``raw`` is not one."""
    return prom_duration_s(str(raw))


def query_timeout_key(doc: YamlDoc, version: tuple[int, int, int] | None) -> str:
    """The key whose value bounds a query in this Loki version.

    ``limits_config.query_timeout``; but 2.x (AdjustForTimeoutsMigration) takes a per-tenant
    timeout equal to its 1m default as unset and applies ``querier.engine.timeout`` (5m by default)
    instead. A version that cannot be told is taken as 3.x.
    """
    key = "limits_config.query_timeout"
    try:
        is_default = seconds(value(doc, key)) == seconds(DEFAULTS[key])
    except ValueError:
        return key          # no duration at all: Loki refuses the file, whichever key would count
    if version is not None and version < UNIFIED_TIMEOUT_SINCE and is_default:
        return "querier.engine.timeout"
    return key
