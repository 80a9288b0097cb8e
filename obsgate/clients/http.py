"""The base of every client: an endpoint that follows its service, and a thin httpx wrapper.

A client re-resolves its base URL whenever its service was restarted or re-created
(new IP, new published port), so a test can restart a container and carry on.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from obsgate.bringup.secrets import BasicAuth
from obsgate.bringup.stack import ServiceHandle


@dataclass
class Endpoint:
    """Where a client sends requests; ``base_url`` is recomputed when ``version`` changes."""

    base_url: Callable[[], str]
    version: Callable[[], int] = lambda: 0
    auth: BasicAuth | None = None
    verify: ssl.SSLContext | bool = True
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def direct(cls, handle: ServiceHandle, port: int, path: str = "") -> Endpoint:
        """The service's own port on the run network (in-network access, as other services see it)."""
        return cls(lambda: handle.url(port) + path, lambda: handle.epoch)


class API:
    """A small httpx wrapper: one client per endpoint version, typed helpers in subclasses."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = 10.0) -> None:
        self.endpoint, self.timeout_s = endpoint, timeout_s
        self._client: httpx.Client | None = None
        self._version = -1

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

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def data(response: httpx.Response) -> Any:
    """The ``data`` member of a Prometheus-style JSON answer; raises with the body on error."""
    response.raise_for_status()
    return response.json()["data"]
