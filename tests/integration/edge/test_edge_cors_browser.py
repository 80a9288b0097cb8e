"""CORS as a real browser enforces it: headless Chromium on an allowed and on an unlisted origin.

Raw HTTP shows the headers; this shows the outcome that matters: the POS page's fetch()
gets its line into Loki, another site's page cannot push at all. Not evaluated where
no browser is installed.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.checks.edge.browser import Browser, browser_hosts
from obsgate.checks.edge.probes import PUSH, listed_origins, push_body, unlisted_origins
from obsgate.checks.logs import RUN_LABEL, new_run_label
from obsgate.clients import Gateway, LokiAPI
from obsgate.clients.logproto import selector
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import poll
from obsgate.run import GateRun
from obsgate.stackfiles.nginx import CorsAllowList


def basic(auth: BasicAuth) -> str:
    """The Authorization header value the POS frontend code sends."""
    return "Basic " + base64.b64encode(f"{auth.user}:{auth.password}".encode()).decode()


def access_log(nginx: ServiceHandle, origin: str) -> list[dict[str, Any]]:
    """nginx's JSON access-log entries for requests carrying ``origin``."""
    entries = []
    for line in nginx.logs(tail=500).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("http_origin") == origin:
            entries.append({k: entry.get(k) for k in ("method", "uri", "status", "http_origin")})
    return entries


@pytest.mark.gate(category="Security", weight=3)
def test_browser_on_allowed_origin_pushes_a_line(browser: Browser, gateway: Gateway, loki: ServiceHandle,
                                                 loki_api: LokiAPI, nginx: ServiceHandle, run_secrets: RunSecrets,
                                                 cors_allow_list: CorsAllowList, gate_run: GateRun,
                                                 gate: GateRecorder) -> None:
    """The POS page's fetch() must get its log line into Loki and see the 204."""
    listed = listed_origins(cors_allow_list, gate.evidence)
    hosts = browser_hosts(listed)
    assert hosts, f"no allowed origin is an https origin on the default port: {listed}"
    origin, label = f"https://{hosts[0]}", new_run_label(gate_run.run_id)
    line = json.dumps({"message": "pushed by a browser page", "id": uuid.uuid4().hex})
    start = time.time_ns()
    result = browser.push_from(hosts[0], gateway.https_url() + PUSH, basic(run_secrets.push), push_body(label, line))
    gate.evidence["page"] = result
    gate.evidence["nginx access log"] = access_log(nginx, origin)
    assert result.get("fetched") and result.get("status") == 204, (
        f"fetch() on {origin} did not see a 204: {result}; nginx saw {access_log(nginx, origin)}")

    def stored() -> bool:
        return any(got == line for _, got in loki_api.query_range(selector({RUN_LABEL: label}), start).entries())

    poll(stored, timeout_s=15, what=f"the browser's line in Loki ({selector({RUN_LABEL: label})})")


@pytest.mark.gate(category="Security", weight=3)
def test_browser_on_unlisted_origin_cannot_push(browser: Browser, gateway: Gateway, nginx: ServiceHandle,
                                                run_secrets: RunSecrets, cors_allow_list: CorsAllowList,
                                                gate_run: GateRun, gate: GateRecorder) -> None:
    """Another site's page must not be able to push (even holding the public push credential)."""
    host = browser_hosts(unlisted_origins(cors_allow_list))[0]
    origin = f"https://{host}"
    result = browser.push_from(host, gateway.https_url() + PUSH, basic(run_secrets.push),
                               push_body(new_run_label(gate_run.run_id)))
    gate.evidence["page"] = result
    assert not result.get("fetched"), (
        f"fetch() on unlisted {origin} got an answer: {result}; nginx saw {access_log(nginx, origin)}")
    # The refusal must be CORS's: nginx saw the preflight (docker's log arrives with a delay) and no push.
    seen = poll(lambda: access_log(nginx, origin), timeout_s=10, what=f"the preflight from {origin} in nginx's log",
                evidence=lambda: f"page: {result}")
    gate.evidence["nginx access log"] = seen
    posts = [e for e in seen if e["method"] != "OPTIONS"]
    assert not posts, f"the browser sent the push from {origin} (only the preflight may reach nginx): {posts}"
