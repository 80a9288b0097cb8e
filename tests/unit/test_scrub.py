"""No secret survives in the run directory or history.jsonl, however written or escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import pytest

from obsgate.core.policy import Category, Policy
from obsgate.core.results import CheckResult, Measurement, Outcome
from obsgate.gate.report import new_run_dir, write_run_reports
from obsgate.gate.report.html_report import EVIDENCE_LIMIT
from obsgate.gate.report.scrub import MASK, scrub_value, secret_forms
from obsgate.gate.scoring import score

POLICY = Policy(Path("gate.yml"), 80, 60, {"Security": Category("Security", 100, False, "")},
                ("test_login",), {})
PASSWORD = "s3cr3t-Grafana-pw"
TOKEN = 'tok<&"en>\\x'              # changes under JSON, HTML and URL escaping
SHORT = "abc"                        # too short to scrub safely
STARTED = datetime(2024, 5, 17, 9, 0, tzinfo=UTC)


def planted_results() -> list[CheckResult]:
    return [
        CheckResult("test_login", "tests/integration/test_auth.py::test_login", "Security", 1,
                    Outcome.FAILED, reason=f"login with admin:{PASSWORD} refused (abc)",
                    measurements=[Measurement(f"latency_{PASSWORD}", 1.0, "s")],
                    evidence={"request": f"Authorization: Bearer {TOKEN}",
                              "url": f"https://admin:{quote(PASSWORD)}@grafana.local/",
                              PASSWORD: "as a key",
                              # a secret straddling the cut where the HTML truncates evidence
                              "long": "x" * (EVIDENCE_LIMIT - 40) + PASSWORD}),
        CheckResult("test_tls", "tests/integration/test_tls.py::test_tls", "Security", 1,
                    Outcome.NOT_EVALUATED, reason=f"cannot read key {TOKEN}"),
    ]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    run_dir = new_run_dir(tmp_path, "5e5e5e5e-run", STARTED)
    suite = ElementTree.Element("testsuite")
    case = ElementTree.SubElement(suite, "testcase", name="test_login")
    failure = ElementTree.SubElement(case, "failure", message=f"pw {PASSWORD} {TOKEN}")
    failure.text = f"token {TOKEN}"
    ElementTree.ElementTree(suite).write(run_dir / "junit.xml", encoding="utf-8")
    (run_dir / "logs").mkdir()
    (run_dir / "logs" / "grafana.log").write_text(f"admin password is {PASSWORD}\n")
    meta = {"run_id": "5e5e5e5e-run", "mode": "gate", "started": STARTED.isoformat(),
            "finished": STARTED.isoformat(), "stack_id": f"stack-{PASSWORD}",
            "host": f"runner {TOKEN}", "overrides": {"grafana": f"img?pw={PASSWORD}"}}
    write_run_reports(tmp_path, run_dir, score(planted_results(), POLICY), meta,
                      [PASSWORD, TOKEN, SHORT])
    return run_dir


def files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()]


def test_no_secret_in_any_file(run_dir: Path) -> None:
    everything = files(run_dir) + [run_dir.parent / "history.jsonl"]
    assert {p.name for p in everything} >= {"gate.json", "summary.md", "report.html",
                                            "junit.xml", "grafana.log", "history.jsonl"}
    for path in everything:
        text = path.read_text()
        for form in secret_forms([PASSWORD, TOKEN]):
            assert form not in text, f"{form!r} left in {path.name}"
        for fragment in ("s3cr3t", "Grafana-pw", "tok<", "tok&lt;"):
            assert fragment not in text, f"{fragment!r} left in {path.name}"


def test_masks_are_visible_where_secrets_were(run_dir: Path) -> None:
    assert f"admin password is {MASK}" in (run_dir / "logs" / "grafana.log").read_text()
    junit = ElementTree.parse(run_dir / "junit.xml").getroot()  # still well-formed
    assert junit[0][0].get("message") == f"pw {MASK} {MASK}"
    assert junit[0][0].text == f"token {MASK}"
    doc = json.loads((run_dir / "gate.json").read_text())  # still valid JSON
    check = doc["checks"][0]
    assert check["reason"] == f"login with admin:{MASK} refused (abc)"  # short secret kept
    assert check["evidence"]["request"] == f"Authorization: Bearer {MASK}"
    assert check["evidence"]["url"] == f"https://admin:{MASK}@grafana.local/"
    assert check["evidence"][MASK] == "as a key"
    assert check["measurements"][0]["name"] == f"latency_{MASK}"
    assert doc["metadata"]["stack_id"] == f"stack-{MASK}"


def test_history_holds_no_secret(run_dir: Path) -> None:
    line = (run_dir.parent / "history.jsonl").read_text()
    entry = json.loads(line)
    assert entry["stack_id"] == f"stack-{MASK}"
    assert "latency_***" in line and PASSWORD not in line


def test_short_secrets_are_ignored() -> None:
    assert secret_forms(["abc", ""]) == []
    assert scrub_value({"a": "abc abcd"}, secret_forms(["abc", "abcd"])) == {"a": "abc ***"}


def test_longer_secret_is_masked_before_a_shorter_one_inside_it() -> None:
    forms = secret_forms(["pass", "password1"])
    assert scrub_value("password1 pass", forms) == "*** ***"


def test_scrub_value_keeps_types() -> None:
    result = planted_results()[0]
    clean = scrub_value(result, secret_forms([PASSWORD]))
    assert isinstance(clean, CheckResult) and clean.outcome is Outcome.FAILED
    assert PASSWORD not in clean.reason and PASSWORD in result.reason  # a copy
