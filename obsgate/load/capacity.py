"""Capacity: what this machine's Loki takes once the configured limits are out of the way.

The saturation run's first knee is the stack's as configured (today the tenant ingestion limit,
``limits_config.ingestion_rate_mb`` 16 MiB/s, trips first at ~15k lines/s of ~1 KiB). Its second
knee is that of an overlay Loki -- the same compose spec and loki.yml -- whose limits are lifted
by flags appended to its production command (a flag overrides the file, as ``obsgate.bringup.startup``
does for timing), pushed directly on its port 3100 so nginx's own ``limit_req`` (50 pushes/s) does
not speak for Loki. Between the two knees lies the headroom between config and hardware.
"""

from __future__ import annotations

import dataclasses

from obsgate.core.errors import InputError
from obsgate.stackfiles.compose import ServiceSpec

SUFFIX = "capacity"
# Each flag lifts one limit that answers 429 (or drops lines) before Loki runs out of CPU, memory or disk:
LIFTED_FLAGS = (
    "-distributor.ingestion-rate-limit-mb=100000",    # tenant rate (loki.yml ingestion_rate_mb 16): the first to trip
    "-distributor.ingestion-burst-size-mb=100000",    # its token bucket (ingestion_burst_size_mb 32)
    "-ingester.per-stream-rate-limit=100GB",          # one stream's rate (per_stream_rate_limit 12MB)
    "-ingester.per-stream-rate-limit-burst=100GB",    # and its burst (per_stream_rate_limit_burst 24MB)
    "-ingester.max-global-streams-per-user=0",        # active streams (max_global_streams_per_user 20000); 0: none
)


def lifted(spec: ServiceSpec) -> ServiceSpec:
    """Loki's compose spec with the lifted limits appended to its command (the config file untouched)."""
    if spec.command is None:
        raise InputError("the compose file", f"services.{spec.name}.command", "not set: no command to append the"
                         " capacity run's limit flags to", "spell out Loki's command, e.g. -config.file=...")
    return dataclasses.replace(spec, command=(*spec.command, *LIFTED_FLAGS))
