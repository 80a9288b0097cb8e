"""``python -m obsgate.load.regressions reports/latest/gate.json``: exit 1 on a >10% regression.

gate.json's ``comparison`` (against the previous run of the same stack, from history.jsonl)
lists every measured value that got worse by more than 10%; the nightly workflow fails on
any. Without a previous run there is nothing to regress from: exit 0, saying so.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def regressions(document: dict[str, Any]) -> list[str]:
    """One line per regressed value: check, name, before -> after, how much worse."""
    comparison = document.get("comparison") or {}
    lines = []
    for r in comparison.get("regressions", []):
        change = f"{r['change_pct']:.1f}% worse" if r.get("change_pct") is not None else "worse than 0"
        lines.append(f"{r['nodeid']} {r['name']}: {r['before']:g} -> {r['after']:g} {r['unit']} ({change})")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m obsgate.load.regressions GATE.json", file=sys.stderr)
        return 2
    path = Path(argv[0])
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"regressions: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    if not document.get("comparison"):
        print("regressions: no previous run of this stack to compare with")
        return 0
    found = regressions(document)
    previous = document["comparison"].get("previous_run_id", "?")
    for line in found:
        print(f"REGRESSION {line}")
    print(f"regressions: {len(found)} value(s) more than 10% worse than run {previous}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
