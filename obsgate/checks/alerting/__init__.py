"""The alert path rule -> Prometheus -> Alertmanager -> receiver, and the Loki-down outage."""
