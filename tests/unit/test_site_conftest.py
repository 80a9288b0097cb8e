"""The top-level conftest.py is where a site's fixtures reach the gate: ``site_log_lines`` is set up for both
byte-identical round-trip checks, and their corpus carries the lines as a stream of their own. No container: the
child runs only plan (``--setup-plan`` executes no fixture) and have no Docker engine to reach anyway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.logs.test_logs_round_trip import _corpus

ROOT = Path(__file__).resolve().parents[2]
ROUND_TRIP = "tests/integration/logs/test_logs_round_trip.py"
CHECKS = ("test_logs_json_push_round_trip_is_byte_identical", "test_logs_protobuf_push_round_trip_is_byte_identical")


def _plan(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, ROUND_TRIP, "-p", "no:cacheprovider", "--pull", "never",
                           "--reports-dir", str(tmp_path / "reports")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_site_log_lines_are_set_up_for_both_round_trip_checks(tmp_path: Path) -> None:
    out = _plan(tmp_path, "--setup-plan")
    for check in CHECKS:
        (line,) = (x for x in out.splitlines() if f"::{check} (fixtures used:" in x)
        assert "site_log_lines" in line.split("(fixtures used:")[1], line
    assert out.count("SETUP    F site_log_lines") == len(CHECKS), out


def test_site_log_lines_come_from_the_top_level_conftest(tmp_path: Path) -> None:
    out = _plan(tmp_path, "--fixtures-per-test")
    assert out.count("site_log_lines -- conftest.py:") == len(CHECKS), out


def test_corpus_pushes_the_site_lines_unchanged_as_a_stream_of_their_own(site_log_lines: list[str]) -> None:
    ts = 1_780_000_000_000_000_000
    streams = _corpus(ts, site_log_lines)
    (site,) = (entries for labels, entries in streams if labels.get("service") == "pos-site")
    assert [line for _, line in site] == site_log_lines
    everything = [entry for _, entries in streams for entry in entries]
    assert len({t for t, _ in everything}) == len(everything)                     # one entry per nanosecond
    assert min(t for t, _ in site) > max(t for labels, entries in streams if labels.get("service") != "pos-site"
                                           for t, _ in entries)


def test_default_site_lines_are_the_awkward_kind(site_log_lines: list[str]) -> None:
    receipt, backend = site_log_lines
    assert all(c in receipt for c in "€öüß") and len(receipt.encode()) > len(receipt)
    error = json.loads(backend)["err"]
    assert error["stack"].count("\n    at ") >= 2 and "\n" not in backend     # a stack trace, escaped in one line


@pytest.mark.parametrize("site_lines", [[], ["one line"]])
def test_corpus_without_or_with_few_site_lines(site_lines: list[str]) -> None:
    streams = _corpus(1_780_000_000_000_000_000, site_lines)
    assert any(labels.get("service") == "pos-site" for labels, _ in streams) == bool(site_lines)
