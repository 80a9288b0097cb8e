"""Fixtures of the edge checks (nginx: CORS, auth, exposure, TLS, rate limits, Grafana access).

Expectations come from the nginx.conf the compose file mounts (``nginx_conf``), never
from copies here. ``bare_nginx`` is a second, nginx-only stack of this run: the real
nginx and config with no upstream to reach, for the answers (502, 429) that must not
be provoked on the run's shared stack.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obsgate.bringup.overlay import overlay_stack
from obsgate.bringup.secrets import RunSecrets
from obsgate.checks.edge.browser import Browser, PageServer, browser_hosts, find_chromium
from obsgate.checks.edge.probes import unlisted_origins
from obsgate.clients import API, Gateway
from obsgate.run import GateRun
from obsgate.stackfiles.nginx import CorsAllowList, NginxConf


@pytest.fixture(scope="session")
def nginx_conf(gate_run: GateRun) -> NginxConf:
    return NginxConf.of_service(gate_run.project.services["nginx"])


@pytest.fixture(scope="session")
def cors_allow_list(nginx_conf: NginxConf) -> CorsAllowList:
    return nginx_conf.cors_allow_list()


@pytest.fixture(scope="session")
def bare_nginx(gate_run: GateRun, run_secrets: RunSecrets) -> Iterator[Gateway]:
    """The run's nginx image and config alone on its own network: every upstream is unreachable."""
    with overlay_stack(gate_run, "edge", {"nginx": gate_run.project.services["nginx"]}) as stack:
        yield Gateway(stack["nginx"].require(), run_secrets)


@pytest.fixture
def anon(gateway: Gateway) -> Iterator[API]:
    """The gateway without credentials."""
    api = gateway.api()
    yield api
    api.close()


@pytest.fixture
def as_push(gateway: Gateway, run_secrets: RunSecrets) -> Iterator[API]:
    """The gateway with the push credential (the one browsers carry)."""
    api = gateway.api(run_secrets.push)
    yield api
    api.close()


@pytest.fixture
def as_read(gateway: Gateway, run_secrets: RunSecrets) -> Iterator[API]:
    """The gateway with the read credential (operators, Grafana users of the API)."""
    api = gateway.api(run_secrets.read)
    yield api
    api.close()


@pytest.fixture(scope="session")
def browser(cors_allow_list: CorsAllowList, run_secrets: RunSecrets,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Headless Chromium that can open pages on the listed origins and on one unlisted origin."""
    binary = find_chromium()
    hosts = [*browser_hosts(cors_allow_list.exact), *browser_hosts(unlisted_origins(cors_allow_list))[:1]]
    pages = PageServer(hosts, tmp_path_factory.mktemp("pages"))
    try:
        yield Browser(binary, pages, hosts, [(run_secrets.root / "nginx" / "server.crt").read_bytes()],
                      tmp_path_factory.mktemp("browser"))
    finally:
        pages.close()
