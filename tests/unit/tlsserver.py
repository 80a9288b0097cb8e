"""A local TLS server for the probe's unit tests: it completes (or refuses) handshakes and sends nothing."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator


def serve_tls(ctx: ssl.SSLContext) -> Iterator[int]:
    """Accept handshakes with ``ctx`` on 127.0.0.1 until the generator is closed; yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    tls.settimeout(1)
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    listener.close()
