"""``python -m obsgate repeat -n N [--cpu-load K] -- <gate args>``: flakiness as a measured property.

Runs the gate N times on the same stack definition (each run its own containers, as
always) and tabulates, per check, how often it passed, failed or was not evaluated, and
the spread of every measurement against its target. A check qualifies on a machine when
it comes out the same in every run: passed each time, or not evaluated each time (for a
reason). Anything else follows the machine rather than the stack, and must be fixed
before the check, or the machine, is trusted.

Every run writes its reports under the session directory; the table is built from their
gate.json documents and saved beside them (repeat.txt, repeat.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = ("passed", "soft_miss", "failed", "error", "not_evaluated")
GOOD = frozenset(("passed", "not_evaluated"))   # a good stack's outcomes: not evaluated says why, inconclusive counts
GRACE_S = 120.0         # after SIGINT, how long a run gets to tear its containers down


@dataclass
class RunRecord:
    """One gate run as its gate.json tells it, with the wall time this command saw."""

    index: int
    run_id: str
    wall_s: float
    exit_code: int
    verdict: str
    outcomes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)   # "check: name" -> value, target...

    @classmethod
    def of_document(cls, index: int, doc: dict[str, Any], wall_s: float, exit_code: int) -> RunRecord:
        record = cls(index, str(doc["metadata"]["run_id"]), wall_s, exit_code, str(doc["verdict"]))
        for check in doc["checks"]:
            record.outcomes[check["check_id"]] = check["outcome"]
            if check["outcome"] != "passed":
                record.reasons[check["check_id"]] = check["reason"].splitlines()[0][:200] if check["reason"] else ""
            for m in check["measurements"]:
                if m["value"] is not None:
                    record.measurements[f"{check['check_id']}: {m['name']}"] = {
                        k: m[k] for k in ("value", "unit", "target", "better")}
        return record


@dataclass
class Tally:
    """How one check came out over the runs."""

    check_id: str
    counts: Counter[str]
    reasons: list[str]

    @property
    def qualified(self) -> bool:
        """Passed or not evaluated in every run, in any mix: never failed, soft-missed, errored or went missing.
        A check failing every time is consistent, but not qualified."""
        return set(self.counts) <= GOOD


@dataclass(frozen=True)
class Spread:
    """One measurement over the runs, and its worst value against the target."""

    key: str
    values: tuple[float, ...]
    unit: str
    target: float | None
    better: str | None

    @property
    def worst(self) -> float:
        return min(self.values) if self.better == "higher" else max(self.values)


def tally(records: Sequence[RunRecord]) -> list[Tally]:
    """Per check (in first-seen order): outcome counts and the distinct reasons it did not pass."""
    checks = list(dict.fromkeys(c for r in records for c in r.outcomes))
    out = []
    for check in checks:
        counts = Counter(r.outcomes.get(check, "missing") for r in records)
        reasons = sorted({r.reasons[check] for r in records if r.reasons.get(check)})
        out.append(Tally(check, counts, reasons))
    return out


def spreads(records: Sequence[RunRecord]) -> list[Spread]:
    keys = list(dict.fromkeys(k for r in records for k in r.measurements))
    out = []
    for key in keys:
        seen = [r.measurements[key] for r in records if key in r.measurements]
        out.append(Spread(key, tuple(float(m["value"]) for m in seen), str(seen[0]["unit"]), seen[0]["target"],
                          seen[0]["better"]))
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]
    return [lines[0], "  ".join("-" * w for w in widths), *lines[1:]]


def _n(value: float) -> str:
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def render(records: Sequence[RunRecord], label: str) -> str:
    """The whole report: runs with wall times, checks with outcome counts, measurements with spreads."""
    lines = [f"obs-gate repeat: {len(records)} runs — {label}", ""]
    lines += _table(("run", "run id", "wall s", "exit", "verdict", "passed", "failed", "not evaluated"),
                    [(r.index, r.run_id, f"{r.wall_s:.1f}", r.exit_code, r.verdict,
                      sum(o == "passed" for o in r.outcomes.values()),
                      sum(o in ("failed", "error", "soft_miss") for o in r.outcomes.values()),
                      sum(o == "not_evaluated" for o in r.outcomes.values())) for r in records])
    walls = [r.wall_s for r in records]
    if walls:
        lines.append(f"wall time: min {min(walls):.1f} s, median {statistics.median(walls):.1f} s, max {max(walls):.1f} s")
    tallies = tally(records)
    lines += ["", *_table(("check", *OUTCOMES, "qualified"),
                          [(t.check_id, *(t.counts.get(o, 0) for o in OUTCOMES), "yes" if t.qualified else "NO")
                           for t in tallies])]
    for t in tallies:
        if not t.qualified or t.counts.get("not_evaluated"):
            lines += [f"  {t.check_id}: {reason}" for reason in t.reasons]
    rows = [(s.key, len(s.values), _n(min(s.values)), _n(statistics.median(s.values)), _n(max(s.values)),
             _n(max(s.values) - min(s.values)), "-" if s.target is None else f"{_n(s.target)} {s.unit}",
             _n(s.worst)) for s in spreads(records)]
    if rows:
        lines += ["", *_table(("measurement", "n", "min", "median", "max", "spread", "target", "worst"), rows)]
    bad = [t.check_id for t in tallies if not t.qualified]
    lines += ["", f"qualified: every check passed or was not evaluated in all {len(records)} runs"
              if not bad else f"NOT qualified: {len(bad)} check(s) not passed in every run: {', '.join(bad)}"]
    return "\n".join(lines)


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """Interrupt a run like Ctrl-C (it tears its stack down), then kill it if it does not end."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def run_once(index: int, gate_args: Sequence[str], reports: Path, timeout_s: float) -> RunRecord:
    """One gate run in a child pytest, with its own run id and reports under ``reports``."""
    run_id = uuid.uuid4().hex[:12]
    env = {**os.environ, "OBSGATE_RUN_ID": run_id}
    argv = [sys.executable, "-m", "pytest", *gate_args, "--reports-dir", str(reports)]
    started = time.monotonic()
    with subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True) as proc:
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc, GRACE_S)
            code = -1
            print(f"  run {index} ({run_id}) exceeded {timeout_s:g} s and was stopped; if anything is left: "
                  f"obsgate sweep --run {run_id}", file=sys.stderr)
    wall = time.monotonic() - started
    docs = [p for p in sorted(reports.glob("*/gate.json")) if p.parent.name.endswith(run_id[:8])]
    if not docs:
        return RunRecord(index, run_id, wall, code, "NO REPORT")
    return RunRecord.of_document(index, json.loads(docs[-1].read_text()), wall, code)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--runs", type=int, default=10, help="how many gate runs (default 10)")
    parser.add_argument("--cpu-load", type=int, default=0, metavar="K",
                        help="keep K CPU workers busy meanwhile (Debian's stress-ng), to qualify under load")
    parser.add_argument("--reports-dir", type=Path, default=Path("reports") / "repeat",
                        help="where the session directory goes (default reports/repeat)")
    parser.add_argument("--run-timeout", type=float, default=3600.0, help="stop a run after this many seconds")
    parser.add_argument("gate_args", nargs=argparse.REMAINDER, help="-- then the gate's pytest arguments")


def main(args: argparse.Namespace) -> int:
    gate_args = args.gate_args[1:] if args.gate_args[:1] == ["--"] else args.gate_args
    if not 1 <= args.runs <= 100:
        print("obs-gate repeat: -n must be 1..100", file=sys.stderr)
        return 2
    session = Path(args.reports_dir) / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    session.mkdir(parents=True)
    label = f"pytest {' '.join(gate_args)}; background load: " + (
        f"stress-ng --cpu {args.cpu_load}" if args.cpu_load else "none")
    load = None
    if args.cpu_load:
        if shutil.which("stress-ng") is None:
            print("obs-gate repeat: --cpu-load needs stress-ng (apt-get install stress-ng)", file=sys.stderr)
            return 2
        load = subprocess.Popen(["stress-ng", "--cpu", str(args.cpu_load), "--quiet"], start_new_session=True)
    records = []
    try:
        for index in range(1, args.runs + 1):
            record = run_once(index, gate_args, session / "runs", args.run_timeout)
            records.append(record)
            print(f"run {index}/{args.runs}: {record.verdict}, {record.wall_s:.1f} s", flush=True)
    finally:
        if load is not None:
            _stop(load, 10.0)
    report = render(records, label)
    (session / "repeat.txt").write_text(report + "\n")
    (session / "repeat.json").write_text(json.dumps({"label": label, "runs": [asdict(r) for r in records]}, indent=1))
    print(report)
    print(f"\nsession: {session}")
    return 0 if all(t.qualified for t in tally(records)) else 1
