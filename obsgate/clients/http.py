"""The base of every client: an endpoint that follows its service, a thin httpx wrapper, and the error
every client raises for an answer it cannot use.

A client re-resolves its base URL whenever its service was restarted or re-created
(new IP, new published port), so a test can restart a container and carry on.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from obsgate.bringup.secrets import BasicAuth
from obsgate.bringup.stack import ServiceHandle
from obsgate.core.causes import MAX_CAUSE, Cause
from obsgate.core.errors import NotEvaluated
from obsgate.core.text import one_line

MAX_BODY = 500      # characters of an error answer's body kept (a Loki or Prometheus reason fits)
# Statuses asking the client to come back (not found yet, too early, timeout, too many requests):
# every other 4xx is a refusal waiting will not change.
TRANSIENT_4XX = frozenset({404, 408, 425, 429})
PERMANENT_5XX = frozenset({501, 505})   # not implemented, HTTP version unsupported: definite answers


class ServiceError(httpx.HTTPStatusError):
    """A service answered a client's request with an error: who, to what, with which status and reason.

    An ``httpx.HTTPStatusError`` (``request`` and ``response`` as httpx gives them), so code that
    catches those keeps working; its text is the whole story on one line, e.g.
    ``loki: GET /loki/api/v1/query_range -> 400: parse error at line 1, col 1: ...``.
    """

    def __init__(self, service: str, response: httpx.Response) -> None:
        request = response.request
        self.service = service or request.url.host
        self.method, self.url, self.status = request.method, str(request.url), response.status_code
        self.body = _trimmed(response.text)
        self.reason = _reason(response.text) or self.body
        super().__init__(f"{self.service}: {self.method} {request.url.path} -> {self.status}: {self.reason}",
                         request=request, response=response)

    @property
    def permanent(self) -> bool:
        """A refusal waiting will not change: ends a wait at once (obsgate.core.wait.poll)."""
        return (400 <= self.status < 500 and self.status not in TRANSIENT_4XX) or self.status in PERMANENT_5XX

    def answer(self) -> Cause:
        """The answer as a cause: checks that failed on the same status and reason are one cause in the reports,
        whatever path each asked and whichever way (Loki's own refusal reaches a check directly or through nginx);
        the services it came through are merged."""
        text = f"{self.service} answered {self.status}: {self.reason}"
        return Cause(f"answer:{self.status}:{self.reason}", one_line(text, MAX_CAUSE),
                     detail=f"{self.method} {self.url} -> {self.status}: {self.body}", services=(self.service,))


def _reason(body: str) -> str:
    """The error a JSON answer names (Prometheus' and Loki's ``error``, Grafana's ``message``), if it is one."""
    try:
        answer = json.loads(body)
    except ValueError:
        return ""
    found = answer.get("error") or answer.get("message") if isinstance(answer, dict) else None
    return _trimmed(str(found)) if found else ""


def _trimmed(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_BODY else flat[:MAX_BODY - 1] + "…"


def port_of(handle: ServiceHandle) -> int:
    """The service's own port, as the compose file exposes it (the first one)."""
    if not handle.spec.expose:
        raise NotEvaluated(f"{handle.name} exposes no port in the compose file")
    return handle.spec.expose[0]


@dataclass
class Endpoint:
    """Where a client sends requests, and who answers there (named in its errors); ``base_url`` is
    recomputed when ``version`` changes."""

    base_url: Callable[[], str]
    version: Callable[[], int] = lambda: 0
    auth: BasicAuth | None = None
    verify: ssl.SSLContext | bool = True
    headers: Mapping[str, str] = field(default_factory=dict)
    service: str = ""

    @classmethod
    def direct(cls, handle: ServiceHandle, port: int | None = None, path: str = "") -> Endpoint:
        """The service's own port (default: the first it exposes) on the run network, as other services reach it."""
        port = port_of(handle) if port is None else port
        return cls(lambda: handle.url(port) + path, lambda: handle.epoch, service=handle.name)


class API:
    """A small httpx wrapper: one client per endpoint version, typed helpers in subclasses."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = 10.0) -> None:
        self.endpoint, self.timeout_s = endpoint, timeout_s
        self._client: httpx.Client | None = None
        self._version = -1

    @classmethod
    def direct(cls, handle: ServiceHandle) -> Self:
        """This service's API on its own port on the run network."""
        return cls(Endpoint.direct(handle))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    @property
    def http(self) -> httpx.Client:
        version = self.endpoint.version()
        if self._client is None or version != self._version:
            if self._client is not None:
                self._client.close()
            self._client = httpx.Client(
                base_url=self.endpoint.base_url(),
                auth=self.endpoint.auth.pair if self.endpoint.auth else None,
                verify=self.endpoint.verify, headers=dict(self.endpoint.headers),
                timeout=self.timeout_s, follow_redirects=False,
            )
            self._version = version
        return self._client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer when it is a success (2xx); ServiceError otherwise."""
        response = self.request(method, path, **kwargs)
        if not response.is_success:
            raise ServiceError(self.endpoint.service, response)
        return response

    def data(self, path: str, **params: str) -> dict[str, Any]:
        """The ``data`` member of a Prometheus-style JSON answer (Prometheus, Loki's queries), for the typed parsers."""
        return dict(self.ok("GET", path, params=params).json()["data"])

    def metrics(self) -> str:
        """The service's own Prometheus metrics (``/metrics``, text format)."""
        return self.ok("GET", "/metrics").text

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def labels_of(value: Any) -> dict[str, str]:
    """A label set as the APIs give it (a JSON object of strings)."""
    return {str(k): str(v) for k, v in (value or {}).items()}


def rfc3339(text: str) -> float:
    """Unix seconds of a Prometheus/Alertmanager timestamp (nanosecond fractions allowed)."""
    trimmed = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return dt.datetime.fromisoformat(trimmed).timestamp()
