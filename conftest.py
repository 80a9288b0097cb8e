"""This site's fixtures and hooks for the gate: what the checks need to know about *your* deployment.

pytest loads this file for every test under the project (it sits at the rootdir), so a fixture defined
here reaches any gate check that asks for it by name, and a hook here applies to the whole run.

What belongs here:

- site fixtures: facts about the site that the generic checks are fed with, such as
  ``site_log_lines`` below (the log lines your tills and backends really write, which the byte-identical
  round-trip checks in tests/integration/logs push through nginx and read back);
- hooks that describe or adapt the run for the site, e.g. ``pytest_report_header`` naming the site and
  the machine the gate ran on.

What does not: judgement. What passes or fails, and why, lives in ``obsgate/checks`` (with its unit tests);
the numbers it is held to live in ``gate.yml``; how services are started and reached lives in
``obsgate/gate/fixtures.py``. A site fixture supplies data; it never decides an outcome.
"""

from __future__ import annotations

import pytest

SITE_LOG_LINES = [
    # A German till's receipt line: euro sign, umlauts and ß, a multiplication sign, a non-breaking space.
    "BON 2026-0815 | Filiale Köln-Ehrenfeld | Kasse 03 | 2× Brötchen à 0,45 € | 1× Käsespätzle 7,90 € | "
    "Rabatt −1,00 € | Summe\u00a07,80 € | MwSt 7 % 0,51 € | Zahlart: girocard | Danke für Ihren Einkauf, Grüße & Tschüß!",
    # The backend's JSON log line of a failed TSE signature (KassenSichV), its stack trace escaped inside the line.
    '{"level":"error","time":"2026-12-04T09:12:44.512Z","service":"pos-backend","store":"STORE_017",'
    '"terminal":"T-017-02","receipt":"2026-0815","msg":"TSE-Signatur fehlgeschlagen","err":{"type":"TseTimeoutError",'
    '"message":"TSE antwortet nicht (5000 ms)","stack":"TseTimeoutError: TSE antwortet nicht (5000 ms)\\n'
    '    at TseClient.sign (/app/dist/tse/client.js:88:15)\\n    at async ReceiptService.finish '
    '(/app/dist/receipt/service.js:142:9)\\n    at async CheckoutController.pay (/app/dist/checkout/controller.js:57:5)"}}',
]


@pytest.fixture
def site_log_lines() -> list[str]:
    """Log lines this site's tills and backends really write, pushed as a stream of their own by the round-trip
    checks: paste your awkward ones here (encodings, escapes, lengths) and the gate proves they come back unchanged."""
    return list(SITE_LOG_LINES)
