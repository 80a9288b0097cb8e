"""What a programmatic load run is told (``DriverPlan``, a JSON file) and small shared arithmetic.

Written by ``session`` in the pytest process, read by ``driver`` in the load process; no
secrets inside (they travel in the environment).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgate.checks.logs import percentile
from obsgate.load import shapes
from obsgate.load.payloads import Cardinality, LineSizes, PayloadOptions

__all__ = ["STOP_GRACE_S", "DriverPlan", "merge_counts", "per_worker", "percentile"]

STOP_GRACE_S = 30.0       # beyond the hard cap: in-flight pushes finish, then the run is cut regardless


@dataclass(frozen=True)
class DriverPlan:
    host: str
    plan: shapes.Plan
    payload: PayloadOptions
    run_tag: str
    ca_file: Path | None = None
    user_rps: float = 1.0
    query_interval_s: float = 0.0
    loki_metrics_url: str | None = None
    report_dir: Path | None = None
    stop_when: Mapping[str, float] | None = None     # {"error_rate": .., "p99_s": ..}: saturation's knee
    processes: int = 1              # local generator processes; more than 1 (or expect_workers): a Locust master
    expect_workers: int = 0         # remote workers to wait for, beside the local ones
    workers_deadline_s: float = 60.0

    @property
    def distributed(self) -> bool:
        """Whether the load runs on Locust workers (a master here) instead of in the driver process itself."""
        return self.processes > 1 or self.expect_workers > 0

    def arguments(self) -> list[str]:
        """The load options as Locust command-line arguments (parsed by Locust's own parser)."""
        p = self.payload
        args = {"--run-tag": self.run_tag, "--lines-per-request": p.lines_per_request,
                "--streams-per-request": p.streams_per_request, "--protobuf-ratio": p.protobuf_ratio,
                "--stores": p.cardinality.stores, "--terminals": p.cardinality.terminals,
                "--levels": p.cardinality.levels, "--line-bytes-min": p.sizes.low,
                "--line-bytes-mean": p.sizes.mean, "--line-bytes-max": p.sizes.high,
                "--stack-trace-ratio": p.stack_trace_ratio, "--variants": p.variants,
                "--user-rps": self.user_rps, "--query-interval-s": self.query_interval_s}
        if self.ca_file is not None:
            args["--ca-file"] = str(self.ca_file)
        return [str(x) for pair in args.items() for x in pair]

    def dump(self, path: Path) -> None:
        data = dataclasses.asdict(self)
        data["ca_file"] = str(self.ca_file) if self.ca_file else None
        data["report_dir"] = str(self.report_dir) if self.report_dir else None
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> DriverPlan:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        plan = shapes.validate([shapes.Phase(**p) for p in data["plan"]["phases"]], data["plan"]["hard_cap_s"])
        payload = data["payload"]
        options = PayloadOptions(**{**payload, "cardinality": Cardinality(**payload["cardinality"]),
                                    "sizes": LineSizes(**payload["sizes"])})
        return cls(host=data["host"], plan=plan, payload=options, run_tag=data["run_tag"],
                   ca_file=Path(data["ca_file"]) if data["ca_file"] else None, user_rps=data["user_rps"],
                   query_interval_s=data["query_interval_s"], loki_metrics_url=data["loki_metrics_url"],
                   report_dir=Path(data["report_dir"]) if data["report_dir"] else None, stop_when=data["stop_when"],
                   processes=data.get("processes", 1), expect_workers=data.get("expect_workers", 0),
                   workers_deadline_s=data.get("workers_deadline_s", 60.0))


def merge_counts(counts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several processes' tally counts (``Tally.counts``) as one: numbers added, per-reason mappings added by key."""
    total: dict[str, Any] = {}
    for one in counts:
        for key, value in one.items():
            if isinstance(value, Mapping):
                into = total.setdefault(key, {})
                for name, n in value.items():
                    into[name] = into.get(name, 0) + n
            else:
                total[key] = total.get(key, 0) + value
    return total


def per_worker(answers: Mapping[str, Mapping[str, Any]], expected: set[str]) -> dict[str, Any]:
    """Locust workers' answers to one snapshot request (``obsgate.load.workers``) as a snapshot's client part:
    summed counts, each worker's tag, counts and CPU time, and who did not answer."""
    return {"client": merge_counts([a["client"] for a in answers.values()]),
            "workers": {w: {"tag": a["tag"], "client": a["client"], "cpu_s": a["cpu_s"]} for w, a in answers.items()},
            "missing_workers": sorted(expected - set(answers))}
