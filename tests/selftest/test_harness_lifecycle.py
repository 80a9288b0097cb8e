"""The harness against real containers: clients follow a service through restart and
re-creation, and a service is reached only the ways the compose file allows."""

from __future__ import annotations

from obsgate.bringup.stack import ServiceHandle
from obsgate.clients import Gateway, PrometheusAPI


def test_prometheus_client_follows_a_recreated_container(prometheus: ServiceHandle,
                                                         prometheus_api: PrometheusAPI) -> None:
    before = prometheus.ip
    assert prometheus_api.ready().status_code == 200
    prometheus.recreate()
    assert prometheus_api.ready().status_code == 200
    assert prometheus.ip != before or prometheus.epoch > 0


def test_gateway_follows_nginx_restart_to_its_new_published_port(nginx: ServiceHandle, gateway: Gateway) -> None:
    api = gateway.api()
    assert api.get("/").status_code in (200, 302, 502)
    nginx.restart()
    assert api.get("/").status_code in (200, 302, 502)
    assert gateway.https_url().startswith("https://127.0.0.1:")


def test_only_published_ports_are_bound_and_only_on_loopback(nginx: ServiceHandle, prometheus: ServiceHandle) -> None:
    bound = nginx.container.attrs["NetworkSettings"]["Ports"]
    assert {b["HostIp"] for bindings in bound.values() if bindings for b in bindings} == {"127.0.0.1"}
    assert not any(prometheus.container.attrs["NetworkSettings"]["Ports"].values())
