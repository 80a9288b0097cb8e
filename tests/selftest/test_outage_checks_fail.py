"""The Loki-outage checks fail, naming the cause, on nginx configs that handle an outage badly.

Each variant changes the production nginx.conf's push location and runs the outage drill
without waiting for LokiDown's page (the page's own failures are proven in
test_alerting_checks_fail.py). The drill needs Loki: where Loki cannot run (as in CI)
the checks are not evaluated and these self-tests skip with the reason.
"""

from __future__ import annotations

from pathlib import Path

from tests.selftest.conftest import (
    PUSH_LOCATION,
    edit_push_location,
    failed_or_skip,
    nginx_conf,
    passed_or_skip,
    push_block,
    with_nginx,
)

OUTAGE = "tests/integration/resilience/test_resilience_outage.py"
FAST, CORS, BACK = (f"{OUTAGE}::test_push_through_nginx_fails_fast_while_loki_is_down",
                    f"{OUTAGE}::test_cors_headers_on_gateway_errors_while_loki_is_down",
                    f"{OUTAGE}::test_push_succeeds_again_after_loki_returns_without_touching_other_services")


def test_fail_fast_check_fails_when_nginx_masks_the_outage_as_success(variant, child_gate, readable: Path) -> None:
    # A "friendly" error page: clients are told their lines were taken, and drop them.
    conf = nginx_conf(readable,
                      (f"        {PUSH_LOCATION}", f"        location @swallowed {{ return 204; }}\n\n        {PUSH_LOCATION}"),
                      edit_push_location("            proxy_read_timeout 30s;\n",
                                         "            proxy_read_timeout 30s;\n"
                                         "            error_page 502 503 504 =204 @swallowed;\n"))
    run = child_gate(FAST, compose=variant(with_nginx(conf, "loki")))
    assert "pushes while Loki was down did not answer (502, 503, 504)" in failed_or_skip(run, FAST.split("::")[1])
    assert "'status': 204" in run.reason(FAST.split("::")[1])


def test_cors_and_recovery_checks_fail_on_a_static_upstream_without_always(variant, child_gate,
                                                                           readable: Path) -> None:
    # Two classic mistakes: `add_header` without `always` (error answers carry no CORS), and a
    # literal proxy_pass (nginx resolves Loki once at start and never learns its new address).
    block = push_block()
    broken = "\n".join(line.replace(" always;", ";") if "Access-Control" in line or "Vary" in line else line
                       for line in block.splitlines())
    broken = broken.replace("            set $loki_upstream http://loki:3100;\n            proxy_pass $loki_upstream;",
                            "            proxy_pass http://loki:3100;")
    assert "proxy_pass http://loki:3100;" in broken, "variant edit does not apply any more"
    conf = nginx_conf(readable, (block, broken))
    run = child_gate(FAST, CORS, BACK, compose=variant(with_nginx(conf, "loki")))
    passed_or_skip(run, FAST.split("::")[1])        # still 502 at once: only the other two are broken
    assert "gateway errors without CORS" in failed_or_skip(run, CORS.split("::")[1])
    back = failed_or_skip(run, BACK.split("::")[1])
    assert "a push through nginx answering 204 after Loki was ready again" in back
