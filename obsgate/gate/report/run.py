"""The run directory: reports written, history appended, `latest` moved, secrets scrubbed."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from obsgate.gate.report.document import (
    build_gate_document,
    validate_gate_document,
    validate_metadata,
)
from obsgate.gate.report.history import (
    HISTORY_FILE,
    RunComparison,
    append_entry,
    compare,
    history_entry,
    previous_entry,
)
from obsgate.gate.report.html_report import render_html
from obsgate.gate.report.markdown import render_summary
from obsgate.gate.report.scrub import scrub_text, scrub_tree, scrub_value, secret_forms
from obsgate.gate.scoring import GateScore

LATEST_LINK = "latest"


def new_run_dir(root: Path, run_id: str, started: datetime) -> Path:
    """Create root/<UTC start>-<run id prefix>; names sort by time. Naive times are local."""
    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = Path(root) / f"{stamp}-{run_id[:8]}"
    run_dir.mkdir(parents=True)
    return run_dir


def write_run_reports(root: Path, run_dir: Path, gate: GateScore, metadata: dict[str, Any],
                      secrets: Sequence[str]) -> RunComparison | None:
    """Write gate.json, summary.md and report.html; record history; compare; scrub.

    Everything is rendered from scrubbed copies (escaping or truncation could hide a
    secret from the final byte-level pass), and gate.json is validated before any file
    is written, so a bad record never lands half-written.
    """
    validate_metadata(metadata)
    root, run_dir = Path(root), Path(run_dir)
    forms = secret_forms(secrets)
    gate = scrub_value(gate, forms)
    metadata = scrub_value(metadata, forms)

    history = root / HISTORY_FILE
    entry = history_entry(gate, metadata)
    previous = previous_entry(history, entry["stack_id"])
    comparison = compare(previous, entry) if previous is not None else None

    document = build_gate_document(gate, metadata, comparison)
    validate_gate_document(document)
    (run_dir / "gate.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    target = (metadata.get("target") or {}).get("url")
    (run_dir / "summary.md").write_text(render_summary(gate, comparison, target) + "\n", "utf-8")
    (run_dir / "report.html").write_text(render_html(gate, metadata, comparison), "utf-8")

    append_entry(history, scrub_text(json.dumps(entry, default=str), forms))
    _point_latest(root, run_dir)
    scrub_tree(run_dir, forms)
    return comparison


def _point_latest(root: Path, run_dir: Path) -> None:
    """Swap root/latest to run_dir atomically (rename over the old link)."""
    link = root / LATEST_LINK
    target = run_dir.name if run_dir.resolve().parent == root.resolve() else str(run_dir.resolve())
    temporary = root / f".{LATEST_LINK}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(target, target_is_directory=True)
    os.replace(temporary, link)
