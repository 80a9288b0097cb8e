"""A webhook receiver the stack's containers can reach: where Alertmanager's Slack
receiver posts during a run (no internet, and Slack is never called).

It listens on the run network's gateway address only, so it is reachable from the
run's containers and from this host, and from nowhere else.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from obsgate.core.wait import poll

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float          # time.time() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Records every POST; tests wait for the one they expect."""

    def __init__(self, host: str, port: int = 0) -> None:
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length)
                with receiver._changed:
                    receiver.deliveries.append(Delivery(self.path, dict(self.headers), body, time.time()))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="obsgate-webhook", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def url(self, path: str) -> str:
        host, port = self.address
        return f"http://{host}:{port}{path}"

    def wait_for(self, match: Callable[[Delivery], bool], timeout_s: float, what: str) -> Delivery:
        """The first delivery (old or new) for which ``match`` is true; WaitTimeout otherwise."""
        def found() -> Delivery | None:
            with self._changed:
                return next((d for d in self.deliveries if match(d)), None)
        return poll(found, timeout_s=timeout_s, what=what, interval_s=0.2,
                    evidence=lambda: f"{len(self.deliveries)} deliveries so far: "
                                     + ", ".join(d.path for d in self.deliveries[-10:]))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
