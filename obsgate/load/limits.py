"""Which limit an unsuccessful push ran into, named as an operator would look it up.

Loki's refusals carry its own words (``pkg/validation`` in 2.9.3) and are mapped to the
``reason`` label of ``loki_discarded_samples_total``; nginx's come as its stock HTML pages.
The name is stable (no counts, no sizes) so Locust groups every occurrence in one error row.
"""

from __future__ import annotations

from dataclasses import dataclass

# (status, text in Loki's answer, discarded-samples reason)
_LOKI = (
    (429, "Ingestion rate limit exceeded", "rate_limited"),
    (429, "Per stream rate limit exceeded", "per_stream_rate_limit"),
    (429, "Maximum active stream limit exceeded", "stream_limit"),
    (400, "Max entry size", "line_too_long"),
    (400, "timestamp too old", "greater_than_max_sample_age"),
    (400, "timestamp too new", "too_far_in_future"),
    (400, "entry too far behind", "too_far_behind"),
    (400, "entry out of order", "out_of_order"),
    (400, "Maximum number of label names", "max_label_names_per_series"),
)
_NGINX = {
    401: "nginx 401: push credential missing or wrong",
    403: "403: push path forbidden for this credential",
    405: "nginx 405: method not allowed on the push path",
    413: "nginx 413: push body larger than client_max_body_size",
    429: "nginx 429: proxy rate limit (limit_req) on the push path",
    502: "nginx 502: Loki unreachable from the proxy",
    503: "nginx 503: Loki unavailable",
    504: "nginx 504: Loki did not answer in time",
}
FATAL_STATUSES = (401, 403)      # a wrong credential: every further push would fail the same way


@dataclass(frozen=True)
class Refusal:
    """One kind of failed push: who refused (loki, nginx, network), the name of the limit, Loki's reason."""

    source: str
    name: str
    loki_reason: str | None = None

    @property
    def fatal(self) -> bool:
        """Bad input, not load: the run must stop at once instead of piling up failures."""
        return self.source in ("auth", "tls", "target")


def _is_nginx_page(body: str, server: str) -> bool:
    return "<center>nginx" in body or (server.startswith("nginx") and body.lstrip().startswith("<html>"))


def classify(status: int, body: str, server: str = "") -> Refusal:
    """Name the limit behind an HTTP answer other than 204."""
    if status in FATAL_STATUSES:
        return Refusal("auth", _NGINX[status] if _is_nginx_page(body, server) or status == 401
                       else f"{status}: {body.strip()[:80]}")
    for code, text, reason in _LOKI:
        if status == code and text in body:
            return Refusal("loki", f"loki {status}: {reason} ({text})", reason)
    if status in _NGINX and _is_nginx_page(body, server):
        return Refusal("nginx", _NGINX[status])
    if status == 404:
        return Refusal("target", f"404: no push API at this path (is --host Loki or its proxy?): {body.strip()[:60]}")
    first = body.strip().splitlines()[0][:100] if body.strip() else "(empty body)"
    return Refusal("loki" if status < 500 or not server.startswith("nginx") else "nginx", f"{status}: {first}")


def classify_error(error: BaseException) -> Refusal:
    """Name a push that got no HTTP answer at all (refused connection, TLS, timeout)."""
    text = f"{type(error).__name__}: {error}"
    lowered = text.lower()
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return Refusal("tls", f"TLS failed (wrong CA file or not a TLS port?): {text[:160]}")
    if "refused" in lowered or "name or service" in lowered or "no route" in lowered or "resolve" in lowered:
        return Refusal("target", f"target unreachable: {text[:160]}")
    if "timed out" in lowered or "timeout" in lowered:
        return Refusal("network", "push timed out")
    return Refusal("network", f"no answer: {text[:120]}")
