"""The cipher-suite checks fail, naming the suites, on an nginx.conf whose ssl_ciphers is widened.

The variant is the production nginx.conf with ``ALL:@SECLEVEL=0`` in front of its suites (every suite
nginx's OpenSSL has, anonymous ones included, at security level 0) and two classic weak names:
AES256-SHA (static RSA, CBC) and DES-CBC3-SHA (3DES; OpenSSL 3 has none, so only the static check can
name it). The static check runs with the whole static set, which must fail on it alone; the live
check needs only nginx (the stand-in image), so it runs wherever the stand-in does.
"""

from __future__ import annotations

from pathlib import Path

from tests.selftest.conftest import NGINX_CONF, STACK, failed_or_skip, mount, nginx_conf, passed_or_skip, with_nginx
from tests.selftest.test_static_checks_fail import STATIC, only_failure

STATIC_CHECK = "test_nginx_conf_ciphers_follow_mozilla_intermediate"
LIVE_CHECK = "test_tls_weak_cipher_suites_refused"
LIVE = f"tests/integration/edge/test_edge_tls.py::{LIVE_CHECK}"
WIDENED = ("ssl_ciphers ECDHE-", "ssl_ciphers ALL:@SECLEVEL=0:AES256-SHA:DES-CBC3-SHA:ECDHE-")


def test_static_cipher_check_fails_naming_the_weak_suites(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, WIDENED)
    run = child_gate(*STATIC, compose=variant(mount("nginx", NGINX_CONF, conf)))
    findings = only_failure(run, STATIC_CHECK)
    assert "ssl_ciphers: enables anonymous (aNULL) suites: " in findings and "AECDH-AES128-SHA" in findings
    assert "enables 3DES/DES suites: DES-CBC3-SHA (none in this OpenSSL)" in findings
    assert "enables no forward secrecy (static RSA/PSK key exchange) suites: " in findings and "AES256-SHA," in findings
    assert "enables CBC (MAC-then-encrypt) suites: " in findings


def test_live_cipher_check_fails_naming_the_accepted_suites(variant, child_gate, readable: Path) -> None:
    conf = nginx_conf(readable, WIDENED)
    run = child_gate(LIVE, compose=variant(with_nginx(conf)))
    reason = failed_or_skip(run, LIVE_CHECK)
    assert "nginx negotiated weak TLS 1.2 suites: anonymous (aNULL): AECDH-" in reason
    assert "CBC (MAC-then-encrypt): ECDHE-ECDSA-" in reason
    evidence = run.checks[LIVE_CHECK]["evidence"]
    assert "AECDH-AES128-SHA" in evidence["anonymous (aNULL)"]["accepted"]
    three_des = evidence["3DES/DES"]          # OpenSSL 3 cannot offer it: said so (another build offers it)
    assert three_des.get("not tried") or three_des.get("offered"), three_des


def test_live_cipher_check_passes_on_the_production_conf(variant, child_gate) -> None:
    run = child_gate(LIVE, compose=variant(with_nginx(STACK / "nginx" / "nginx.conf")))
    passed_or_skip(run, LIVE_CHECK)
