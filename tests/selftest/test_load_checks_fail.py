"""The load checks fail, naming the limit that tripped, on stacks that cannot take the policy's load.

Each variant runs only Loki and nginx, with a policy whose load profile is shortened (the
target rate and line size unchanged):
- Loki's tenant ingestion limit below the target at the policy's line size: Loki's 429, ``rate_limited``;
- nginx's ``client_max_body_size`` on the push path smaller than one batch: nginx's 413;
- nginx's ``limit_req`` on the push path below the target's push rate: nginx's 429.
Where Loki cannot run (no image, as in CI), the child reports the checks not evaluated and
these self-tests skip with that reason.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.selftest.conftest import ROOT, STACK, Compose, mount, only, reasons

INGEST = "tests/load/test_load_ingest.py"
RATE, ERRORS = "test_load_sustains_target_ingest_rate", "test_load_push_error_rate_below_target"
LOKI_CONF, NGINX_CONF = "/etc/loki/loki.yml", "/etc/nginx/nginx.conf"
SHORT = {"ramp_s": 5, "steady_s": 20, "margin_s": 10}


def _short_policy(tmp_path: Path) -> Path:
    policy = yaml.safe_load((ROOT / "gate.yml").read_text())
    policy["load"].update(SHORT)
    path = tmp_path / "gate.yml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def _nginx_conf(tmp_path: Path, old: str, new: str) -> Path:
    text = (STACK / "nginx" / "nginx.conf").read_text()
    assert text.count(old) == 1, f"nginx.conf no longer has exactly one {old!r}"
    path = tmp_path / "nginx.conf"
    path.write_text(text.replace(old, new))
    return path


def _run(child_gate, variant, tmp_path: Path, service: str, target: str, config: Path) -> dict[str, str]:
    def broken(doc: Compose) -> None:
        only("loki", "nginx")(doc)
        mount(service, target, config)(doc)

    run = child_gate(f"{INGEST}::{RATE}", f"{INGEST}::{ERRORS}", compose=variant(broken),
                     extra=("--policy", str(_short_policy(tmp_path))))
    return reasons(run, RATE, ERRORS)


def test_load_checks_fail_on_a_loki_tenant_limit_below_target(variant, child_gate, tmp_path: Path) -> None:
    config = yaml.safe_load((STACK / "loki" / "loki.yml").read_text())
    # 10,000 lines/s of ~1 KiB need ~9.8 MiB/s; the bucket (burst) is spent within a few seconds.
    config["limits_config"].update(ingestion_rate_mb=4, ingestion_burst_size_mb=8)
    path = tmp_path / "loki.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    found = _run(child_gate, variant, tmp_path, "loki", LOKI_CONF, path)
    assert "accepted_lines_per_s" in found[RATE] and "as rate_limited" in found[RATE], found[RATE]
    assert "loki 429: rate_limited (Ingestion rate limit exceeded)" in found[ERRORS], found[ERRORS]


def test_load_checks_fail_on_nginx_body_limit_below_one_batch(variant, child_gate, tmp_path: Path) -> None:
    conf = _nginx_conf(tmp_path, "client_max_body_size 10m;", "client_max_body_size 256k;")
    found = _run(child_gate, variant, tmp_path, "nginx", NGINX_CONF, conf)
    assert "nginx 413: push body larger than client_max_body_size" in found[RATE], found[RATE]
    assert "nginx 413" in found[ERRORS], found[ERRORS]


def test_load_checks_fail_on_a_proxy_rate_limit_below_the_push_rate(variant, child_gate, tmp_path: Path) -> None:
    conf = _nginx_conf(tmp_path, "limit_req zone=loki_push burst=100 nodelay;", "limit_req zone=loki_push burst=2 nodelay;")
    conf.write_text(conf.read_text().replace("zone=loki_push:10m rate=50r/s", "zone=loki_push:10m rate=4r/s"))
    found = _run(child_gate, variant, tmp_path, "nginx", NGINX_CONF, conf)
    assert "nginx 429: proxy rate limit (limit_req) on the push path" in found[RATE], found[RATE]
    assert "nginx 429" in found[ERRORS], found[ERRORS]
