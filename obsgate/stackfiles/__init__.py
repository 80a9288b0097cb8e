"""Facts read from the stack's own files: one reader per file (compose, nginx, Loki, Prometheus, Alertmanager,
Grafana), each parsing once, for the static judgements and the live checks alike."""
