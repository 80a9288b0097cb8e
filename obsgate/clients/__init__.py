"""Talking to the stack: typed HTTP clients (one module per service), wire formats, probes.

``http`` (Endpoint, API, ServiceError: what every client raises for an error answer, naming the
service, the request, the status and the reason), ``loki``, ``prometheus``, ``alertmanager``, ``grafana``,
``gateway`` (nginx as clients reach it), ``logproto`` (Loki's protobuf push format),
``tlsprobe`` (which TLS versions and cipher suites a server accepts) and ``webhook`` (a harness-side
receiver for Alertmanager's notifications). Answers come back parsed into small frozen
dataclasses holding what the checks use, never as raw JSON.
"""

from obsgate.clients.alertmanager import AlertmanagerAPI
from obsgate.clients.gateway import Gateway
from obsgate.clients.grafana import GrafanaAPI
from obsgate.clients.http import API, Endpoint, ServiceError
from obsgate.clients.loki import LokiAPI
from obsgate.clients.prometheus import PrometheusAPI

__all__ = ["API", "AlertmanagerAPI", "Endpoint", "Gateway", "GrafanaAPI", "LokiAPI", "PrometheusAPI", "ServiceError"]
