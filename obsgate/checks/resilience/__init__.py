"""The resilience suite's logic: crashes (SIGKILL and WAL replay), Loki's compactor and retention.

``crash`` (kill a service's process and start it again), ``tsdb`` (what Prometheus had
scraped, compared after a crash), ``compactor`` (Loki's compaction and retention metrics,
2.9 and 3.x names), ``retention`` (an accelerated-retention Loki: the flags appended to the
production command, and the old/recent lines it is judged by).
"""
