"""A webhook receiver the stack's containers can reach: where Alertmanager's Slack
receiver posts during a run (no internet, and Slack is never called).

It listens on the run network's gateway address only, so it is reachable from the
run's containers and from this host, and from nowhere else.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from obsgate.core.wait import poll

MAX_BODY = 1 << 20


@dataclass(frozen=True)
class SlackAttachment:
    title: str
    color: str
    text: str


@dataclass(frozen=True)
class SlackMessage:
    """A Slack incoming-webhook payload, as Alertmanager's Slack receiver posts it."""

    channel: str | None
    username: str | None
    attachments: tuple[SlackAttachment, ...]

    @classmethod
    def of(cls, body: bytes) -> SlackMessage:
        """The payload; a body that is no Slack payload (not a JSON object) has no channel and no attachments."""
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return cls(None, None, ())
        return cls(payload.get("channel"), payload.get("username"),
                   tuple(SlackAttachment(str(a.get("title", "")), str(a.get("color", "")), str(a.get("text", "")))
                         for a in payload.get("attachments") or [] if isinstance(a, dict)))


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float          # time.time() when it arrived

    def slack(self) -> SlackMessage:
        return SlackMessage.of(self.body)


IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)   # Linux's value; older Pythons lack the constant


class _Server(ThreadingHTTPServer):
    """Binds to an address the host may not have yet: the run network's gateway. Docker creates a network's
    bridge with the network; Podman only once the first container joins it, after the receiver must exist."""

    def server_bind(self) -> None:
        if sys.platform == "linux":
            self.socket.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        super().server_bind()


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

        self._server = _Server((host, port), Handler)
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
