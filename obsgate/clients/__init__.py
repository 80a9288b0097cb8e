"""Talking to the stack: typed HTTP clients (one module per service), wire formats, probes.

``http`` (Endpoint, API), ``loki``, ``prometheus``, ``alertmanager``, ``grafana``,
``gateway`` (nginx as clients reach it), ``logproto`` (Loki's protobuf push format),
``tlsprobe`` (which TLS versions a server accepts) and ``webhook`` (a harness-side
receiver for Alertmanager's notifications).
"""

from obsgate.clients.alertmanager import AlertmanagerAPI
from obsgate.clients.gateway import Gateway
from obsgate.clients.grafana import GrafanaAPI
from obsgate.clients.http import API, Endpoint
from obsgate.clients.loki import LokiAPI
from obsgate.clients.prometheus import PrometheusAPI

__all__ = ["API", "AlertmanagerAPI", "Endpoint", "Gateway", "GrafanaAPI", "LokiAPI", "PrometheusAPI"]
