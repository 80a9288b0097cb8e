"""The canary-grade data-path checks fail, each for its own reason, on deliberately broken stacks.

Each variant runs only Loki and nginx:
- nginx caching the Loki read API with a key that leaves out the query string (a caching setup copied from a
  static site to speed dashboards up): every page of a paged read answers the first page again, so the canary
  reads lines twice and never the rest — duplicates and missing lines, per stream;
- nginx's tail location without the websocket upgrade headers: Loki refuses the tail;
- Loki with its entries limit lowered on the command line (-validation.max-entries-limit=1000) under a config
  file declaring 5000: the page size clients read by is refused;
- Loki writing its chunks and index to /tmp in its container instead of the data volume (lost on re-creation):
  the store-only querier beside it finds none of the flushed lines.
Where Loki cannot run (no image, as in CI), the child reports the checks not evaluated and these self-tests
skip with that reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.selftest.conftest import STACK, Compose, failed_or_skip, mount, nginx_conf, only, with_nginx

CANARY = "tests/integration/logs/test_logs_canary.py"
SEQUENCE = "test_logs_canary_streams_read_back_with_no_missing_duplicate_or_out_of_order_line"
TAIL = "test_logs_live_tail_through_nginx_delivers_lines_in_order_within_freshness"
PAGING = "test_logs_query_beyond_one_page_returns_every_line_by_paging"
STORED = "test_logs_flushed_lines_are_answered_from_storage"
TAIL_LOCATION = "location = /loki/api/v1/tail {"
READ_ANCHOR = "            # Loki: query_timeout 45s < http_server_write_timeout 70s < this.\n"


def _tail_block() -> str:
    text = (STACK / "nginx" / "nginx.conf").read_text()
    start = text.index(TAIL_LOCATION)
    return text[start:text.index("\n        }\n", start)]


def test_sequence_check_counts_duplicates_and_missing_lines_behind_a_cache_ignoring_the_query(
        variant, child_gate, readable: Path) -> None:
    """A cache keyed by path alone answers page 2 with page 1: the check fails naming, per stream, the lines
    read twice and the lines never read, and why paging stopped."""
    conf = nginx_conf(readable,
                      ("    limit_req_status 429;\n",
                       "    limit_req_status 429;\n    proxy_cache_path /tmp/loki-read-cache keys_zone=loki_read:1m;\n"),
                      (READ_ANCHOR, READ_ANCHOR + "            proxy_cache loki_read;\n"
                                                  "            proxy_cache_key $scheme$proxy_host$uri;\n"
                                                  "            proxy_cache_valid 200 1m;\n"))
    run = child_gate(f"{CANARY}::{SEQUENCE}", compose=variant(with_nginx(conf, "loki")))
    reason = failed_or_skip(run, SEQUENCE) + run.checks[SEQUENCE]["evidence"].get("failure", "")
    assert "canary_lines_missing:" in reason, reason
    for stream in ("s0", "s1", "s2", "s3"):
        counts = re.search(rf"{stream}: 300 pushed, (\d+) read, (\d+) missing \(first seq \d+\), (\d+) duplicate", reason)
        assert counts is not None, reason
        read, missing, duplicate = map(int, counts.groups())
        assert missing > 0 and duplicate > 0 and read == 300 - missing + duplicate, reason
    assert "paging stopped early: page 2" in reason, reason


def test_tail_check_fails_when_nginx_does_not_upgrade_the_tail(variant, child_gate, readable: Path) -> None:
    """Without Upgrade/Connection forwarded, Loki gets a plain GET and refuses the tail: the check fails at once
    quoting Loki's refusal through nginx."""
    block = _tail_block()
    unupgraded = re.sub(r"\n\s*proxy_set_header (?:Upgrade|Connection) .*;", "", block)
    assert unupgraded != block
    conf = nginx_conf(readable, (block, unupgraded))
    run = child_gate(f"{CANARY}::{TAIL}", compose=variant(with_nginx(conf, "loki")))
    reason = failed_or_skip(run, TAIL)
    assert "loki via nginx: GET /loki/api/v1/tail -> 400: Bad Request" in reason, reason


def test_paging_check_fails_on_a_loki_refusing_the_declared_page_size(variant, child_gate) -> None:
    """Loki's command lowers the entries limit below what its config file declares: pages of the declared size
    are refused with Loki's reason."""
    def broken(doc: Compose) -> None:
        only("loki", "nginx")(doc)
        doc["services"]["loki"]["command"] = [*doc["services"]["loki"]["command"], "-validation.max-entries-limit=1000"]

    run = child_gate(f"{CANARY}::{PAGING}", compose=variant(broken))
    reason = failed_or_skip(run, PAGING)
    # 2.9.3 says max_entries_limit, 3.4.6 max_entries_limit_per_query.
    assert re.search(r"400: max entries limit per query exceeded, limit > max_entries_limit(?:_per_query)? "
                     r"\(5000 > 1000\)", reason), reason
    assert run.checks[PAGING]["evidence"]["entries_limit"] == {"declared": 5000, "effective": 1000,
                                                                "file": str(STACK / "loki" / "loki.yml")}


def test_storage_check_fails_when_chunks_are_written_outside_the_volume(variant, child_gate, readable: Path) -> None:
    """Chunks and index go to /tmp inside the writer's container: flushed and shipped there, but nothing on the
    volume a second Loki (the store-only querier) reads, so every flushed line is missing from storage."""
    config = yaml.safe_load((STACK / "loki" / "loki.yml").read_text())
    config["common"]["storage"]["filesystem"]["chunks_directory"] = "/tmp/loki-chunks"
    config["storage_config"]["filesystem"]["directory"] = "/tmp/loki-chunks"
    path = readable / "loki.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o644)

    def broken(doc: Compose) -> None:
        only("loki")(doc)
        mount("loki", "/etc/loki/loki.yml", path)(doc)

    run = child_gate(f"{CANARY}::{STORED}", compose=variant(broken))
    reason = failed_or_skip(run, STORED)
    assert "stored_canary_lines_missing: 100 lines > target 0 lines" in reason, reason
    assert "s0: 50 pushed, 0 read, 50 missing (first seq 0)" in reason, reason
    assert run.checks[STORED]["evidence"]["store"]["answered_before_flush"] == 0
