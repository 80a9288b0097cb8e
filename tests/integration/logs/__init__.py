"""Logs in and out of Loki through the gateway (seed: ingestion, search, freshness, rejections, restart)."""
