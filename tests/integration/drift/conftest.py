"""Fixtures of the drift checks: what was approved (the compose file and its config files, as read by
obsgate.stackfiles) and the running programs as the gateway shows them with the read credential.

Every check asks only for what works in both modes (``gateway``, ``run_secrets``, ``gate_run``, the
service fixtures, whose ``.spec`` a ``--target`` keeps, and ``grafana_api``: the run's admin, or a
``--target``'s service-account token through its gateway), so the same checks judge the gate's own stack
and a deployment it did not start.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.clients import Gateway, LokiAPI, PrometheusAPI


@pytest.fixture
def read_loki(loki: ServiceHandle, gateway: Gateway, run_secrets: RunSecrets) -> Iterator[LokiAPI]:
    """Loki through nginx with the read credential (asks for ``loki``: not evaluated where it cannot run)."""
    api = gateway.loki(run_secrets.read)
    yield api
    api.close()


@pytest.fixture
def read_prometheus(prometheus: ServiceHandle, gateway: Gateway, run_secrets: RunSecrets) -> Iterator[PrometheusAPI]:
    """Prometheus through nginx with the read credential."""
    api = gateway.prometheus(run_secrets.read)
    yield api
    api.close()
