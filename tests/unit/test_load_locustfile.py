"""tests/load/locustfile.py as Locust's users run it, against the null sink on 127.0.0.1 (no container).

Each case is a real ``locust`` process; bad input must stop it at once (exit code 2) with one
message naming the cause, long before failures could pile up.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsgate.bringup.secrets import generate
from obsgate.load.bench import bench
from obsgate.load.options import EXIT_BAD_INPUT
from obsgate.load.payloads import PayloadOptions

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "tests" / "load" / "locustfile.py"
SHORT = ("--headless", "--only-summary", "--shape", "profile", "--profile-scale", "0.02",
         "--profile-rate-scale", "0.05", "--lines-per-request", "100", "--query-interval-s", "0")


def sink(status: int) -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-m", "obsgate.load.sink", str(status)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


@pytest.fixture
def null_sink() -> Iterator[int]:
    yield from sink(204)


@pytest.fixture
def refusing_sink() -> Iterator[int]:
    yield from sink(401)


def locust(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    # Without the caller's LOCUST_* / OBSGATE_* settings (an exported LOCUST_HOST would change every case).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "OBSGATE_"))}
    return subprocess.run([sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout_s, env=env)


def errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if "/ERROR/" in line]


def test_a_short_profile_pushes_and_stops_by_itself(null_sink: int) -> None:
    proc = locust(*SHORT, "--host", f"http://127.0.0.1:{null_sink}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Shape test completed" in proc.stderr and "lines acknowledged (204)" in proc.stderr
    assert not errors(proc)


@pytest.mark.parametrize("args, message", [
    ((), "no target: pass --host"),
    (("--host", "http://127.0.0.1:9", "--step-rps", "-1", "--shape", "step"), "step-up step must be a finite"),
    (("--host", "http://127.0.0.1:9", "--shape", "soak", "--soak-s", "600", "--max-run-s", "60"),
     "longer than the hard cap"),
    (("--host", "http://127.0.0.1:9", "--push-user", "pos-push"), "--push-password missing"),
])
def test_bad_options_stop_before_any_user_spawns(args: tuple[str, ...], message: str) -> None:
    proc = locust("--headless", *args)
    assert proc.returncode == EXIT_BAD_INPUT, proc.stderr[-2000:]
    assert len(errors(proc)) == 1 and message in errors(proc)[0]
    assert "Ramping to" not in proc.stderr


def test_unreachable_target_stops_the_run_at_once() -> None:
    proc = locust(*SHORT, "--host", "http://127.0.0.1:9")
    assert proc.returncode == EXIT_BAD_INPUT
    assert len(errors(proc)) == 1 and "target unreachable" in errors(proc)[0]


def test_wrong_credential_stops_the_run_naming_it(refusing_sink: int) -> None:
    proc = locust(*SHORT, "--host", f"http://127.0.0.1:{refusing_sink}", "--push-user", "x", "--push-password", "y")
    assert proc.returncode == EXIT_BAD_INPUT
    assert len(errors(proc)) == 1 and "nginx 401: push credential missing or wrong" in errors(proc)[0]


@pytest.fixture
def tls_server() -> Iterator[int]:
    """A TLS server with a certificate from one throwaway CA (the handshake is all it does)."""
    secrets = generate("tlsunit")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(secrets.root / "nginx" / "server.crt", secrets.root / "nginx" / "server.key")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    server.close()
    secrets.remove()


def test_wrong_ca_file_stops_the_run_naming_tls(tls_server: int) -> None:
    other = generate("tlsother")                      # a CA that did not sign the server's certificate
    try:
        proc = locust(*SHORT, "--host", f"https://127.0.0.1:{tls_server}", "--ca-file", str(other.ca_cert))
    finally:
        other.remove()
    assert proc.returncode == EXIT_BAD_INPUT
    assert len(errors(proc)) == 1 and "TLS failed" in errors(proc)[0] and "CERTIFICATE_VERIFY_FAILED" in errors(proc)[0]


def test_a_plain_http_port_given_as_https_stops_the_run(null_sink: int) -> None:
    proc = locust(*SHORT, "--host", f"https://127.0.0.1:{null_sink}")
    assert proc.returncode == EXIT_BAD_INPUT
    assert len(errors(proc)) == 1 and "is --host the right port and scheme?" in errors(proc)[0]


def test_bench_reports_both_formats_without_failures() -> None:
    figures = bench(1.0, 2, PayloadOptions(lines_per_request=100, streams_per_request=2, variants=1))
    assert [f.fmt for f in figures] == ["json", "protobuf"]
    assert all(f.lines_per_s > 0 and not f.failures for f in figures)
