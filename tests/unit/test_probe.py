"""Readiness probes: which healthchecks run from the host, and how a probe that cannot run is named."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import httpx
import pytest

from obsgate.bringup.probe import HttpProbe, Probe, ProbeFailed, Stopped, cannot_run, http_probe, never_healthy
from obsgate.checks.acceptance import LokiStart, loki_ready
from obsgate.checks.static.files import StackFiles
from obsgate.core.errors import NotEvaluated
from obsgate.core.wait import WaitTimeout
from obsgate.stackfiles.compose import ComposeProject, Dependency, ServiceSpec

SH = ("/bin/sh", "-c")
OCI = "OCI runtime exec failed: exec failed: unable to start container process: exec: "


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ((*SH, "wget -q --tries=1 -O /dev/null http://127.0.0.1:3100/ready || exit 1"), HttpProbe(3100, "/ready")),
        (("wget", "-qO-", "http://localhost:9090/-/ready"), HttpProbe(9090, "/-/ready")),
        (("wget", "-q", "-T", "5", "-O", "-", "http://127.0.0.1/x?y=1"), HttpProbe(80, "/x?y=1")),
        ((*SH, "curl -fsS http://127.0.0.1:3000/api/health"), HttpProbe(3000, "/api/health", 400, False)),
        (("curl", "-sL", "-o", "/dev/null", "http://127.0.0.1:3000/"), HttpProbe(3000, "/", None, True)),
    ],
)
def test_a_plain_url_fetch_becomes_a_get_from_the_host(argv: Sequence[str], expected: HttpProbe) -> None:
    assert http_probe(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        (*SH, "wget -q -O /dev/null http://127.0.0.1:3100/ready && touch /tmp/ok"),  # does more than fetch
        (*SH, "wget -q -O /dev/null http://$HOST:3100/ready"),  # needs the shell's expansion
        (*SH, "wget -q -O /dev/null http://127.0.0.1:3100/ready | grep ready"),
        ("wget", "--post-data=x", "http://127.0.0.1:3100/ready"),  # an option that changes the request
        ("wget", "-q", "http://loki:3100/ready"),  # another container, not this one
        ("wget", "-q", "https://127.0.0.1:443/"),  # TLS: only the exec knows what it trusts
        ("/usr/bin/loki", "-health"),
        ("pgrep", "nginx"),
    ],
)
def test_anything_else_stays_an_exec(argv: Sequence[str]) -> None:
    assert http_probe(argv) is None


@pytest.mark.parametrize(
    ("argv", "code", "output", "named"),
    [
        ((*SH, "wget x"), 126, OCI + '"/bin/sh": stat /bin/sh: no such file or directory: unknown', "no /bin/sh in the image"),
        (("wget", "x"), 126, OCI + '"wget": executable file not found in $PATH: unknown', "probe `wget` is not in the image"),
        (("/bin/sh", "-c", "x"), 127, 'failed to create shim task: OCI runtime create failed: runc create failed: unable to start'
         ' container process: exec: "/bin/sh": stat /bin/sh: no such file or directory: unknown', "no /bin/sh in the image"),
        ((*SH, "wget -q x || exit 1"), 1, "/bin/sh: 1: wget: not found\n", "probe `wget` is not in the image"),
        ((*SH, "curl -f x"), 127, "sh: curl: not found\n", "probe `curl` is not in the image"),
        ((*SH, "wget x"), 127, "bash: line 1: wget: command not found\n", "probe `wget` is not in the image"),
        ((*SH, "/usr/bin/wget x"), 127, "bash: line 1: /usr/bin/wget: No such file or directory\n",
         "probe `/usr/bin/wget` is not in the image"),
        (("busybox", "wget", "-T", "5", "x"), 139, "", "probe `busybox` exited 139 (crashed: SIGSEGV)"),
        ((*SH, "wget -T 5 x || exit 1"), 1, "Segmentation fault\n", "probe `wget` crashed (Segmentation fault"),
        (("/etc/passwd",), 126, OCI + '"/etc/passwd": permission denied: unknown', "probe `/etc/passwd` cannot be executed"),
    ],
)
def test_a_probe_that_cannot_run_is_named(argv: Sequence[str], code: int, output: str, named: str) -> None:
    assert named in (cannot_run(argv, code, output) or "")


@pytest.mark.parametrize(
    ("argv", "code", "output"),
    [
        ((*SH, "wget -q x || exit 1"), 0, ""),
        ((*SH, "wget -q x || exit 1"), 1, "wget: can't connect to remote host (127.0.0.1): Connection refused\n"),
        (("wget", "-q", "x"), 8, "wget: server returned error: HTTP/1.1 404 Not Found\n"),
        (("wget", "x"), 124, "timed out after 5s: wget x"),
    ],
)
def test_a_probe_that_ran_and_failed_is_the_service_answering(argv: Sequence[str], code: int, output: str) -> None:
    assert cannot_run(argv, code, output) is None


def _project(**depends: tuple[Dependency, ...]) -> ComposeProject:
    services = {n: ServiceSpec(n, f"{n}:1", depends_on=depends.get(n, ())) for n in ("loki", "grafana", "nginx", "x")}
    return ComposeProject(Path("c.yml"), "p", services, ("default",), (), {})


def test_the_consequence_names_who_waits_for_health_and_who_waits_for_them() -> None:
    project = _project(grafana=(Dependency("loki", "service_healthy"),), nginx=(Dependency("grafana"),))
    assert never_healthy(project, "loki") == (
        "the container never becomes healthy, so grafana (depends_on: service_healthy)"
        " and nginx (through its dependencies) never start"
    )
    assert never_healthy(project, "x") == "the container never becomes healthy"
    started_only = _project(grafana=(Dependency("loki", "service_started"),))
    assert never_healthy(started_only, "loki") == "the container never becomes healthy"


class FakeContainer:
    """A probe target: an address (or none), scripted exec results, and whether it still runs."""

    def __init__(self, ip: str | None, execs: Sequence[tuple[int, str]] = ((0, ""),), stopped: str | None = None):
        self._ip, self.execs, self.exec_calls, self._stopped = ip, list(execs), 0, stopped

    @property
    def ip(self) -> str | None:
        return self._ip

    def exec(self, argv: Sequence[str], timeout_s: float = 30.0) -> tuple[int, str]:
        self.exec_calls += 1
        return self.execs[min(self.exec_calls, len(self.execs)) - 1]

    def stopped(self) -> str | None:
        return self._stopped


@pytest.fixture
def server() -> Iterator[dict[str, int]]:
    """An HTTP server on 127.0.0.1 answering GET with the status in ``state["status"]``."""
    state = {"status": 200, "port": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(state["status"])
            self.end_headers()
            self.wfile.write(b"ready")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["port"] = httpd.server_address[1]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _healthcheck(port: int) -> tuple[str, ...]:
    return (*SH, f"wget -q --tries=1 -O /dev/null http://127.0.0.1:{port}/ready || exit 1")


def test_a_healthcheck_answered_from_the_host_is_confirmed_once_in_the_container(server: dict[str, int]) -> None:
    target = FakeContainer("127.0.0.1")
    assert Probe.healthcheck("loki healthcheck", target, _healthcheck(server["port"]), 5).check()
    assert target.exec_calls == 1


def test_no_shell_in_the_image_fails_as_a_probe_failure_not_a_timeout(server: dict[str, int]) -> None:
    target = FakeContainer("127.0.0.1", [(126, OCI + '"/bin/sh": stat /bin/sh: no such file or directory: unknown')])
    with pytest.raises(ProbeFailed, match=r"^no /bin/sh in the image$"):
        Probe.healthcheck("loki healthcheck", target, _healthcheck(server["port"]), 5).wait(30)


def test_unconfirmed_the_host_get_alone_decides_and_nothing_runs_in_the_container(server: dict[str, int]) -> None:
    """A drill's stack (confirm_healthchecks=False) takes a shell-less image that answers /ready."""
    target = FakeContainer("127.0.0.1", [(126, OCI + '"/bin/sh": stat /bin/sh: no such file or directory: unknown')])
    assert Probe.healthcheck("loki healthcheck", target, _healthcheck(server["port"]), 5, confirm=False).check()
    assert target.exec_calls == 0


class DiesUnderExec(FakeContainer):
    """Running when asked, exited by the time its exec fails (a crash under a restart policy)."""

    def exec(self, argv: Sequence[str], timeout_s: float = 30.0) -> tuple[int, str]:
        self._stopped = "nginx exited with code 1 (restarts so far: 1)"
        return super().exec(argv, timeout_s)


def test_a_container_dying_under_the_exec_is_the_services_failure_not_the_probes() -> None:
    target = DiesUnderExec(None, [(126, OCI + '"/bin/sh": stat /bin/sh: no such file or directory: unknown')])
    with pytest.raises(Stopped, match="nginx exited with code 1"):
        Probe.healthcheck("nginx healthcheck", target, (*SH, "exit 0"), 5).check()


def test_while_the_service_answers_not_ready_nothing_runs_in_the_container(server: dict[str, int]) -> None:
    server["status"] = 503
    target = FakeContainer("127.0.0.1")
    probe = Probe.healthcheck("loki healthcheck", target, _healthcheck(server["port"]), 5)
    assert not probe.check() and target.exec_calls == 0
    assert "answered 503" in probe.seen


def test_a_port_that_does_not_answer_on_the_address_falls_back_to_exec(server: dict[str, int]) -> None:
    closed = _free_port()
    target = FakeContainer("127.0.0.1", [(1, "refused"), (0, "")])  # e.g. a loopback-only listener
    probe = Probe.healthcheck("nginx healthcheck", target, _healthcheck(closed), 5)
    assert not probe.check()
    assert probe.check() and target.exec_calls == 2


def test_a_crashing_probe_the_host_cannot_replace_is_named_at_once() -> None:
    target = FakeContainer("127.0.0.1", [(139, "")])
    probe = Probe.healthcheck("alertmanager healthcheck", target, ("busybox", "wget", "-T", "5", "http://x/"), 5)
    with pytest.raises(ProbeFailed, match=r"probe `busybox` exited 139 \(crashed: SIGSEGV\)"):
        probe.wait(30)
    assert target.exec_calls == 1


def test_unreachable_host_and_a_missing_wget_is_a_probe_failure_after_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_route(self: HttpProbe, address: str, timeout_s: float) -> httpx.Response:
        raise httpx.ConnectError("[Errno 113] No route to host")

    monkeypatch.setattr(HttpProbe, "get", no_route)
    target = FakeContainer("127.0.0.1", [(126, OCI + '"wget": executable file not found in $PATH: unknown')])
    probe = Probe("loki GET /ready on :3100", target, http=HttpProbe(3100, "/ready"), command=["wget", "x"], timeout_s=0.2)
    with pytest.raises(ProbeFailed, match=r"probe `wget` is not in the image, and the host could not reach it"):
        probe.wait(0.6)


def test_nothing_listening_is_a_timeout_that_says_what_each_probe_saw() -> None:
    target = FakeContainer("127.0.0.1", [(127, "/bin/sh: 1: wget: not found")])
    probe = Probe.healthcheck("loki healthcheck", target, _healthcheck(_free_port()), 5)
    with pytest.raises(WaitTimeout) as caught:
        probe.wait(0.6)
    assert "loki healthcheck" in str(caught.value) and "GET http://127.0.0.1" in str(caught.value)
    assert "probe `wget` is not in the image" in str(caught.value)


def test_a_stopped_program_ends_the_wait() -> None:
    with pytest.raises(Stopped, match="loki exited with code 1"):
        Probe("loki", FakeContainer("127.0.0.1", stopped="loki exited with code 1"), command=["true"]).wait(30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_loki_start_that_could_not_be_probed_is_not_evaluated_not_blamed_on_loki() -> None:
    start = LokiStart("loki:x", None, "probe `wget` is not in the image", "level=error msg=unrelated", None,
                      probe_failure="probe `wget` is not in the image, and the host could not reach it")
    with pytest.raises(NotEvaluated, match=r"readiness could not be probed in loki:x: probe `wget` is not in the image"):
        loki_ready(start, cast(StackFiles, None))  # judged before any file is read
