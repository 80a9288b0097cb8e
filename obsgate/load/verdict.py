"""What a gate load run measured, window by window, and which limit tripped when it fell short.

Built from the driver's result (``driver.run``): client-side figures from the users' tally and
their recorded latencies, server-side ones from Loki's counters read at the same moments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from obsgate.core.errors import NotEvaluated
from obsgate.core.machine import CpuTimes
from obsgate.core.recorder import GateRecorder
from obsgate.core.results import Judgement
from obsgate.load.counters import LokiCounters
from obsgate.load.plan import percentile
from obsgate.load.shapes import WARM_UP

MIB = 1 << 20


@dataclass(frozen=True)
class Window:
    """One measured phase window: what the client saw, what Loki counted, what the generator spent."""

    phase: str
    seconds: float
    pushes_ok: int
    lines_ok: int
    line_bytes_ok: int
    failures: dict[str, int]
    server: LokiCounters | None
    server_error: str | None
    cpu_share: float                         # of one core
    push_latencies: tuple[float, ...]        # seconds, every push answered inside the window
    query_latencies: tuple[float, ...]
    queries_failed: int
    broke: str | None = None                 # saturation: why the run stopped after this window
    machine_busy_cores: float | None = None  # all the machine's work (/proc/stat); None where it cannot speak for Docker
    machine_cpus: int = 1
    in_flight_at_start: int = 0              # lines of pushes sent before the window opened, answered after
    in_flight_at_end: int = 0                # lines of pushes sent before the window closed, answered after
    generator_cores: float | None = None     # all generator processes together (master and workers); None: cpu_share
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)   # per Locust worker: its lines, pushes, CPU share

    @property
    def generator_cpu_cores(self) -> float:
        """CPU of the whole generator, in cores: every process of it (the bound rule is per process: cpu_share)."""
        return self.cpu_share if self.generator_cores is None else self.generator_cores

    @property
    def pushes_failed(self) -> int:
        return sum(self.failures.values())

    @property
    def error_rate(self) -> float:
        total = self.pushes_ok + self.pushes_failed
        return self.pushes_failed / total if total else 0.0

    @property
    def client_lines_per_s(self) -> float:
        return self.lines_ok / self.seconds

    @property
    def delivered_lines_per_s(self) -> float:
        """Lines the generator got answered, accepted or refused (a refused push counted at the window's
        lines per push): what it actually offered, whatever its plan said."""
        per_push = self.lines_ok / max(1, self.pushes_ok)
        return (self.pushes_ok + self.pushes_failed) * per_push / self.seconds

    @property
    def client_mib_per_s(self) -> float:
        return self.line_bytes_ok / self.seconds / MIB

    @property
    def server_lines_per_s(self) -> float:
        if self.server is None:
            raise NotEvaluated(f"Loki's counters could not be read: {self.server_error}")
        return self.server.accepted_lines / self.seconds

    @property
    def server_mib_per_s(self) -> float:
        assert self.server is not None
        return self.server.accepted_bytes / self.seconds / MIB

    def push_p(self, q: float) -> float:
        if not self.push_latencies:
            raise AssertionError(f"no push was answered during the {self.phase} window ({self.seconds:.0f}s)")
        return percentile(self.push_latencies, q)

    def query_p(self, q: float) -> float:
        if not self.query_latencies:
            raise AssertionError(f"no LogQL query was answered during the {self.phase} window")
        return percentile(self.query_latencies, q)

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "phase": self.phase, "seconds": round(self.seconds, 3), "pushes_ok": self.pushes_ok,
            "pushes_failed": self.pushes_failed, "failures": self.failures, "lines_acknowledged": self.lines_ok,
            "client_lines_per_s": round(self.client_lines_per_s, 1),
            "delivered_lines_per_s": round(self.delivered_lines_per_s, 1),
            "client_MiB_per_s": round(self.client_mib_per_s, 3), "generator_cpu_share": round(self.cpu_share, 3),
            "push_latency_s": _spread(self.push_latencies), "query_latency_s": _spread(self.query_latencies),
            "queries_failed": self.queries_failed,
            "lines_in_flight_at_edges": [self.in_flight_at_start, self.in_flight_at_end],
            "machine_busy_cores": None if self.machine_busy_cores is None else round(self.machine_busy_cores, 3)}
        if self.workers:
            out["generator_cores"] = round(self.generator_cpu_cores, 3)
            out["workers"] = self.workers
        if self.server is not None:
            out["loki"] = {"lines_received": self.server.lines_received, "discarded": dict(self.server.discarded_lines),
                           "accepted_lines_per_s": round(self.server_lines_per_s, 1),
                           "accepted_MiB_per_s": round(self.server_mib_per_s, 3),
                           "push_seconds_at_most": {f"p{q}": self.server.push_quantile(q) for q in (50, 95, 99)}}
        else:
            out["loki"] = {"error": self.server_error}
        if self.broke:
            out["broke"] = self.broke
        return out


def _spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"n": len(values), "p50": round(percentile(values, 50), 4), "p95": round(percentile(values, 95), 4),
            "p99": round(percentile(values, 99), 4), "max": round(max(values), 4)}


def _delta(end: Mapping[str, int], start: Mapping[str, int]) -> dict[str, int]:
    return {k: v - start.get(k, 0) for k, v in end.items() if v - start.get(k, 0)}


def windows(result: Mapping[str, Any]) -> list[Window]:
    """Every measured window of a driver result, in phase order."""
    out = []
    for w in result["windows"]:
        start, end = w["start"], w["end"]
        t0, t1 = start.get("server_wall", start["wall"]), end.get("server_wall", end["wall"])
        c0, c1 = start["client"], end["client"]
        server, error = None, None
        if isinstance(start["server"], dict) and isinstance(end["server"], dict) \
                and "error" not in start["server"] and "error" not in end["server"]:
            server = LokiCounters.from_dict(end["server"]) - LokiCounters.from_dict(start["server"])
        else:
            error = next((s["error"] for s in (start["server"], end["server"]) if isinstance(s, dict) and "error" in s),
                         "no Loki metrics URL")
        pushes = [(t, s, ok) for t, s, ok, _ in result["push_latencies"] if t0 <= t <= t1]
        in_flight = [(t - s, t, lines) for t, s, _, lines in result["push_latencies"]]
        queries = [(t, s, ok) for t, s, ok, _ in result["query_latencies"] if t0 <= t <= t1]
        own_cpu = (end["cpu_s"] - start["cpu_s"]) / (t1 - t0)
        per_worker = _workers(start.get("workers"), end.get("workers"), t1 - t0)
        shares = [v["generator_cpu_share"] for v in per_worker.values()]
        pushes_ok, lines_ok = c1["pushes"] - c0["pushes"], c1["lines"] - c0["lines"]
        if "server_wall" in start and "server_wall" in end:
            # A master's window: its workers answered at their own moments, so the acknowledged pushes are counted
            # from their records between the two readings of Loki's counters.
            acked = [n for t, _, ok, n in result["push_latencies"] if ok and t0 < t <= t1]
            pushes_ok, lines_ok = len(acked), sum(acked)
        out.append(Window(
            phase=w["phase"], seconds=t1 - t0, pushes_ok=pushes_ok, lines_ok=lines_ok,
            line_bytes_ok=c1["line_bytes"] - c0["line_bytes"], failures=_delta(c1["failures"], c0["failures"]),
            server=server, server_error=error, cpu_share=max(shares) if shares else own_cpu,
            generator_cores=own_cpu + sum(shares) if per_worker else None, workers=per_worker,
            push_latencies=tuple(s for _, s, ok in pushes if ok), query_latencies=tuple(s for _, s, ok in queries if ok),
            queries_failed=sum(not ok for _, _, ok in queries), broke=w.get("broke"),
            machine_busy_cores=_busy_cores(start.get("machine"), end.get("machine")),
            machine_cpus=(start.get("machine") or {}).get("cpus", 1),
            in_flight_at_start=sum(n for sent, done, n in in_flight if sent < t0 < done),
            in_flight_at_end=sum(n for sent, done, n in in_flight if sent < t1 < done)))
    return out


def _workers(start: Mapping[str, Any] | None, end: Mapping[str, Any] | None, seconds: float) -> dict[str, dict[str, Any]]:
    """Each Locust worker's share of a window: lines and pushes acknowledged, failed pushes, its CPU share of a core
    (a worker missing at either edge is left out: the window's missing_workers name it)."""
    if not start or not end:
        return {}
    out = {}
    for worker in sorted(set(start) & set(end)):
        c0, c1 = start[worker]["client"], end[worker]["client"]
        out[worker] = {"tag": end[worker]["tag"], "lines_acknowledged": c1["lines"] - c0["lines"],
                       "pushes_ok": c1["pushes"] - c0["pushes"],
                       "pushes_failed": sum(_delta(c1["failures"], c0["failures"]).values()),
                       "generator_cpu_share": round((end[worker]["cpu_s"] - start[worker]["cpu_s"]) / seconds, 4)}
    return out


def _busy_cores(start: Mapping[str, int] | None, end: Mapping[str, int] | None) -> float | None:
    if not start or not end:
        return None
    return CpuTimes(**start).busy_cores_until(CpuTimes(**end))


def window(result: Mapping[str, Any], phase: str) -> Window:
    """The window of ``phase``; a run that never got there (aborted, cut) fails with its reason."""
    for w in windows(result):
        if w.phase == phase:
            return w
    why = f"the run stopped: {result['aborted']}" if result.get("aborted") else "the run ended before it"
    raise AssertionError(f"no {phase} window was measured: {why}")


def tripped(w: Window, p99_budget_s: float | None = None) -> str:
    """The limits that pushed back during the window, biggest first: Loki's discard reasons, then what
    the client was answered (nginx 429/413/502, Loki 429...), then latency over its budget."""
    parts = []
    if w.server is not None and w.server.discarded_lines:
        parts += [f"Loki discarded {n:,.0f} lines as {reason}" for reason, n in
                  sorted(w.server.discarded_lines.items(), key=lambda kv: -kv[1])]
    parts += [f"{n} x {name}" for name, n in Counter(w.failures).most_common()]
    if p99_budget_s is not None and w.push_latencies and w.push_p(99) > p99_budget_s:
        parts.append(f"push latency p99 {w.push_p(99):.3f}s over its {p99_budget_s:g}s budget")
    return "; ".join(parts) if parts else "no limit pushed back"


@dataclass(frozen=True)
class Busy:
    """Who kept the machine's CPUs busy over a window: the stack, the generator, and everything else."""

    machine_cores: float
    cpus: int
    stack_cores: float
    generator_cores: float

    @property
    def foreign_share(self) -> float:
        """Work beside the stack's containers and the load generator (other jobs, the engine, the gate's own
        bookkeeping), as a share of the machine's CPUs."""
        return max(0.0, self.machine_cores - self.stack_cores - self.generator_cores) / self.cpus

    def excuse(self, max_foreign_share: float) -> str | None:
        """Why a latency miss is the machine's doing, or None: then it is the stack's."""
        if self.foreign_share < max_foreign_share:
            return None
        return (f"the machine was busy with other work: {self.foreign_share:.0%} of its {self.cpus} CPUs beside the "
                f"stack's {self.stack_cores:.2f} and the generator's {self.generator_cores:.2f} cores (limit "
                f"{max_foreign_share:.0%})")

    def evidence(self) -> dict[str, Any]:
        return {"machine_cores": round(self.machine_cores, 3), "cpus": self.cpus, "stack_cores": round(self.stack_cores, 3),
                "generator_cores": round(self.generator_cores, 3), "foreign_share": round(self.foreign_share, 3)}


def busy(w: Window, stack_cores: float | None) -> Busy | None:
    """The window's ``Busy``; None without the machine's figure (remote engine) or the stack's (no stats)."""
    if w.machine_busy_cores is None or stack_cores is None:
        return None
    return Busy(w.machine_busy_cores, w.machine_cpus, stack_cores, w.generator_cpu_cores)


def machine_excuse(w: Window, load: Busy | None, max_foreign_share: float) -> str | None:
    """Why a miss of window ``w`` is the machine's doing, or None: foreign work kept at least
    ``max_foreign_share`` of its CPUs busy, and the stack neither refused nor dropped a line (a refusal or a
    discard is the stack's own limit speaking, whatever else ran)."""
    if load is None or w.failures or (w.server is not None and w.server.discarded_lines):
        return None
    return load.excuse(max_foreign_share)


def not_taken(w: Window) -> float:
    """The share of what the generator delivered that Loki did not accept (refused, discarded or lost):
    0 when Loki took everything it was offered. Lines answered in the window whose pushes were already in
    flight when it opened may have been counted by Loki before it: they are not charged as lost."""
    delivered = w.delivered_lines_per_s * w.seconds
    missing = delivered - w.server_lines_per_s * w.seconds - w.in_flight_at_start
    return max(0.0, missing) / delivered if delivered else 0.0


def lines_missing(acknowledged: int, stored: int, per_process: Mapping[str, Mapping[str, int | None]] | None) -> int:
    """Lines not counted as acknowledged: the total's difference, or, where larger, the sum of each generator
    process's (a process whose lines Loki cannot attribute counts all its lines as missing)."""
    total = abs(stored - acknowledged)
    if not per_process:
        return total
    each = sum(abs((p["stored"] or 0) - (p["acknowledged"] or 0)) for p in per_process.values())
    return max(total, each)


def count_mismatch(w: Window) -> float:
    """How far the client's acknowledged lines and Loki's accepted ones differ over the window, relative,
    beyond what pushes in flight at its edges explain: Loki counts a line when its push arrives, the client
    when its answer does, so up to the lines in flight at the start can be Loki's before the window, and up to
    those in flight at the end the client's after it."""
    assert w.server is not None
    d = w.lines_ok - w.server.accepted_lines
    return max(0.0, d - w.in_flight_at_start, -d - w.in_flight_at_end) / max(1, w.lines_ok)


def require_conclusive(w: Window, max_cpu_share: float) -> None:
    """NotEvaluated when the generator itself was the bottleneck: then the figures say nothing about Loki."""
    if w.cpu_share <= max_cpu_share:
        return
    bound = [f"{name} ({v['generator_cpu_share']:.0%})" for name, v in w.workers.items()
             if v["generator_cpu_share"] > max_cpu_share]
    who = f"the load generator's worker {', '.join(bound)} of {len(w.workers)}" if w.workers else "the load generator"
    raise NotEvaluated(f"inconclusive — generator bound: {who} used {w.cpu_share:.0%} of a core during the {w.phase} "
                       f"window (limit {max_cpu_share:.0%} per process; gate.yml load.processes adds processes)")


def mismatch_reason(w: Window) -> str:
    """Why client- and server-side counts of a window can differ, from what the window shows."""
    assert w.server is not None
    reasons = []
    if w.server.discarded_lines:
        reasons.append(f"Loki received lines it then discarded ({dict(w.server.discarded_lines)})")
    if w.failures:
        reasons.append(f"failed pushes Loki may have partly stored ({w.failures})")
    if w.server.accepted_lines > w.lines_ok:
        reasons.append("Loki counted lines whose 204 the client did not see in the window (pushes in flight at its "
                       "edges, or pushes from someone else)")
    else:
        reasons.append("the client counted 204s for lines Loki's distributor did not count in the window")
    return "; ".join(reasons)


def measure_all(gate: GateRecorder, figures: Sequence[tuple[str, float, str]], context: str = "",
                excuse: str | None = None) -> None:
    """Record every figure (target key, value, name) before failing on any: a report shows them all;
    ``context`` follows the misses. With an ``excuse`` (see ``machine_excuse``) any miss, soft or hard, is
    inconclusive (not evaluated) instead, the figures recorded all the same."""
    misses, soft = [], []
    for key, value, name in figures:
        try:
            if gate.measure(key, value, name=name) is Judgement.SOFT:
                soft.append(f"{name}: {gate.policy.target(key).explain(value)}")
        except AssertionError as exc:
            misses.append(str(exc))
    tail = f"; {context}" if context else ""
    if excuse and (misses or soft):
        raise NotEvaluated(f"inconclusive — {excuse}: " + "; ".join(misses + soft) + tail)
    if misses:
        raise AssertionError("; ".join(misses) + tail)


def series(result: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Per-second figures over the whole run, for charts: lines acknowledged, failed pushes, push p50/p99, query."""
    started = result["started"]
    seconds = max(1, int(result["ended"] - started) + 1)
    lines, failed = [0] * seconds, [0] * seconds
    latencies: list[list[float]] = [[] for _ in range(seconds)]
    queries: list[list[float]] = [[] for _ in range(seconds)]
    for t, s, ok, n in result["push_latencies"]:
        i = min(seconds - 1, max(0, int(t - started)))
        if ok:
            lines[i] += n
            latencies[i].append(s)
        else:
            failed[i] += 1
    for t, s, ok, _ in result["query_latencies"]:
        if ok:
            queries[min(seconds - 1, max(0, int(t - started)))].append(s)

    def p(values: list[float], q: float) -> float | None:
        return round(percentile(values, q), 4) if values else None

    return {"t_s": list(range(seconds)), "lines_per_s": lines, "failed_pushes": failed,
            "push_p50_s": [p(v, 50) for v in latencies], "push_p99_s": [p(v, 99) for v in latencies],
            "query_s": [p(v, 50) for v in queries]}


def conclusive(result: Mapping[str, Any], phase: str, max_cpu_share: float) -> Window:
    """The ``phase`` window, provided it says something about the stack: the run was not stopped on bad
    input (that fails) and the generator was not its bottleneck (that is not evaluated)."""
    if result.get("aborted"):
        raise AssertionError(f"the load run stopped on its first pushes: {result['aborted']}")
    w = window(result, phase)
    require_conclusive(w, max_cpu_share)
    return w


@dataclass(frozen=True)
class Knee:
    """Where a step-up saturated: the last step inside the budgets, and the one that broke them."""

    sustained: Window | None
    broke: Window | None
    steps: tuple[Window, ...]

    def evidence(self) -> dict[str, Any]:
        def short(w: Window | None) -> dict[str, Any] | None:
            if w is None:
                return None
            return {"phase": w.phase, "offered_lines_per_s": round(w.delivered_lines_per_s, 1),
                    "accepted_lines_per_s": round(w.server_lines_per_s, 1) if w.server else None,
                    "accepted_MiB_per_s": round(w.server_mib_per_s, 3) if w.server else None,
                    "error_rate": round(w.error_rate, 4),
                    "push_p99_s": round(w.push_p(99), 4) if w.push_latencies else None,
                    "generator_cpu_share": round(w.cpu_share, 3),
                    **({"worker_cpu_shares": [v["generator_cpu_share"] for v in w.workers.values()]} if w.workers else {})}
        return {"sustained": short(self.sustained), "broke": short(self.broke),
                "tripped_first": (self.broke.broke if self.broke else None),
                "limits": tripped(self.broke) if self.broke else None,
                "steps": [short(w) for w in self.steps]}


def knee(result: Mapping[str, Any], max_cpu_share: float) -> Knee:
    """The knee of a saturation run; inconclusive if the generator was bound before Loki broke."""
    if result.get("aborted"):
        raise AssertionError(f"the saturation run stopped on its first pushes: {result['aborted']}")
    steps = tuple(w for w in windows(result) if w.phase != WARM_UP)
    if not steps:
        raise AssertionError("the saturation run measured no step")
    broke = next((w for w in steps if w.broke), None)
    for w in steps if broke is None else steps[:steps.index(broke) + 1]:
        require_conclusive(w, max_cpu_share)
    sustained = [w for w in steps if not w.broke]
    return Knee(sustained[-1] if sustained else None, broke, steps)
