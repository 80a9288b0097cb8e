"""The logs-in-and-out checks fail, naming the cause, on deliberately broken stacks.

Each variant runs only Loki and nginx. Three child runs cover every check:
- a lenient Loki (every limit the rejection checks rely on switched off or raised),
- nginx's push location pointing nowhere (logs never arrive),
- Loki without its data volume (data in the container's own layer), with max_line_size
  raised above policy.
Where Loki cannot run (no image, as in CI), the child reports the checks not evaluated and
these self-tests skip with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.selftest.conftest import STACK, Compose, mount, nginx_conf, only, reasons, with_nginx

LOGS = "tests/integration/logs"
ROUND_TRIP = f"{LOGS}/test_logs_round_trip.py"
REJECTIONS = f"{LOGS}/test_logs_rejections.py"
LIFECYCLE = "tests/integration/resilience/test_resilience_lifecycle.py"
LOKI_CONF, NGINX_CONF = "/etc/loki/loki.yml", "/etc/nginx/nginx.conf"
# The checks that push and read back through nginx, and their files.
PUSH_AND_READ = {"test_logs_json_push_round_trip_is_byte_identical": ROUND_TRIP,
                 "test_logs_protobuf_push_round_trip_is_byte_identical": ROUND_TRIP,
                 "test_logs_searchable_by_store_terminal_and_error_type": f"{LOGS}/test_logs_search.py",
                 "test_logs_freshness_p95_push_to_queryable": f"{LOGS}/test_logs_freshness.py"}


def _loki_and_nginx(service: str, target: str, source: Path) -> Callable[[Compose], None]:
    """Mutation: only Loki and nginx, ``service`` with ``source`` at ``target``."""
    def broken(doc: Compose) -> None:
        only("loki", "nginx")(doc)
        mount(service, target, source)(doc)
    return broken


def _loki_config(path: Path, limits: dict[str, Any]) -> Path:
    config = yaml.safe_load((STACK / "loki" / "loki.yml").read_text())
    config["limits_config"].update(limits)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_rejection_checks_fail_on_a_lenient_loki(variant, child_gate, tmp_path: Path) -> None:
    config = _loki_config(tmp_path / "loki.yml", {
        "reject_old_samples": False,           # week-old lines accepted
        # On a v13 schema 2.9.3 keeps unordered head blocks but drops the window check: lines of any age accepted.
        "unordered_writes": False,
        "max_line_size_truncate": True,        # long lines cut silently instead of refused
        "ingestion_rate_mb": 1024,             # a tenant limit no bounded burst reaches
        "ingestion_burst_size_mb": 2048,
    })

    broken = _loki_and_nginx("loki", LOKI_CONF, config)
    checks = ("test_logs_too_old_line_rejected_with_reason",
              "test_logs_out_of_order_line_beyond_window_rejected_with_reason",
              "test_logs_over_limit_line_rejected_with_reason",
              "test_loki_tenant_rate_limit_answers_429_with_reason")
    run = child_gate(*(f"{REJECTIONS}::{c}" for c in checks), compose=variant(broken))
    too_old, out_of_order, over_limit, rate = reasons(run, *checks).values()
    assert "expected 400 with 'timestamp too old', got 204" in too_old
    assert "expected 400 with 'entry too far behind', got 204" in out_of_order
    assert 'bytes exceeded", got 204' in over_limit
    assert "no refusal after" in rate and "(1024 MiB/s, burst 2048 MiB) never pushed back" in rate


def test_a_loki_refusing_queries_fails_the_read_checks_at_once_on_one_cause(variant, child_gate, tmp_path: Path) -> None:
    """Loki answers every query asking for more than 10 lines with 400 and its reason: waiting cannot change
    that, so each check fails at once (not after its 10-30 s wait), quoting Loki, and the reports name the
    answer once for all of them."""
    config = _loki_config(tmp_path / "loki.yml", {"max_entries_limit_per_query": 10})
    checks = PUSH_AND_READ
    run = child_gate(*(f"{path}::{check}" for check, path in checks.items()),
                     compose=variant(_loki_and_nginx("loki", LOKI_CONF, config)))
    limit = "400: max entries limit per query exceeded, limit > max_entries_limit"
    for check, reason in reasons(run, *checks).items():
        assert limit in reason, f"{check}: {reason}"
        waited = run.checks[check]["duration_s"] - run.bring_up_s     # the first check waits for the stack
        assert waited < 5, f"{check} waited {waited:.1f} s"
    [shared] = run.failure_causes
    assert shared["count"] == len(checks) and shared["text"].startswith("loki via nginx answered " + limit)
    assert set(shared["services"]) == {"loki via nginx", "loki"}      # the freshness check reads Loki directly


def test_push_checks_fail_when_nginx_push_points_nowhere(variant, child_gate, tmp_path: Path) -> None:
    text = (STACK / "nginx" / "nginx.conf").read_text()
    push_block = text.index("location = /loki/api/v1/push {")
    upstream = text.index("set $loki_upstream http://loki:3100;", push_block)
    conf = tmp_path / "nginx.conf"
    # Port 9 (discard) on nginx's own loopback: nothing listens, so every push gets 502.
    conf.write_text(text[:upstream] + "set $loki_upstream http://127.0.0.1:9;"
                    + text[upstream + len("set $loki_upstream http://loki:3100;"):])

    checks = PUSH_AND_READ
    run = child_gate(*(f"{path}::{check}" for check, path in checks.items()),
                     compose=variant(_loki_and_nginx("nginx", NGINX_CONF, conf)))
    for check, reason in reasons(run, *checks).items():
        assert "push answered 502" in reason, f"{check}: {reason}"


def test_survival_and_line_size_checks_fail_on_volumeless_loki_with_raised_limit(variant, child_gate,
                                                                                 tmp_path: Path) -> None:
    config = _loki_config(tmp_path / "loki.yml", {"max_line_size": "1MB"})

    def broken(doc: Compose) -> None:
        only("loki", "nginx")(doc)
        loki = doc["services"]["loki"]
        # No loki-data volume: WAL and chunks live in the container's layer and die with it.
        loki["volumes"] = [v for v in loki["volumes"] if not v.startswith("loki-data:")]
        mount("loki", LOKI_CONF, config)(doc)

    survive, over_limit = ("test_loki_lines_survive_restart_stop_start_and_recreation",
                           "test_logs_over_limit_line_rejected_with_reason")
    run = child_gate(f"{LIFECYCLE}::{survive}", f"{REJECTIONS}::{over_limit}", compose=variant(broken))
    found = reasons(run, survive, over_limit)
    assert "after recreate of loki: timed out" in found[survive] and "10 pushed entries" in found[survive]
    assert "after restart" not in found[survive]    # the container's own layer survives a restart
    assert "loki_max_line_size: 1,048,576 B > target 262,144 B" in found[over_limit]


def test_round_trip_checks_fail_naming_the_line_a_proxy_changed(variant, child_gate, readable: Path) -> None:
    """nginx rewrites one byte of every query answer (sub_filter: "sale 4711" -> "sale 4712"; Accept-Encoding
    dropped so Loki answers uncompressed): each push is accepted and every entry comes back, one of them changed.
    Both round trips must fail at once on that line, named with its timestamp, the first byte that differs and the
    text that was pushed, never on a refused push nor as a line missing after a wait."""
    anchor = "            # Loki: query_timeout 45s < http_server_write_timeout 70s < this.\n"
    conf = nginx_conf(readable, (anchor, anchor + "            proxy_set_header Accept-Encoding \"\";\n"
                                 "            sub_filter_types application/json;\n"
                                 "            sub_filter_once off;\n"
                                 "            sub_filter 'sale 4711' 'sale 4712';\n"))
    checks = ("test_logs_json_push_round_trip_is_byte_identical", "test_logs_protobuf_push_round_trip_is_byte_identical")
    run = child_gate(*(f"{ROUND_TRIP}::{check}" for check in checks), compose=variant(with_nginx(conf, "loki")))
    for check, reason in reasons(run, *checks).items():
        said = reason + run.checks[check]["evidence"].get("failure", "")
        assert "push answered" not in said, f"{check}: {said}"
        assert "1 of the pushed lines came back changed" in said and "entries missing" not in said, f"{check}: {said}"
        assert "first difference at byte 26: pushed b'1 closed', read b'2 closed'" in said, f"{check}: {said}"
        assert "line starts 'plain ASCII line: sale 4711 closed'" in said, f"{check}: {said}"
