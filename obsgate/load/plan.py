"""What a programmatic load run is told (``DriverPlan``, a JSON file) and small shared arithmetic.

Written by ``session`` in the pytest process, read by ``driver`` in the load process; no
secrets inside (they travel in the environment).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsgate.checks.logs import percentile
from obsgate.load import shapes
from obsgate.load.payloads import Cardinality, LineSizes, PayloadOptions

__all__ = ["STOP_GRACE_S", "DriverPlan", "percentile"]

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
                   report_dir=Path(data["report_dir"]) if data["report_dir"] else None, stop_when=data["stop_when"])
