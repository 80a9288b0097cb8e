"""Load options: one message naming the option for each bad input, before anything runs (no container)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from obsgate.load import options
from obsgate.load.options import OptionError, from_namespace


def ns(**changes: object) -> argparse.Namespace:
    values = vars(options.defaults())
    values.update(host="https://127.0.0.1:8443")
    values.update(changes)
    return argparse.Namespace(**values)


def test_defaults_make_a_valid_run(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("pem")
    run = from_namespace(ns(push_user="u", push_password="p", ca_file=str(ca), run_tag="t1"))
    assert run.push_auth == ("u", "p") and run.read_auth is None and run.ca_file == ca and run.tls
    assert run.run_tag == "t1" and run.plan.phases[0].name == "warm-up"
    assert from_namespace(ns()).run_tag.startswith("locust-")


def test_env_vars_fill_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSGATE_LINES_PER_REQUEST", "200")
    monkeypatch.setenv("OBSGATE_PUSH_USER", "pos-push")
    defaults = options.defaults()
    assert defaults.lines_per_request == 200 and defaults.push_user == "pos-push"


@pytest.mark.parametrize("changes, problem", [
    ({"host": None}, "no target: pass --host"),
    ({"host": "ftp://x"}, "is not an http"),
    ({"host": "https://127.0.0.1:1/loki/api/v1/push"}, "has a path"),
    ({"ca_file": "/nonexistent/ca.crt"}, "--ca-file /nonexistent/ca.crt: no such file"),
    ({"push_user": "u"}, "--push-password missing"),
    ({"read_password": "p"}, "--read-user missing"),
    ({"user_rps": 0}, "--user-rps must be > 0"),
    ({"query_interval_s": -1}, "--query-interval-s must be >= 0"),
    ({"shape": "step", "step_rps": -2}, "--shape step: step-up step must be"),
    ({"shape": "soak", "soak_s": 7200, "max_run_s": 3600}, "longer than the hard cap"),
    ({"shape": "wave"}, "--shape must be one of"),
    ({"lines_per_request": 5}, "at least the streams per request"),
    ({"line_bytes_mean": 100}, "0 < min <= mean <= max"),
])
def test_bad_options_are_refused_naming_the_option(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(OptionError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        from_namespace(ns(**changes))


def test_ca_file_needs_https(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("pem")
    with pytest.raises(OptionError, match="is not https"):
        from_namespace(ns(host="http://127.0.0.1:3100", ca_file=str(ca)))
