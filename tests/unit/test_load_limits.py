"""Naming the limit behind a refused push, from Loki's and nginx's real answers (no container)."""

from __future__ import annotations

import pytest

from obsgate.load.limits import classify, classify_error

NGINX_429 = "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n<center><h1>429 Too Many " \
            "Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"


@pytest.mark.parametrize("status, body, source, reason", [
    (429, "Ingestion rate limit exceeded for user fake (limit: 16777216 bytes/sec) while attempting to ingest "
          "'1000' lines totaling '1048576' bytes, reduce log volume or contact your Loki administrator to see if "
          "the limit can be increased", "loki", "rate_limited"),
    (429, "entry with timestamp 2024-05-01 for stream {a=\"b\"}: Per stream rate limit exceeded (limit: 3MB/sec) "
          "while attempting to ingest for stream", "loki", "per_stream_rate_limit"),
    (400, "Max entry size '262144' bytes exceeded for stream '{a=\"b\"}' while adding an entry with length "
          "'300000' bytes", "loki", "line_too_long"),
    (429, NGINX_429, "nginx", None),
    (413, NGINX_429.replace("429 Too Many Requests", "413 Request Entity Too Large"), "nginx", None),
    (502, NGINX_429.replace("429 Too Many Requests", "502 Bad Gateway"), "nginx", None),
])
def test_refusals_name_the_limit(status: int, body: str, source: str, reason: str | None) -> None:
    refusal = classify(status, body, "nginx")
    assert (refusal.source, refusal.loki_reason) == (source, reason)
    assert str(status) in refusal.name and not refusal.fatal
    assert "1000" not in refusal.name                      # stable: one Locust error row per kind


def test_nginx_limits_are_named() -> None:
    assert "limit_req" in classify(429, NGINX_429, "nginx").name
    assert "client_max_body_size" in classify(413, NGINX_429.replace("429", "413"), "nginx").name


def test_wrong_credential_and_tls_stop_the_run() -> None:
    assert classify(401, "<html>401 Authorization Required<center>nginx</center>", "nginx").fatal
    assert classify(403, "forbidden", "").fatal
    assert classify_error(OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")).fatal
    assert classify_error(ConnectionRefusedError(111, "Connection refused")).fatal
    assert not classify_error(TimeoutError("timed out")).fatal
