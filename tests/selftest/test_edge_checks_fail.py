"""The edge checks (CORS, auth, exposure, TLS, rate limit) fail, naming the cause, on broken variants.

Each variant changes one thing in the production nginx.conf (or a mount) and runs only the
services the selected checks need; nginx-only variants run everywhere the stand-in does,
variants that need Loki skip where Loki cannot run (as in CI). Grafana's access checks
cannot run here: their logic is proven in tests/unit/test_grafana_checks.py.
"""

from __future__ import annotations

from pathlib import Path

from obsgate.bringup.secrets import generate
from tests.selftest.conftest import (
    Compose,
    edit_push_location,
    failed_or_skip,
    mount,
    nginx_conf,
    only,
    passed_or_skip,
    push_block,
    reasons,
    with_nginx,
)

EDGE = "tests/integration/edge"
CORS, BROWSER = f"{EDGE}/test_edge_cors.py", f"{EDGE}/test_edge_cors_browser.py"
AUTH, EXPOSURE = f"{EDGE}/test_edge_auth.py", f"{EDGE}/test_edge_exposure.py"
TLS, RATE = f"{EDGE}/test_edge_tls.py", f"{EDGE}/test_edge_rate_limit.py"


def test_cors_checks_fail_on_an_empty_allow_list(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, ('        "https://pos.retail.example"         $http_origin;\n', ""),
                      ('        "https://backoffice.retail.example"  $http_origin;\n', ""))
    run = child_gate(f"{CORS}::test_cors_preflight_from_allowed_origin_is_answered",
                     f"{CORS}::test_cors_headers_on_refused_push", compose=variant(with_nginx(conf)))
    for reason in reasons(run, "test_cors_preflight_from_allowed_origin_is_answered",
                          "test_cors_headers_on_refused_push").values():
        assert "lists no origin" in reason


def test_cors_checks_fail_when_any_origin_is_reflected(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, ('        default                              "";', "        default $http_origin;"))
    run = child_gate(f"{CORS}::test_cors_preflight_from_unlisted_origin_gets_no_allow_origin",
                     f"{BROWSER}::test_browser_on_unlisted_origin_cannot_push", compose=variant(with_nginx(conf)))
    assert "https://evil.example" in failed_or_skip(run, "test_cors_preflight_from_unlisted_origin_gets_no_allow_origin")
    assert "got an answer" in failed_or_skip(run, "test_browser_on_unlisted_origin_cannot_push")


def test_cors_on_refusals_fails_without_always(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, edit_push_location(
        "add_header Access-Control-Allow-Origin      $cors_origin always;",
        "add_header Access-Control-Allow-Origin      $cors_origin;"))
    run = child_gate(f"{CORS}::test_cors_headers_on_refused_push", compose=variant(with_nginx(conf)))
    assert "Access-Control-Allow-Origin is absent" in failed_or_skip(run, "test_cors_headers_on_refused_push")


def test_cors_on_accepted_push_and_browser_push_fail_without_allow_origin(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, edit_push_location(
        "add_header Access-Control-Allow-Origin      $cors_origin always;", ""))
    run = child_gate(f"{CORS}::test_cors_headers_on_accepted_push",
                     f"{BROWSER}::test_browser_on_allowed_origin_pushes_a_line", compose=variant(with_nginx(conf, "loki")))
    assert "Access-Control-Allow-Origin is absent" in failed_or_skip(run, "test_cors_headers_on_accepted_push")
    assert "did not see a 204" in failed_or_skip(run, "test_browser_on_allowed_origin_pushes_a_line")


def test_auth_refusal_checks_fail_without_basic_auth(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, ('auth_basic "loki push";', "auth_basic off;"),
                      ('auth_basic "loki read";', "auth_basic off;"), ('auth_basic "prometheus";', "auth_basic off;"))
    checks = ("test_push_refuses_missing_and_wrong_credentials",
              "test_loki_query_refuses_missing_and_wrong_credentials",
              "test_prometheus_refuses_missing_and_wrong_credentials")
    run = child_gate(*(f"{AUTH}::{c}" for c in checks), compose=variant(with_nginx(conf, "prometheus")))
    for reason in reasons(run, *checks).values():
        assert "not refused with 401" in reason and "no credentials" in reason


def test_auth_acceptance_checks_fail_on_an_empty_htpasswd(variant, child_gate, readable: Path) -> None:
    empty = readable / "htpasswd-empty"
    empty.write_text("")
    empty.chmod(0o644)
    conf = nginx_conf(readable, ("/etc/nginx/secrets/htpasswd-push", "/etc/nginx/htpasswd-empty"),
                      ("/etc/nginx/secrets/htpasswd-read", "/etc/nginx/htpasswd-empty"))
    checks = ("test_push_accepts_push_credentials", "test_loki_query_accepts_read_credentials",
              "test_prometheus_accepts_read_credentials")
    run = child_gate(*(f"{AUTH}::{c}" for c in checks),
                     compose=variant(with_nginx(conf, "prometheus", "loki",
                                                more=mount("nginx", "/etc/nginx/htpasswd-empty", empty))))
    assert "answered 401" in failed_or_skip(run, "test_prometheus_accepts_read_credentials")
    assert "answered 401" in failed_or_skip(run, "test_push_accepts_push_credentials")
    assert "answered 401" in failed_or_skip(run, "test_loki_query_accepts_read_credentials")


def test_push_credential_reading_fails(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, ("/etc/nginx/secrets/htpasswd-read", "/etc/nginx/secrets/htpasswd-push"))
    run = child_gate(f"{AUTH}::test_push_credentials_cannot_read", compose=variant(with_nginx(conf, "prometheus")))
    reason = failed_or_skip(run, "test_push_credentials_cannot_read")
    assert "the push credential reads" in reason and "/prometheus/api/v1/query" in reason


def test_exposure_check_fails_when_prometheus_is_published(variant, child_gate) -> None:
    def broken(doc: Compose) -> None:
        only("nginx", "prometheus")(doc)
        doc["services"]["prometheus"]["ports"] = ["9090:9090"]

    run = child_gate(f"{EXPOSURE}::test_only_nginx_is_published", compose=variant(broken))
    assert "prometheus publishes" in failed_or_skip(run, "test_only_nginx_is_published")


def test_tls_version_checks_fail_with_tls11_on_and_tls12_off(variant, child_gate, readable: Path) -> None:
    # TLSv1.1 alone would still fail to negotiate: the cipher list is TLS 1.2-only AEAD and OpenSSL 3 needs
    # security level 0 for TLS < 1.2. A "legacy clients" change widens both, as this variant does.
    conf = nginx_conf(readable, ("ssl_protocols TLSv1.2 TLSv1.3;", "ssl_protocols TLSv1.1 TLSv1.3;"),
                      ("ssl_ciphers ECDHE-", "ssl_ciphers DEFAULT:@SECLEVEL=0:ECDHE-"))
    run = child_gate(f"{TLS}::test_tls_legacy_versions_refused", f"{TLS}::test_tls_modern_versions_accepted",
                     compose=variant(with_nginx(conf)))
    assert "TLSv1.1" in failed_or_skip(run, "test_tls_legacy_versions_refused")
    assert "refused ['TLSv1.2']" in failed_or_skip(run, "test_tls_modern_versions_accepted")


def test_redirect_and_header_checks_fail(variant, child_gate, readable: Path) -> None:
    block = push_block()
    stripped = "\n".join(line for line in block.splitlines()
                         if not any(h in line for h in ("Strict-Transport-Security", "X-Frame-Options",
                                                        "X-Content-Type-Options")))
    conf = nginx_conf(readable, ("return 301 https://$host$request_uri;", 'return 200 "plain http\\n";'),
                      (block, stripped))
    run = child_gate(f"{TLS}::test_http_redirects_to_https", f"{TLS}::test_security_headers_on_https_responses",
                     compose=variant(with_nginx(conf)))
    assert "expected 301" in failed_or_skip(run, "test_http_redirects_to_https")
    reason = failed_or_skip(run, "test_security_headers_on_https_responses")
    assert "without security headers" in reason
    assert "OPTIONS push (preflight)" in run.checks["test_security_headers_on_https_responses"]["evidence"]["failure"]


def test_certificate_check_fails_on_a_foreign_certificate(variant, child_gate) -> None:
    foreign = generate("selftest-foreign-ca")       # another CA's certificate (and htpasswd files)

    def broken(doc: Compose) -> None:
        only("nginx")(doc)
        mount("nginx", "/etc/nginx/secrets", foreign.root / "nginx")(doc)

    try:
        run = child_gate(f"{TLS}::test_served_certificate_chains_to_run_ca", compose=variant(broken))
    finally:
        foreign.remove()
    assert "does not verify against the run's CA" in failed_or_skip(run, "test_served_certificate_chains_to_run_ca")


def test_rate_limit_check_fails_without_limit_req(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, edit_push_location("limit_req zone=loki_push burst=100 nodelay;", ""))
    run = child_gate(f"{RATE}::test_push_rate_limit_refuses_excess_then_recovers",
                     f"{CORS}::test_cors_headers_on_refused_push", compose=variant(with_nginx(conf, "loki")))
    assert "has no limit_req" in failed_or_skip(run, "test_push_rate_limit_refuses_excess_then_recovers")
    # Without a limit there is no 429 to carry CORS: that check still judges 401 and 502.
    passed_or_skip(run, "test_cors_headers_on_refused_push")
