"""Only nginx is reachable from the host; Loki, Prometheus, Alertmanager and Grafana only through it
or on the stack's internal network.

Checked on the running containers (their port bindings) and by connecting to the
services' own ports on 127.0.0.1; on a --target, by connecting to them on the target's host.
"""

from __future__ import annotations

import socket
from typing import Any

import docker
import pytest

from obsgate.bringup.stack import ServiceHandle, Stack, State
from obsgate.core.recorder import GateRecorder
from obsgate.run import GateRun

EDGE = "nginx"
LOOPBACK = ("127.0.0.1", "::1")


def bindings(handle: ServiceHandle) -> list[dict[str, Any]]:
    """The container's host port bindings: [{container, host_ip, host_port}]."""
    ports = handle.container.attrs["NetworkSettings"]["Ports"] or {}
    return [{"container": port, "host_ip": b["HostIp"], "host_port": int(b["HostPort"])}
            for port, binds in ports.items() for b in binds or []]


def answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def owner(client: docker.DockerClient, port: int) -> str:
    """Which container publishes host port ``port`` (if any): to tell our leak from a neighbour's."""
    for container in client.containers.list():
        for binds in (container.attrs["NetworkSettings"]["Ports"] or {}).values():
            if any(int(b["HostPort"]) == port for b in binds or []):
                return container.name
    return "a process on this host outside Docker"


def _target_ports(host: str, gate_run: GateRun, gate: GateRecorder) -> list[str]:
    """A target's services' own ports (the compose file's ``expose``) must not answer on its host."""
    probed = {f"{host}:{port} ({name})": answers(port, host) for name, spec in gate_run.project.services.items()
              if name != EDGE for port in spec.expose}
    gate.evidence["connection attempts"] = {where: "answers" if up else "refused" for where, up in probed.items()}
    return [f"{where} answers" for where, up in probed.items() if up]


@pytest.mark.gate(category="Security", weight=4)
def test_only_nginx_is_published(nginx: ServiceHandle, gate_run: GateRun, gate: GateRecorder,
                                 request: pytest.FixtureRequest) -> None:
    """A Loki, Prometheus, Alertmanager or Grafana port on the host bypasses nginx's TLS and auth."""
    if gate_run.target is not None:
        problems = _target_ports(nginx.published(443)[0], gate_run, gate)
        assert not problems, "services reachable on the target's host past nginx: " + "; ".join(problems)
        return
    stack: Stack = request.getfixturevalue("stack")
    running = [h for h in stack if h.state in (State.READY, State.STARTED)]
    gate.evidence["not running here"] = {h.name: h.reason for h in stack if h not in running}
    problems = []
    for handle in running:
        bound = bindings(handle)
        gate.evidence[f"{handle.name} bindings"] = bound
        if handle.name != EDGE and bound:
            problems.append(f"{handle.name} publishes {bound} (compose ports: {list(handle.spec.ports)})")
        problems += [f"{handle.name} binds {b['container']} on non-loopback {b['host_ip'] or '0.0.0.0'}"
                     for b in bound if b["host_ip"] not in LOOPBACK]
    # Connection attempts: the services' own ports must not answer on the host's loopback.
    client, ours = gate_run.docker(), {h.container.name for h in running}
    probed = {}
    for handle in stack:
        for port in () if handle.name == EDGE else handle.spec.expose:
            where = f"127.0.0.1:{port} ({handle.name})"
            if not answers(port):
                probed[where] = "refused"
                continue
            who = owner(client, port)
            probed[where] = f"answers, bound by {who}"
            if who in ours:
                problems.append(f"{handle.name}'s port {port} answers on 127.0.0.1 (bound by {who})")
    gate.evidence["connection attempts"] = probed
    # nginx's published ports must answer (else the checks above proved nothing).
    for spec in nginx.spec.ports:
        host, host_port = nginx.published(spec.container_port, spec.protocol)
        if not answers(host_port):
            problems.append(f"nginx's published {spec.container_port} ({host}:{host_port}) does not answer")
    assert not problems, "services reachable from the host past nginx: " + "; ".join(problems)
