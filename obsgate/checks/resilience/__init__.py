"""The resilience suite's logic: crashes, restarts and re-creations, Loki's compactor and retention.

``crash`` (SIGKILL a service's process and start it again), ``lifecycle`` (restart,
stop/start, re-create, each timed; holding an address so a re-creation gets a new one),
``tsdb`` (what Prometheus had scraped, compared afterwards), ``loglines`` (whether
acknowledged Loki lines are all still there), ``silences`` (Alertmanager state),
``compactor`` (Loki's compaction and retention metrics, as 2.9 and 3.x name them) and
``retention`` (an accelerated-retention Loki: the flags appended to the production
command, the drill with its expired and recent lines, run in the background).
"""
