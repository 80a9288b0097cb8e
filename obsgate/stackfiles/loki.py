"""Loki's config: where the compose loki service reads its file, the values Loki uses where a config is
silent, and the effective config a running Loki reports (``GET /config``), read by the one YAML loader.

The static judgements read the mounted file (obsgate.stackfiles.project) and the effective config
with the same functions; the live checks read the limits a running Loki uses from its ``/config``.
"""

from __future__ import annotations

from typing import Any

from obsgate.core.yamlio import YamlDoc

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
    # pkg/validation/limits.go: l.MaxQueryLookback.Set("0s") (0 = no limit), l.MaxQueryLength.Set("721h").
    "limits_config.max_query_lookback": "0s",
    "limits_config.max_query_length": "721h",
}


def value(doc: YamlDoc, key: str) -> Any:
    """``key`` as Loki runs it: the config's value, else Loki's built-in one."""
    return doc.get(key, DEFAULTS.get(key))


def effective(text: str, source: str) -> YamlDoc:
    """The body of a running Loki's ``GET /config`` (every value explicit, defaults included); ``source`` names it."""
    return YamlDoc.parse(text, f"GET /config of {source}")
