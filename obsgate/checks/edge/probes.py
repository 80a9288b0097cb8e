"""Raw-HTTP probes of the nginx edge: CORS header judgement, push bodies, bounded bursts."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from obsgate.checks.logs import GATE_JOB, RUN_LABEL
from obsgate.clients import API
from obsgate.stackfiles.nginx import CorsAllowList

PUSH = "/loki/api/v1/push"
PUSH_LOCATION = f"= {PUSH}"          # its location block in nginx.conf
CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-credentials",
                "access-control-allow-methods", "access-control-allow-headers",
                "access-control-max-age", "vary")
SECURITY_HEADERS = ("strict-transport-security", "x-frame-options", "x-content-type-options")
# What a browser's fetch() with a Basic credential and a JSON body asks for in its preflight.
REQUESTED_HEADERS = ("authorization", "content-type")


def tokens(value: str | None) -> set[str]:
    """A comma-separated header value as lower-case tokens."""
    return {t.strip().lower() for t in (value or "").split(",") if t.strip()}


def shown(response: httpx.Response, names: tuple[str, ...] = CORS_HEADERS) -> dict[str, Any]:
    """Status and the named headers of a response: evidence."""
    return {"status": response.status_code, **{n: response.headers.get(n) for n in names}}


def echo_problems(response: httpx.Response, origin: str) -> list[str]:
    """What stops a browser on ``origin`` from reading this response."""
    problems = []
    allow = response.headers.get_list("access-control-allow-origin")
    if allow != [origin]:
        problems.append(f"Access-Control-Allow-Origin is {allow or 'absent'}, expected exactly [{origin!r}]")
    if "origin" not in tokens(response.headers.get("vary")):
        problems.append(f"Vary is {response.headers.get('vary')!r}, must include Origin (caches would mix origins)")
    credentials = response.headers.get("access-control-allow-credentials")
    if credentials not in (None, "true"):
        problems.append(f"Access-Control-Allow-Credentials is {credentials!r} (only 'true' or absent are valid)")
    return problems


def preflight_problems(response: httpx.Response, origin: str) -> list[str]:
    """What makes a browser on an allowed ``origin`` refuse to send the push after this preflight."""
    problems = [] if response.status_code in (200, 204) else [f"preflight answered {response.status_code}"]
    problems += echo_problems(response, origin)
    methods = tokens(response.headers.get("access-control-allow-methods"))
    if "post" not in methods:
        problems.append(f"Access-Control-Allow-Methods {sorted(methods)} lacks POST")
    allowed = tokens(response.headers.get("access-control-allow-headers"))
    if missing := [h for h in REQUESTED_HEADERS if h not in allowed and "*" not in allowed]:
        problems.append(f"Access-Control-Allow-Headers {sorted(allowed)} lacks {missing}")
    max_age = response.headers.get("access-control-max-age", "")
    if not max_age.isdigit() or int(max_age) <= 0:
        problems.append(f"Access-Control-Max-Age is {max_age or 'absent'!r}, expected a positive number of seconds")
    return problems


def preflight(api: API, origin: str) -> httpx.Response:
    """The OPTIONS request a browser sends before a credentialed JSON push from ``origin``."""
    return api.request("OPTIONS", PUSH, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": ",".join(REQUESTED_HEADERS)})


def listed_origins(allow: CorsAllowList, evidence: dict[str, Any]) -> tuple[str, ...]:
    """The exact origins nginx.conf admits; none at all fails the check (no browser can push)."""
    evidence["allow_list"] = {"exact": list(allow.exact), "patterns": list(allow.patterns), "default": allow.default}
    assert allow.exact, ("the CORS allow-list (map $http_origin $cors_origin in nginx.conf) lists no origin: "
                         "no browser can push logs")
    return allow.exact


def unlisted_origins(allow: CorsAllowList) -> list[str]:
    """Origins a browser could send that the allow-list must not admit: near misses of each listed one."""
    near: list[str] = ["https://evil.example", "null"]
    for origin in allow.exact:
        parts = urlsplit(origin)
        host = parts.hostname or ""
        near += [
            urlunsplit(("http" if parts.scheme == "https" else "https", parts.netloc, "", "", "")),
            urlunsplit((parts.scheme, f"{host}.evil.example", "", "", "")),
            urlunsplit((parts.scheme, f"evil-{host}", "", "", "")),
            urlunsplit((parts.scheme, f"{host}:8443", "", "", "")),
        ]
    return [o for o in dict.fromkeys(near) if o not in allow.exact]


def push_body(label: str, line: str | None = None) -> dict[str, Any]:
    """A one-line Loki JSON push inside the run label ``label``."""
    text = line or json.dumps({"message": "obs-gate edge probe", "id": uuid.uuid4().hex})
    return {"streams": [{"stream": {RUN_LABEL: label, **GATE_JOB, "service": "obs-gate-edge"},
                         "values": [[str(time.time_ns()), text]]}]}


@dataclass
class Burst:
    """A bounded burst of pushes: every status seen, the first response of each status, timing."""

    statuses: Counter[int] = field(default_factory=Counter)
    first: dict[int, httpx.Response] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"statuses": dict(sorted(self.statuses.items())), "elapsed_s": round(self.elapsed_s, 3)}


def burst(api: API, requests: int, body: dict[str, Any], headers: dict[str, str], workers: int = 8) -> Burst:
    """Send ``requests`` POSTs to the push endpoint as fast as ``workers`` connections allow."""
    result = Burst()

    def one(_: int) -> httpx.Response:
        return api.post(PUSH, json=body, headers=headers)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for response in pool.map(one, range(requests)):
            result.statuses[response.status_code] += 1
            result.first.setdefault(response.status_code, response)
    result.elapsed_s = time.monotonic() - started
    return result
