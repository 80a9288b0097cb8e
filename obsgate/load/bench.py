"""Self-benchmark: how fast one generator process pushes, against a null sink on 127.0.0.1.

``python -m obsgate.load.bench [--seconds 10] [--users 8] [--lines-per-request 1000]``

For JSON and for protobuf+snappy in turn, the real push user (the same templates, stamping,
FastHttpUser client, tally and request events as a gate run) pushes unpaced to
``obsgate.load.sink`` in another process, and the window after a 1 s ramp is measured:
lines/s, MiB/s of log lines and of request bodies, and the generator's CPU share of a core.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgate.load import shapes
from obsgate.load.payloads import FORMATS, Format, PayloadOptions
from obsgate.load.plan import DriverPlan

MIB = 1 << 20
UNPACED_RPS = 1000.0      # per user: far above what it can do, so users never wait


@dataclass(frozen=True)
class BenchFigure:
    fmt: Format
    seconds: float
    lines_per_s: float
    line_mib_per_s: float
    body_mib_per_s: float
    cpu_share: float          # of one core, over the window
    failures: dict[str, int]

    def line(self) -> str:
        return (f"{self.fmt:<9} {self.lines_per_s:>12,.0f} lines/s  {self.line_mib_per_s:>7.1f} MiB/s of lines  "
                f"{self.body_mib_per_s:>7.1f} MiB/s on the wire  CPU {self.cpu_share:.0%} of a core"
                + (f"  failures {self.failures}" if self.failures else ""))


def figure(fmt: Format, result: dict[str, Any]) -> BenchFigure:
    """The measured window of one driver result as per-second figures."""
    window = result["windows"][0]
    start, end = window["start"], window["end"]
    seconds = end["wall"] - start["wall"]
    c0, c1 = start["client"], end["client"]
    failures = {k: v - c0["failures"].get(k, 0) for k, v in c1["failures"].items() if v - c0["failures"].get(k, 0)}
    return BenchFigure(fmt, seconds, (c1["lines"] - c0["lines"]) / seconds,
                       (c1["line_bytes"] - c0["line_bytes"]) / seconds / MIB,
                       (c1["body_bytes"] - c0["body_bytes"]) / seconds / MIB,
                       (end["cpu_s"] - start["cpu_s"]) / seconds, failures)


def run_format(fmt: Format, port: int, seconds: float, users: int, payload: PayloadOptions,
               workdir: Path) -> BenchFigure:
    """One driver process pushing ``fmt`` only to the sink for ``seconds`` after a 1 s ramp."""
    options = PayloadOptions(**{**payload.__dict__, "protobuf_ratio": 1.0 if fmt == "protobuf" else 0.0})
    plan = shapes.validate([shapes.Phase("bench", users * UNPACED_RPS, seconds + 1.0, 1.0)], None)
    driver_plan = DriverPlan(host=f"http://127.0.0.1:{port}", plan=plan, payload=options, run_tag=f"bench-{fmt}",
                             user_rps=UNPACED_RPS)
    plan_file, result_file = workdir / f"{fmt}.plan.json", workdir / f"{fmt}.result.json"
    driver_plan.dump(plan_file)
    proc = subprocess.run([sys.executable, "-m", "obsgate.load.driver", str(plan_file), str(result_file)],
                          capture_output=True, text=True, timeout=seconds + 120)
    if proc.returncode != 0 or not result_file.exists():
        raise RuntimeError(f"the {fmt} generator failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return figure(fmt, json.loads(result_file.read_text()))


def bench(seconds: float, users: int, payload: PayloadOptions, formats: tuple[Format, ...] = FORMATS) -> list[BenchFigure]:
    """Start the sink, measure each format, stop the sink (closing its stdin ends it)."""
    sink = subprocess.Popen([sys.executable, "-m", "obsgate.load.sink"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="obsgate-bench-") as tmp:
            return [run_format(fmt, port, seconds, users, payload, Path(tmp)) for fmt in formats]
    finally:
        if sink.stdin is not None:
            sink.stdin.close()
        sink.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m obsgate.load.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per format")
    parser.add_argument("--users", type=int, default=8, help="concurrent push users")
    parser.add_argument("--lines-per-request", type=int, default=1000)
    parser.add_argument("--streams-per-request", type=int, default=10)
    parser.add_argument("--format", choices=(*FORMATS, "both"), default="both")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.users < 1:
        parser.error("--seconds must be > 0 and --users >= 1")
    payload = PayloadOptions(lines_per_request=args.lines_per_request, streams_per_request=args.streams_per_request)
    try:
        payload.validate()
    except ValueError as exc:
        parser.error(str(exc))
    formats = FORMATS if args.format == "both" else (args.format,)
    figures = bench(args.seconds, args.users, payload, formats)
    if args.json:
        print(json.dumps([f.__dict__ for f in figures], indent=1))
    else:
        print(f"one generator process, {args.users} users, {args.lines_per_request} lines/push, "
              f"mean line {payload.sizes.mean} B, null sink on 127.0.0.1:")
        for f in figures:
            print("  " + f.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
