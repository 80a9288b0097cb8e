"""Reports of a gate run: gate.json, summary.md, report.html, history and the console summary."""

from obsgate.gate.report.console import console_summary
from obsgate.gate.report.history import Flip, Regression, RunComparison
from obsgate.gate.report.run import new_run_dir, write_run_reports

__all__ = [
    "Flip", "Regression", "RunComparison", "console_summary", "new_run_dir", "write_run_reports",
]
