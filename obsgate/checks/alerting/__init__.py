"""Alerting end to end: ``alertpath`` (the test alert on an overlay stack), ``outage`` (the real LokiDown
page), ``phases`` (a trip timed phase by phase), ``routing`` (Alertmanager's route tree), ``slack``
(payloads as the receiver got them), ``monitor`` (scrape targets and rules running)."""
